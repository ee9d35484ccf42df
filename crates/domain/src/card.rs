//! Card numbers: the API never takes one (SPEC: a request carrying a card number is refused and
//! nothing of it is stored or logged; cards are registered through the payment gateway's token).
//!
//! A card number here is what a payment card's primary account number looks like: 13 to 19
//! digits passing the Luhn check, the first of them not 0 (no card network issues numbers there;
//! zero-padded counters and ids are not card numbers), written in one piece or in groups separated by one space or
//! one dash (`4242 4242 4242 4242`, `4242-4242-4242-4242`), standing on its own: not part of a
//! longer unbroken number, not glued to letters (the hexadecimal part of an id such as
//! `proj_0193a4f0...` is one word, whatever digits it shows), and not the whole or fractional
//! part of a decimal (`9223372036854.775807`). Within a longer grouped run
//! (`4242 4242 4242 4242 12`), every sequence of whole groups is checked, so a card number with
//! something written after it is still found.

/// The fewest and most digits of a card number.
pub const DIGITS: std::ops::RangeInclusive<usize> = 13..=19;

/// Whether `text` holds a card number anywhere.
pub fn contains_card_number(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        // A run: groups of digits, each separated from the next by one space or dash.
        let glued_before = i > 0 && glued(bytes, i - 1, i.checked_sub(2));
        let mut groups: Vec<&[u8]> = Vec::new();
        loop {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            groups.push(&bytes[start..i]);
            let separated = i + 1 < bytes.len()
                && matches!(bytes[i], b' ' | b'-')
                && bytes[i + 1].is_ascii_digit();
            if !separated {
                break;
            }
            i += 1;
        }
        let glued_after = i < bytes.len() && glued(bytes, i, Some(i + 1));
        // A first group glued to a word or a decimal point is not part of a card number, nor is
        // such a last group; the groups between still are.
        let from = usize::from(glued_before);
        let to = groups.len() - usize::from(glued_after);
        if from < to && run_holds_card_number(&groups[from..to]) {
            return true;
        }
    }
    false
}

/// Whether the byte at `at`, next to a run of digits, glues the run to something: a letter, or
/// a decimal point with a digit on its other side (`beyond`).
fn glued(bytes: &[u8], at: usize, beyond: Option<usize>) -> bool {
    let byte = bytes[at];
    byte.is_ascii_alphabetic()
        || (byte == b'.'
            && beyond
                .and_then(|b| bytes.get(b))
                .is_some_and(u8::is_ascii_digit))
}

/// Whether some sequence of whole, consecutive groups is a Luhn-valid number of card length.
fn run_holds_card_number(groups: &[&[u8]]) -> bool {
    let mut digits = Vec::with_capacity(*DIGITS.end());
    for first in 0..groups.len() {
        digits.clear();
        for group in &groups[first..] {
            digits.extend_from_slice(group);
            if digits.len() > *DIGITS.end() {
                break;
            }
            if digits[0] != b'0' && DIGITS.contains(&digits.len()) && luhn_valid(&digits) {
                return true;
            }
        }
    }
    false
}

/// The Luhn check over ASCII digits: from the right, every second digit doubled (minus 9 when
/// over 9), the sum a multiple of 10.
pub fn luhn_valid(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(position, digit)| {
            let d = u32::from(digit - b'0');
            if !position.is_multiple_of(2) {
                let doubled = d * 2;
                if doubled > 9 {
                    doubled - 9
                } else {
                    doubled
                }
            } else {
                d
            }
        })
        .sum();
    !digits.is_empty() && sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_test_card_numbers_are_found_in_every_spelling() {
        for text in [
            "4242424242424242",
            "4242 4242 4242 4242",
            "4242-4242-4242-4242",
            "name 4242 4242 4242 4242 tail",
            "card:4242424242424242;",
            "pan_4242424242424242",
            "4000056655665556",
            "378282246310005",               // 15 digits (Amex test number)
            "6011 1111 1111 1117",           // Discover test number
            "4242 4242 4242 4242 12",        // a card number with more digits written after it
            "id-4222222222222",              // 13 digits (Visa test number)
            "\"quantity\":4242424242424242", // as a JSON number
        ] {
            assert!(contains_card_number(text), "{text}");
        }
    }

    #[test]
    fn other_numbers_are_not_card_numbers() {
        for text in [
            "",
            "4242424242424241",                     // Luhn fails
            "424242424242",                         // 12 digits
            "42424242424242424242424",              // 23 unbroken digits: not a card number
            "4242  4242  4242  4242",               // two spaces: separate numbers
            "4242.4242.4242.4242",                  // dots separate
            "2026-11-24T10:00:00+09:00",            // a date: 8 digits, then a time
            "0193a4f0-6c1e-7c52-9a43-3f6a3a1b2c4d", // a UUID
            "+82-10-1234-5678",                     // a phone number: 12 digits
        ] {
            assert!(!contains_card_number(text), "{text}");
        }
    }

    #[test]
    fn luhn_matches_the_published_examples() {
        assert!(luhn_valid(b"79927398713"));
        assert!(!luhn_valid(b"79927398710"));
        assert!(!luhn_valid(b""));
    }

    /// The digit that makes `body` Luhn-valid.
    fn check_digit(body: &[u8]) -> u8 {
        (0..=9u8)
            .map(|d| d + b'0')
            .find(|d| {
                let mut number = body.to_vec();
                number.push(*d);
                luhn_valid(&number)
            })
            .unwrap_or(b'0')
    }

    proptest! {
        /// Every Luhn-valid number of card length is found, bare, grouped by fours with spaces
        /// or dashes, and among other words.
        #[test]
        fn every_card_number_is_found(
            first in 1u8..10,
            rest in proptest::collection::vec(0u8..10, 11..=17),
            separator in prop_oneof![Just(""), Just(" "), Just("-")],
            prefix in "([a-z]{1,4}[ :\"])?",
            suffix in "([ :\"][a-z]{1,4})?",
        ) {
            let mut digits: Vec<u8> = std::iter::once(first).chain(rest).map(|d| d + b'0').collect();
            digits.push(check_digit(&digits));
            let number = String::from_utf8(digits).unwrap_or_default();
            let grouped = number
                .as_bytes()
                .chunks(4)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect::<Vec<_>>()
                .join(separator);
            let text = format!("{prefix}{grouped}{suffix}");
            prop_assert!(contains_card_number(&text), "{}", text);
        }

        /// A number with one digit changed fails Luhn, so a run of it alone is not refused.
        #[test]
        fn a_single_changed_digit_is_not_a_card_number(
            body in proptest::collection::vec(0u8..10, 12..=18),
            at in any::<proptest::sample::Index>(),
            delta in 1u8..10,
        ) {
            let mut digits: Vec<u8> = body.iter().map(|d| d + b'0').collect();
            digits.push(check_digit(&digits));
            let at = at.index(digits.len());
            digits[at] = (digits[at] - b'0' + delta) % 10 + b'0';
            // Luhn catches every single-digit error.
            prop_assert!(!contains_card_number(&String::from_utf8(digits).unwrap_or_default()));
        }
    }
}
