//! Credit codes and credits (SPEC 6): codes that operators issue and customers register, each
//! registration a credit of the account that invoices consume until it runs out or expires.
//!
//! A code is 20 symbols of an alphabet without look-alike characters (no `0`, `1`, `I` or `O`),
//! 100 random bits, written in five groups of four (`K7QX-M2PD-9HTV-A4WE-3NRC`) and read back
//! whatever its case, spacing or dashes. A credit expires at an instant: the end of the code's
//! expiry date in the account's offset, or a number of days after it was registered. What a
//! credit has left is what it was charged less what invoices used and what expired: a ledger
//! whose `used` never exceeds `charged`.

use std::fmt;

use time::{Date, Duration, OffsetDateTime};

use crate::error::DomainError;
use crate::money::{Currency, Money};
use crate::names::AccountId;
use crate::period::{BillingOffset, BillingPeriod};

/// The symbols of a code: digits and capitals without `0`, `1`, `I` and `O`, 32 of them, so each
/// carries 5 bits.
pub const ALPHABET: &[u8; 32] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";

/// Symbols per code: 20 x 5 = 100 bits.
pub const SYMBOLS: usize = 20;

/// Random bytes a code is made from (100 bits of them are used).
pub const RANDOM_BYTES: usize = 13;

/// A credit code, kept and compared in its plain form (20 symbols, no dashes).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct CreditCode(String);

impl CreditCode {
    /// The code made from `random` (from a cryptographic source: the domain does no I/O).
    pub fn from_random(random: [u8; RANDOM_BYTES]) -> Self {
        let mut bits: u128 = 0;
        for byte in random {
            bits = (bits << 8) | u128::from(byte);
        }
        let mut symbols = String::with_capacity(SYMBOLS);
        for i in 0..SYMBOLS {
            let shift = 5 * (SYMBOLS - 1 - i);
            let index = usize::try_from((bits >> shift) & 0x1f).unwrap_or(0);
            symbols.push(char::from(ALPHABET[index]));
        }
        CreditCode(symbols)
    }

    /// Reads a code as a person typed it: any case, with or without spaces and dashes.
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let plain: String = text
            .chars()
            .filter(|c| !matches!(c, ' ' | '-'))
            .map(|c| c.to_ascii_uppercase())
            .collect();
        if plain.len() == SYMBOLS && plain.bytes().all(|b| ALPHABET.contains(&b)) {
            Ok(CreditCode(plain))
        } else {
            Err(DomainError::InvalidCreditCode)
        }
    }

    /// The plain form: what is stored and looked up.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Grouped for reading aloud: five groups of four, joined by dashes.
impl fmt::Display for CreditCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let groups: Vec<&str> = (0..SYMBOLS)
            .step_by(4)
            .filter_map(|at| self.0.get(at..at + 4))
            .collect();
        f.write_str(&groups.join("-"))
    }
}

/// How long a registered credit lasts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Validity {
    /// Through this date, in the account's offset: it expires when the next day starts.
    Until(Date),
    /// This many days after it was registered (1 to 3,650).
    Days(u16),
}

impl Validity {
    pub fn days(days: u16) -> Result<Self, DomainError> {
        if (1..=3650).contains(&days) {
            Ok(Validity::Days(days))
        } else {
            Err(DomainError::InvalidValidity)
        }
    }

    /// When a credit registered at `registered_at` by an account in `offset` expires.
    pub fn expires_at(
        &self,
        registered_at: OffsetDateTime,
        offset: BillingOffset,
    ) -> OffsetDateTime {
        match self {
            Validity::Until(date) => offset.midnight(date.next_day().unwrap_or(*date)),
            Validity::Days(days) => registered_at + Duration::days(i64::from(*days)),
        }
    }
}

/// Why a code cannot be registered: each its own problem for the customer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    Unknown,
    Revoked,
    Expired,
    AlreadyRegistered,
    UsedUp,
    CurrencyMismatch,
}

/// What registering needs to know of a code, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeState {
    pub revoked: bool,
    pub amount: Money,
    pub validity: Validity,
    /// How many accounts may register it.
    pub max_registrations: u32,
    /// How many have.
    pub registrations: u32,
    /// Whether this account has.
    pub registered_here: bool,
}

/// Whether an account billing in `currency`, in `offset`, may register the code now; if so,
/// when the credit it gets expires.
pub fn check_registration(
    code: &CodeState,
    currency: Currency,
    offset: BillingOffset,
    now: OffsetDateTime,
) -> Result<OffsetDateTime, Refusal> {
    if code.revoked {
        return Err(Refusal::Revoked);
    }
    let expires_at = code.validity.expires_at(now, offset);
    if expires_at <= now {
        return Err(Refusal::Expired);
    }
    if code.registered_here {
        return Err(Refusal::AlreadyRegistered);
    }
    if code.registrations >= code.max_registrations {
        return Err(Refusal::UsedUp);
    }
    if code.amount.currency() != currency {
        return Err(Refusal::CurrencyMismatch);
    }
    Ok(expires_at)
}

/// What a credit's ledger entry records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// The code's amount, when it was registered.
    Charged,
    /// Taken by a finalized invoice.
    Used,
    /// What was left when it expired.
    Expired,
}

impl EntryKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            EntryKind::Charged => "charged",
            EntryKind::Used => "used",
            EntryKind::Expired => "expired",
        }
    }

    pub fn parse(text: &str) -> Result<Self, DomainError> {
        match text {
            "charged" => Ok(EntryKind::Charged),
            "used" => Ok(EntryKind::Used),
            "expired" => Ok(EntryKind::Expired),
            _ => Err(DomainError::InvalidId("credit entry kind")),
        }
    }
}

/// A credit's standing: charged, used, expired, and what is left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Standing {
    pub charged: Money,
    pub used: Money,
    pub expired: Money,
    pub available: Money,
}

impl Standing {
    /// A credit's standing from its sums; refused if they are negative or take more than was
    /// charged.
    pub fn of(charged: Money, used: Money, expired: Money) -> Result<Standing, DomainError> {
        let available = charged.checked_sub(used)?.checked_sub(expired)?;
        if available.is_negative() || used.is_negative() || expired.is_negative() {
            return Err(DomainError::CreditOverdrawn);
        }
        Ok(Standing {
            charged,
            used,
            expired,
            available,
        })
    }

    /// What the credit has for invoices at `now`: nothing once it has expired.
    pub fn available_at(&self, expires_at: OffsetDateTime, now: OffsetDateTime) -> Money {
        if now >= expires_at {
            Money::zero(self.available.currency())
        } else {
            self.available
        }
    }

    /// Where the credit stands at `now`.
    pub fn status(&self, expires_at: OffsetDateTime, now: OffsetDateTime) -> Status {
        if now >= expires_at {
            Status::Expired
        } else if self.available.is_zero() {
            Status::UsedUp
        } else {
            Status::Active
        }
    }
}

/// A credit as the history shows it.
#[derive(Clone, Debug)]
pub struct CreditView {
    pub credit: Credit,
    /// What is left now: nothing once expired.
    pub available: Money,
    pub status: Status,
}

impl CreditView {
    /// The credit as it stands at `now`; refused if its sums take more than was charged.
    pub fn at(credit: Credit, now: OffsetDateTime) -> Result<Self, DomainError> {
        let standing = Standing::of(credit.charged, credit.used, credit.expired)?;
        Ok(CreditView {
            available: standing.available_at(credit.expires_at, now),
            status: standing.status(credit.expires_at, now),
            credit,
        })
    }
}

/// Where a credit stands, as the credit history shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// It has something left and has not expired.
    Active,
    /// Invoices used all of it.
    UsedUp,
    /// Past its expiry instant: what was left no longer counts.
    Expired,
}

/// The standing of a credit from its entries (positive amounts); refused if they take more than
/// was charged.
pub fn standing(
    currency: Currency,
    entries: &[(EntryKind, Money)],
) -> Result<Standing, DomainError> {
    let sum = |kind: EntryKind| {
        Money::sum(
            currency,
            entries.iter().filter(|(k, _)| *k == kind).map(|(_, m)| *m),
        )
    };
    if entries.iter().any(|(_, m)| m.is_negative()) {
        return Err(DomainError::CreditOverdrawn);
    }
    Standing::of(
        sum(EntryKind::Charged)?,
        sum(EntryKind::Used)?,
        sum(EntryKind::Expired)?,
    )
}

/// Whether the invoice of `period`, made at `now`, may use a credit registered at
/// `registered_at` that expires at `expires_at`: it was registered (by now) before the period
/// ended, and was still valid when the period ended, so a credit valid through November 30
/// counts for November's invoice.
pub fn counts_for(
    period: &BillingPeriod,
    registered_at: OffsetDateTime,
    expires_at: OffsetDateTime,
    now: OffsetDateTime,
) -> bool {
    registered_at <= now && registered_at < period.end() && expires_at >= period.end()
}

/// What a credit loses when it expires at `expires_at`, seen at `now`: all that is left, once
/// the instant has come; nothing before.
pub fn expiring(
    standing: &Standing,
    expires_at: OffsetDateTime,
    now: OffsetDateTime,
) -> Option<Money> {
    (now >= expires_at && !standing.available.is_zero()).then_some(standing.available)
}

/// A credit code as issued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedCode {
    pub id: String,
    pub code: CreditCode,
    pub name: String,
    pub amount: Money,
    pub validity: Validity,
    pub max_registrations: u32,
    pub registrations: u32,
    pub revoked_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
}

/// A credit of an account, with its sums.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credit {
    pub id: String,
    pub account: AccountId,
    pub code_id: String,
    pub name: String,
    pub charged: Money,
    pub used: Money,
    pub expired: Money,
    pub registered_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::{date, datetime};

    fn krw(minor: i64) -> Money {
        Money::from_minor(minor, Currency::parse("KRW").unwrap()).unwrap()
    }

    fn seoul() -> BillingOffset {
        BillingOffset::from_minutes(540).unwrap()
    }

    #[test]
    fn a_code_is_grouped_for_reading_and_read_back_however_it_is_typed() {
        let code = CreditCode::from_random([0xA5; RANDOM_BYTES]);
        let shown = code.to_string();
        assert_eq!(shown.len(), SYMBOLS + 4);
        assert_eq!(shown.matches('-').count(), 4);
        assert_eq!(CreditCode::parse(&shown).unwrap(), code);
        assert_eq!(CreditCode::parse(&shown.to_lowercase()).unwrap(), code);
        assert_eq!(CreditCode::parse(&shown.replace('-', " ")).unwrap(), code);
        assert!(CreditCode::parse("O0I1-AAAA-AAAA-AAAA-AAAA").is_err());
        assert!(CreditCode::parse("ABCD").is_err());
    }

    proptest! {
        #[test]
        fn codes_use_only_the_alphabet_and_differ_with_their_random_bits(a in any::<[u8; 13]>(), b in any::<[u8; 13]>()) {
            let (ca, cb) = (CreditCode::from_random(a), CreditCode::from_random(b));
            prop_assert!(ca.as_str().bytes().all(|s| ALPHABET.contains(&s)));
            // 100 of the 104 random bits make the code: codes differ when those bits do.
            let bits = |r: [u8; 13]| r.iter().fold(0u128, |acc, b| (acc << 8) | u128::from(*b)) & ((1u128 << 100) - 1);
            prop_assert_eq!(ca == cb, bits(a) == bits(b));
        }
    }

    #[test]
    fn a_credit_expires_at_the_end_of_its_date_in_the_accounts_offset_or_days_after_registration() {
        let registered = datetime!(2026-11-10 03:00 UTC);
        // Through 2026-12-31 in Seoul: until 2027-01-01 00:00 +09:00 = 2026-12-31 15:00 UTC.
        assert_eq!(
            Validity::Until(date!(2026 - 12 - 31)).expires_at(registered, seoul()),
            datetime!(2026-12-31 15:00 UTC)
        );
        assert_eq!(
            Validity::days(30).unwrap().expires_at(registered, seoul()),
            datetime!(2026-12-10 03:00 UTC)
        );
        assert!(Validity::days(0).is_err());
    }

    #[test]
    fn each_refusal_is_its_own() {
        let now = datetime!(2026-11-10 03:00 UTC);
        let krw_currency = Currency::parse("KRW").unwrap();
        let usd = Currency::parse("USD").unwrap();
        let code = CodeState {
            revoked: false,
            amount: krw(10_000),
            validity: Validity::Until(date!(2026 - 12 - 31)),
            max_registrations: 1,
            registrations: 0,
            registered_here: false,
        };
        assert_eq!(
            check_registration(&code, krw_currency, seoul(), now),
            Ok(datetime!(2026-12-31 15:00 UTC))
        );
        let refused = |c: CodeState, currency| check_registration(&c, currency, seoul(), now);
        assert_eq!(
            refused(
                CodeState {
                    revoked: true,
                    ..code.clone()
                },
                krw_currency
            ),
            Err(Refusal::Revoked)
        );
        assert_eq!(
            refused(
                CodeState {
                    validity: Validity::Until(date!(2026 - 11 - 09)),
                    ..code.clone()
                },
                krw_currency
            ),
            Err(Refusal::Expired)
        );
        assert_eq!(
            refused(
                CodeState {
                    registered_here: true,
                    registrations: 1,
                    ..code.clone()
                },
                krw_currency
            ),
            Err(Refusal::AlreadyRegistered)
        );
        assert_eq!(
            refused(
                CodeState {
                    registrations: 1,
                    ..code.clone()
                },
                krw_currency
            ),
            Err(Refusal::UsedUp)
        );
        assert_eq!(refused(code, usd), Err(Refusal::CurrencyMismatch));
    }

    proptest! {
        /// Whatever invoices take (never more than is available) and whenever it expires, used
        /// never exceeds charged and the standing adds up.
        #[test]
        fn used_never_exceeds_charged(charged in 1i64..1_000_000, takes in prop::collection::vec(0i64..400_000, 0..12), expire_after in 0usize..13) {
            let mut entries = vec![(EntryKind::Charged, krw(charged))];
            for (i, want) in takes.iter().enumerate() {
                let now = standing(krw(0).currency(), &entries).unwrap();
                if i == expire_after {
                    if let Some(lost) = expiring(&now, datetime!(2026-01-01 00:00 UTC), datetime!(2026-01-01 00:00 UTC)) {
                        entries.push((EntryKind::Expired, lost));
                    }
                    continue;
                }
                let used = krw(*want).min(now.available).unwrap();
                if !used.is_zero() {
                    entries.push((EntryKind::Used, used));
                }
            }
            let s = standing(krw(0).currency(), &entries).unwrap();
            prop_assert!(s.used.to_minor().unwrap() <= s.charged.to_minor().unwrap());
            prop_assert_eq!(s.used.checked_add(s.expired).unwrap().checked_add(s.available).unwrap(), s.charged);
            prop_assert!(!s.available.is_negative());
        }
    }

    #[test]
    fn a_credit_counts_for_the_periods_it_is_valid_at_the_end_of() {
        let november = BillingPeriod::new(2026, 11, seoul()).unwrap();
        let registered = datetime!(2026-11-10 00:00 +09:00);
        let now = datetime!(2026-12-02 00:00 +09:00);
        // Valid through November 30 in Seoul: until December 1 00:00, November's end.
        assert!(counts_for(
            &november,
            registered,
            datetime!(2026-12-01 00:00 +09:00),
            now
        ));
        assert!(!counts_for(
            &november,
            registered,
            datetime!(2026-11-30 23:59 +09:00),
            now
        ));
        // Registered after November ended, or after the instant the invoice is made: not.
        assert!(!counts_for(
            &november,
            datetime!(2026-12-01 00:00 +09:00),
            datetime!(2027-01-01 00:00 +09:00),
            now
        ));
        assert!(!counts_for(
            &november,
            registered,
            datetime!(2027-01-01 00:00 +09:00),
            registered - Duration::seconds(1)
        ));
    }

    #[test]
    fn a_credit_is_active_used_up_or_expired() {
        let expires = datetime!(2026-12-01 00:00 +09:00);
        let before = expires - Duration::seconds(1);
        let left = Standing::of(krw(25_000), krw(20_000), krw(0)).unwrap();
        assert_eq!(left.status(expires, before), Status::Active);
        assert_eq!(left.available_at(expires, before), krw(5_000));
        // At its expiry instant it stops counting.
        assert_eq!(left.status(expires, expires), Status::Expired);
        assert_eq!(left.available_at(expires, expires), krw(0));
        let spent = Standing::of(krw(25_000), krw(25_000), krw(0)).unwrap();
        assert_eq!(spent.status(expires, before), Status::UsedUp);
        assert_eq!(
            Standing::of(krw(100), krw(60), krw(41)),
            Err(DomainError::CreditOverdrawn)
        );
    }

    #[test]
    fn a_ledger_that_takes_more_than_was_charged_is_refused() {
        let currency = Currency::parse("KRW").unwrap();
        let entries = [(EntryKind::Charged, krw(100)), (EntryKind::Used, krw(101))];
        assert_eq!(
            standing(currency, &entries),
            Err(DomainError::CreditOverdrawn)
        );
    }
}
