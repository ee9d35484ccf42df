//! Money: currencies with their ISO 4217 minor units, exact amounts, and the one rounding rule.
//!
//! Every amount is a [`rust_decimal::Decimal`]; no float is ever involved. An invoice line is
//! rounded once, half away from zero, to the currency's minor unit ([`Money::round`]); totals are
//! sums of rounded lines, so lines always add up to the total.

use std::fmt;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};

use crate::error::DomainError;

/// Largest absolute amount, in minor units, that the product stores: 10^15 - 1 (for USD that is
/// 9,999,999,999,999.99). It keeps every amount and every sum of a few thousand of them inside an
/// `i64` and a PostgreSQL `BIGINT`.
pub const MAX_MINOR_UNITS: i64 = 999_999_999_999_999;

/// Most decimal places a unit price may carry (docs/money.md).
pub const MAX_UNIT_PRICE_SCALE: u32 = 12;

/// An ISO 4217 currency that has minor units (funds such as XAU or XXX are refused).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Currency {
    iso: iso_currency::Currency,
    minor_units: u32,
}

impl Currency {
    /// Parses an upper-case ISO 4217 alphabetic code (`"KRW"`, `"USD"`).
    pub fn parse(code: &str) -> Result<Self, DomainError> {
        let unknown = || DomainError::UnknownCurrency;
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(unknown());
        }
        let iso = iso_currency::Currency::from_code(code).ok_or_else(unknown)?;
        if iso.is_special() || iso.is_superseded().is_some() {
            return Err(unknown());
        }
        let minor_units = iso.exponent().ok_or_else(unknown)?;
        Ok(Self {
            iso,
            minor_units: u32::from(minor_units),
        })
    }

    /// Every currency the product bills in, sorted by code.
    pub fn all() -> Vec<Currency> {
        use iso_currency::IntoEnumIterator;
        let mut all: Vec<Currency> = iso_currency::Currency::iter()
            .filter_map(|iso| Currency::parse(iso.code()).ok())
            .collect();
        all.sort_by_key(|c| c.code());
        all.dedup();
        all
    }

    /// The three-letter code.
    pub fn code(&self) -> &'static str {
        self.iso.code()
    }

    /// Decimal places of the minor unit: KRW and JPY 0, USD and EUR 2, BHD 3.
    pub fn minor_units(&self) -> u32 {
        self.minor_units
    }

    /// Rounds an exact amount to this currency's minor unit, half away from zero. This is the only
    /// rounding of money in the product.
    pub fn round(&self, amount: Decimal) -> Decimal {
        let mut rounded =
            amount.round_dp_with_strategy(self.minor_units, RoundingStrategy::MidpointAwayFromZero);
        rounded.rescale(self.minor_units);
        rounded
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Currency {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// An amount of one currency with exactly the currency's minor-unit precision.
///
/// Built only through [`Money::round`] (a computed amount becomes a line), [`Money::parse`] (an
/// exact amount from a client, refused if it has more decimals than the currency allows) or
/// [`Money::from_minor`] (an amount at rest).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Money {
    amount: Decimal,
    currency: Currency,
}

impl Money {
    pub fn zero(currency: Currency) -> Self {
        Self {
            amount: currency.round(Decimal::ZERO),
            currency,
        }
    }

    /// Rounds an exact amount to a line amount (half away from zero, to the minor unit).
    pub fn round(amount: Decimal, currency: Currency) -> Result<Self, DomainError> {
        Self::checked(currency.round(amount), currency)
    }

    /// Parses a decimal string such as `"12.34"`. More decimals than the currency has, an exponent,
    /// a sign other than a leading `-`, or an amount past [`MAX_MINOR_UNITS`] is an error.
    pub fn parse(text: &str, currency: Currency) -> Result<Self, DomainError> {
        let amount = parse_plain_decimal(text)?;
        if amount.scale() > currency.minor_units() {
            return Err(DomainError::TooManyDecimals {
                max: currency.minor_units(),
            });
        }
        Self::checked(currency.round(amount), currency)
    }

    /// An amount stored as an integer of minor units (cents for USD, won for KRW).
    pub fn from_minor(minor: i64, currency: Currency) -> Result<Self, DomainError> {
        if minor.unsigned_abs() > MAX_MINOR_UNITS.unsigned_abs() {
            return Err(DomainError::AmountOutOfRange);
        }
        Ok(Self {
            amount: Decimal::new(minor, currency.minor_units()),
            currency,
        })
    }

    fn checked(amount: Decimal, currency: Currency) -> Result<Self, DomainError> {
        let money = Self { amount, currency };
        money.to_minor()?;
        Ok(money)
    }

    pub fn amount(&self) -> Decimal {
        self.amount
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// The amount as an integer of minor units, for storage.
    pub fn to_minor(&self) -> Result<i64, DomainError> {
        let mut scaled = self.amount;
        scaled.rescale(self.currency.minor_units());
        let mantissa = scaled.mantissa();
        if mantissa.unsigned_abs() > MAX_MINOR_UNITS.unsigned_abs() as u128 {
            return Err(DomainError::AmountOutOfRange);
        }
        i64::try_from(mantissa).map_err(|_| DomainError::AmountOutOfRange)
    }

    pub fn is_zero(&self) -> bool {
        self.amount.is_zero()
    }

    pub fn is_negative(&self) -> bool {
        self.amount.is_sign_negative() && !self.amount.is_zero()
    }

    pub fn checked_add(self, other: Money) -> Result<Money, DomainError> {
        self.same_currency(&other)?;
        Self::checked(self.amount + other.amount, self.currency)
    }

    pub fn checked_sub(self, other: Money) -> Result<Money, DomainError> {
        self.same_currency(&other)?;
        Self::checked(self.amount - other.amount, self.currency)
    }

    pub fn negate(self) -> Money {
        Self {
            amount: -self.amount,
            currency: self.currency,
        }
    }

    /// The smaller of two amounts of the same currency.
    pub fn min(self, other: Money) -> Result<Money, DomainError> {
        self.same_currency(&other)?;
        Ok(if other.amount < self.amount {
            other
        } else {
            self
        })
    }

    /// Sums amounts of one currency; an empty sum is zero.
    pub fn sum<I: IntoIterator<Item = Money>>(
        currency: Currency,
        amounts: I,
    ) -> Result<Money, DomainError> {
        amounts
            .into_iter()
            .try_fold(Money::zero(currency), Money::checked_add)
    }

    fn same_currency(&self, other: &Money) -> Result<(), DomainError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(DomainError::CurrencyMismatch {
                expected: self.currency.code(),
                found: other.currency.code(),
            })
        }
    }
}

impl fmt::Display for Money {
    /// The wire form: a plain decimal string with exactly the minor-unit decimals (`"12.30"`,
    /// `"1000"`), without the currency code, which travels in its own field.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut amount = self.amount;
        amount.rescale(self.currency.minor_units());
        write!(f, "{amount}")
    }
}

/// A price per unit (per call, per byte, per hour): non-negative, up to 12 decimal places.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct UnitPrice(Decimal);

impl UnitPrice {
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let value = parse_plain_decimal(text)?;
        Self::new(value)
    }

    pub fn new(value: Decimal) -> Result<Self, DomainError> {
        if value.is_sign_negative() && !value.is_zero() {
            return Err(DomainError::NegativeAmount);
        }
        if value.scale() > MAX_UNIT_PRICE_SCALE {
            return Err(DomainError::TooManyDecimals {
                max: MAX_UNIT_PRICE_SCALE,
            });
        }
        if value > Decimal::from(MAX_MINOR_UNITS) {
            return Err(DomainError::AmountOutOfRange);
        }
        Ok(Self(value.normalize()))
    }

    pub fn value(&self) -> Decimal {
        self.0
    }
}

impl fmt::Display for UnitPrice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A tax rate as a fraction: `0.1` is 10 %. Between 0 and 1, at most 6 decimal places.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct TaxRate(Decimal);

/// Most decimal places of a tax rate (0.000001 = 0.0001 %).
pub const MAX_TAX_RATE_SCALE: u32 = 6;

impl TaxRate {
    pub const ZERO: TaxRate = TaxRate(Decimal::ZERO);

    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let value = parse_plain_decimal(text).map_err(|_| DomainError::InvalidTaxRate)?;
        Self::new(value)
    }

    pub fn new(value: Decimal) -> Result<Self, DomainError> {
        if value.is_sign_negative() && !value.is_zero() {
            return Err(DomainError::InvalidTaxRate);
        }
        if value > Decimal::ONE || value.scale() > MAX_TAX_RATE_SCALE {
            return Err(DomainError::InvalidTaxRate);
        }
        Ok(Self(value.normalize()))
    }

    pub fn value(&self) -> Decimal {
        self.0
    }

    /// The tax on an amount, rounded as a line: the determined amount times the tax rate.
    pub fn tax_on(&self, amount: Money) -> Result<Money, DomainError> {
        Money::round(amount.amount() * self.0, amount.currency())
    }
}

impl fmt::Display for TaxRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Parses `-?digits(.digits)?` and nothing else: no exponent, no `+`, no spaces, no thousands
/// separators. What a client sends as an amount string must mean one exact number.
pub fn parse_plain_decimal(text: &str) -> Result<Decimal, DomainError> {
    let invalid = || DomainError::MalformedDecimal;
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (int_part, frac_part) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(int_part) || frac_part.is_some_and(|f| !all_digits(f)) {
        return Err(invalid());
    }
    // 28 significant digits is what Decimal holds exactly; refuse rather than round.
    if int_part.len() + frac_part.map_or(0, str::len) > 28 {
        return Err(invalid());
    }
    Decimal::from_str_exact(text).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    fn krw() -> Currency {
        Currency::parse("KRW").unwrap()
    }
    fn usd() -> Currency {
        Currency::parse("USD").unwrap()
    }

    #[test]
    fn minor_units_follow_iso_4217() {
        assert_eq!(krw().minor_units(), 0);
        assert_eq!(Currency::parse("JPY").unwrap().minor_units(), 0);
        assert_eq!(usd().minor_units(), 2);
        assert_eq!(Currency::parse("EUR").unwrap().minor_units(), 2);
        assert_eq!(Currency::parse("BHD").unwrap().minor_units(), 3);
        assert_eq!(Currency::parse("CLF").unwrap().minor_units(), 4);
    }

    #[test]
    fn the_supported_list_holds_real_currencies_only() {
        let all = Currency::all();
        let codes: Vec<&str> = all.iter().map(|c| c.code()).collect();
        for code in ["KRW", "JPY", "USD", "EUR", "BHD"] {
            assert!(codes.contains(&code), "{code} missing");
        }
        for code in ["XXX", "XAU", "XTS"] {
            assert!(!codes.contains(&code), "{code} listed");
        }
        assert!(codes.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn unknown_lowercase_and_special_codes_are_refused() {
        for code in ["usd", "XXX", "XAU", "ABC", "US", "USDD", ""] {
            assert!(Currency::parse(code).is_err(), "{code} was accepted");
        }
    }

    #[test]
    fn rounding_is_half_away_from_zero_to_the_minor_unit() {
        // 4,464.2857... KRW -> 4,464 ; 0.5 KRW -> 1 ; -0.5 KRW -> -1
        assert_eq!(
            Money::round(dec!(4464.2857), krw()).unwrap().to_string(),
            "4464"
        );
        assert_eq!(Money::round(dec!(0.5), krw()).unwrap().to_string(), "1");
        assert_eq!(Money::round(dec!(-0.5), krw()).unwrap().to_string(), "-1");
        // 2.345 USD -> 2.35 ; 2.344999 -> 2.34 ; -2.345 -> -2.35
        assert_eq!(
            Money::round(dec!(2.345), usd()).unwrap().to_string(),
            "2.35"
        );
        assert_eq!(
            Money::round(dec!(2.344999), usd()).unwrap().to_string(),
            "2.34"
        );
        assert_eq!(
            Money::round(dec!(-2.345), usd()).unwrap().to_string(),
            "-2.35"
        );
        assert_eq!(Money::round(dec!(7), usd()).unwrap().to_string(), "7.00");
    }

    #[test]
    fn parse_refuses_more_decimals_than_the_currency_has() {
        assert_eq!(
            Money::parse("12.34", usd()).unwrap().to_minor().unwrap(),
            1234
        );
        assert!(matches!(
            Money::parse("12.345", usd()),
            Err(DomainError::TooManyDecimals { max: 2 })
        ));
        assert!(matches!(
            Money::parse("100.5", krw()),
            Err(DomainError::TooManyDecimals { max: 0 })
        ));
        for bad in ["1e3", "+1", " 1", "1,000", "", ".5", "5.", "--1", "NaN"] {
            assert!(Money::parse(bad, usd()).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn amounts_past_the_maximum_are_refused() {
        assert!(Money::from_minor(MAX_MINOR_UNITS, usd()).is_ok());
        assert!(Money::from_minor(MAX_MINOR_UNITS + 1, usd()).is_err());
        assert!(Money::parse("10000000000000.00", usd()).is_err());
    }

    #[test]
    fn currencies_do_not_mix() {
        let a = Money::from_minor(100, usd()).unwrap();
        let b = Money::from_minor(100, krw()).unwrap();
        assert!(matches!(
            a.checked_add(b),
            Err(DomainError::CurrencyMismatch { .. })
        ));
    }

    #[test]
    fn unit_prices_carry_up_to_twelve_decimals() {
        assert_eq!(
            UnitPrice::parse("0.000000000001").unwrap().value(),
            dec!(0.000000000001)
        );
        assert!(UnitPrice::parse("0.0000000000001").is_err());
        assert!(UnitPrice::parse("-1").is_err());
    }

    #[test]
    fn tax_is_rounded_as_a_line() {
        // 12,345 KRW x 10 % = 1,234.5 -> 1,235
        let rate = TaxRate::parse("0.1").unwrap();
        let tax = rate
            .tax_on(Money::from_minor(12_345, krw()).unwrap())
            .unwrap();
        assert_eq!(tax.to_string(), "1235");
        // 19.99 USD x 8.25 % = 1.649175 -> 1.65
        let rate = TaxRate::parse("0.0825").unwrap();
        let tax = rate
            .tax_on(Money::from_minor(1999, usd()).unwrap())
            .unwrap();
        assert_eq!(tax.to_string(), "1.65");
        assert!(TaxRate::parse("1.5").is_err());
        assert!(TaxRate::parse("-0.1").is_err());
        assert!(TaxRate::parse("0.1234567").is_err());
    }

    fn currency_strategy() -> impl Strategy<Value = Currency> {
        prop::sample::select(vec!["KRW", "JPY", "USD", "EUR", "BHD", "CLF"])
            .prop_map(|c| Currency::parse(c).unwrap())
    }

    proptest! {
        #[test]
        fn rounded_amount_is_within_half_a_minor_unit(
            mantissa in -1_000_000_000_000_000i64..1_000_000_000_000_000i64,
            scale in 0u32..=12,
            currency in currency_strategy(),
        ) {
            let exact = Decimal::new(mantissa, scale);
            let Ok(money) = Money::round(exact, currency) else { return Ok(()); };
            let half = Decimal::new(5, currency.minor_units() + 1);
            prop_assert!((money.amount() - exact).abs() <= half);
            prop_assert_eq!(money.amount().scale(), currency.minor_units());
            // Away from zero: the rounded amount never has a smaller magnitude at an exact tie.
            if (money.amount() - exact).abs() == half {
                prop_assert!(money.amount().abs() > exact.abs());
            }
        }

        #[test]
        fn minor_units_round_trip(minor in -MAX_MINOR_UNITS..=MAX_MINOR_UNITS, currency in currency_strategy()) {
            let money = Money::from_minor(minor, currency).unwrap();
            prop_assert_eq!(money.to_minor().unwrap(), minor);
            let reparsed = Money::parse(&money.to_string(), currency).unwrap();
            prop_assert_eq!(reparsed, money);
        }

        #[test]
        fn sum_of_rounded_lines_is_exact(lines in prop::collection::vec(-10_000_000i64..10_000_000, 0..50), currency in currency_strategy()) {
            let moneys: Vec<Money> = lines.iter().map(|m| Money::from_minor(*m, currency).unwrap()).collect();
            let total = Money::sum(currency, moneys).unwrap();
            prop_assert_eq!(total.to_minor().unwrap(), lines.iter().sum::<i64>());
        }
    }
}
