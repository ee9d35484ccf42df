//! The catalog: products (services) and plans (service plans) with one price per product
//! (docs/money.md, "Price models").

pub mod rating;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;

use time::OffsetDateTime;

use crate::error::DomainError;
use crate::money::{parse_plain_decimal, Currency, UnitPrice};
use crate::names::{CatalogName, ProjectId};

/// Most decimal places of a usage quantity. Rollups store quantities as integers of millionths.
pub const QUANTITY_SCALE: u32 = 6;

/// The largest quantity of one event or one rollup bucket: what fits an `i64` of millionths,
/// 9,223,372,036,854.775807 units. Past it, ingestion refuses the event.
pub fn max_quantity() -> Decimal {
    Decimal::from_i128_with_scale(i128::from(i64::MAX), QUANTITY_SCALE)
}

/// A non-negative amount of a product's unit with at most 6 decimals.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Quantity(Decimal);

impl Quantity {
    pub const ZERO: Quantity = Quantity(Decimal::ZERO);

    pub fn new(value: Decimal) -> Result<Self, DomainError> {
        if value.is_sign_negative() && !value.is_zero() {
            return Err(DomainError::NegativeQuantity);
        }
        if value.scale() > QUANTITY_SCALE {
            return Err(DomainError::TooManyDecimals {
                max: QUANTITY_SCALE,
            });
        }
        if value > max_quantity() {
            return Err(DomainError::QuantityOutOfRange);
        }
        Ok(Self(value.normalize()))
    }

    pub fn parse(text: &str) -> Result<Self, DomainError> {
        Self::new(parse_plain_decimal(text)?)
    }

    /// From an integer of millionths, as rollups store it.
    pub fn from_micros(micros: i64) -> Result<Self, DomainError> {
        Self::new(Decimal::new(micros, QUANTITY_SCALE))
    }

    pub fn to_micros(&self) -> Result<i64, DomainError> {
        let mut scaled = self.0;
        scaled.rescale(QUANTITY_SCALE);
        i64::try_from(scaled.mantissa()).map_err(|_| DomainError::QuantityOutOfRange)
    }

    pub fn value(&self) -> Decimal {
        self.0
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// How a product's usage within a period becomes one quantity.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Aggregation {
    /// The sum of every event (API calls, hours).
    Sum,
    /// The largest reported value (peak disk bytes).
    Max,
    /// The last reported value by event time (a gauge).
    Latest,
}

impl Aggregation {
    pub fn as_str(&self) -> &'static str {
        match self {
            Aggregation::Sum => "sum",
            Aggregation::Max => "max",
            Aggregation::Latest => "latest",
        }
    }
}

impl FromStr for Aggregation {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sum" => Ok(Aggregation::Sum),
            "max" => Ok(Aggregation::Max),
            "latest" => Ok(Aggregation::Latest),
            _ => Err(DomainError::UnknownAggregation),
        }
    }
}

/// Which fee of a project's billing summary (seed 000) a product's charges fall under.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum FeeGroup {
    /// The API usage fee (API calls).
    Api,
    /// The disk usage fee (stored bytes).
    Disk,
    /// Any other usage fee (hours of a monitored resource, seats, ...).
    Other,
}

impl FeeGroup {
    pub fn as_str(&self) -> &'static str {
        match self {
            FeeGroup::Api => "api",
            FeeGroup::Disk => "disk",
            FeeGroup::Other => "other",
        }
    }
}

impl FromStr for FeeGroup {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "api" => Ok(FeeGroup::Api),
            "disk" => Ok(FeeGroup::Disk),
            "other" => Ok(FeeGroup::Other),
            _ => Err(DomainError::UnknownFeeGroup),
        }
    }
}

/// A product or plan code: lower-case letters, digits, `_`, `-` and `.`, 1 to 64 characters,
/// starting with a letter or digit (`api_calls`, `disk.bytes`, `standard-2026`).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Code(String);

impl Code {
    pub const PATTERN: &'static str = "^[a-z0-9][a-z0-9_.-]{0,63}$";

    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let mut bytes = text.bytes();
        let first_ok = bytes
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        let rest_ok = bytes.all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'.')
        });
        if first_ok && rest_ok && text.len() <= 64 {
            Ok(Self(text.to_owned()))
        } else {
            Err(DomainError::InvalidCode)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The unit of a product's quantities: `call`, `byte`, `hour`, ... 1 to 32 lower-case letters,
/// digits or `_`, starting with a letter.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Unit(String);

impl Unit {
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let ok = text.len() <= 32
            && text.starts_with(|c: char| c.is_ascii_lowercase())
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(DomainError::InvalidUnit)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A metered service.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Product {
    pub code: Code,
    pub name: CatalogName,
    pub unit: Unit,
    pub aggregation: Aggregation,
    pub fee_group: FeeGroup,
}

/// One tier of a graduated or volume price. Tiers are ordered; each ends at `up_to`
/// (inclusive), the last one never ends.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Tier {
    pub up_to: Option<Decimal>,
    pub unit_price: UnitPrice,
    /// Charged once when any quantity falls in this tier (graduated: every tier reached;
    /// volume: the one tier the whole quantity falls in). Zero for none.
    pub flat_fee: UnitPrice,
}

/// How a product's billable quantity becomes an amount.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum PriceModel {
    /// quantity x unit price.
    PerUnit { unit_price: UnitPrice },
    /// Price per started package of `size` units (the remainder is rounded up to a package).
    Package { size: Decimal, price: UnitPrice },
    /// Each unit at the price of the tier it falls in, plus each reached tier's flat fee.
    Graduated { tiers: Vec<Tier> },
    /// Every unit at the price of the tier the whole quantity falls in, plus its flat fee.
    Volume { tiers: Vec<Tier> },
    /// A monthly price prorated by hours: the quantity is hours, capped at the month's
    /// reference hours (days x 24).
    Hourly { monthly_price: UnitPrice },
}

impl PriceModel {
    pub fn name(&self) -> &'static str {
        match self {
            PriceModel::PerUnit { .. } => "per_unit",
            PriceModel::Package { .. } => "package",
            PriceModel::Graduated { .. } => "graduated",
            PriceModel::Volume { .. } => "volume",
            PriceModel::Hourly { .. } => "hourly",
        }
    }
}

/// The price of one product in one plan.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Price {
    pub model: PriceModel,
    /// Units (or hours) free each period before the model applies.
    pub free_quantity: Quantity,
}

impl Price {
    /// Checks the model's own rules: a positive package size, tiers with strictly increasing
    /// bounds and exactly the last one unbounded.
    pub fn new(model: PriceModel, free_quantity: Quantity) -> Result<Self, DomainError> {
        match &model {
            PriceModel::Package { size, .. } => {
                if *size <= Decimal::ZERO || size.scale() > QUANTITY_SCALE {
                    return Err(DomainError::InvalidPrice(
                        "a package size is a positive quantity".into(),
                    ));
                }
            }
            PriceModel::Graduated { tiers } | PriceModel::Volume { tiers } => check_tiers(tiers)?,
            PriceModel::PerUnit { .. } | PriceModel::Hourly { .. } => {}
        }
        Ok(Self {
            model,
            free_quantity,
        })
    }
}

fn check_tiers(tiers: &[Tier]) -> Result<(), DomainError> {
    let invalid = |why: &str| Err(DomainError::InvalidPrice(why.into()));
    let Some((last, bounded)) = tiers.split_last() else {
        return invalid("a tiered price has at least one tier");
    };
    if last.up_to.is_some() {
        return invalid("the last tier has no upper bound");
    }
    let mut previous = Decimal::ZERO;
    for tier in bounded {
        match tier.up_to {
            None => return invalid("only the last tier is unbounded"),
            Some(up_to) if up_to <= previous => {
                return invalid("tier bounds are positive and strictly increasing")
            }
            Some(up_to) => previous = up_to,
        }
    }
    Ok(())
}

/// A service plan: a currency, a monthly base fee and one price per product. The base fee is a
/// price like any other (up to 12 decimals); it is rounded when it becomes a line.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Plan {
    pub code: Code,
    pub name: CatalogName,
    pub currency: Currency,
    pub base_fee: UnitPrice,
    pub prices: BTreeMap<Code, Price>,
}

impl Plan {
    /// A project can be put on a plan only if the plan bills in its account's currency.
    pub fn check_currency(&self, account_currency: Currency) -> Result<(), DomainError> {
        if self.currency == account_currency {
            Ok(())
        } else {
            Err(DomainError::CurrencyMismatch {
                expected: account_currency.code(),
                found: self.currency.code(),
            })
        }
    }
}

/// A project is on `plan` from `effective_from` until its next assignment.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PlanAssignment {
    pub project: ProjectId,
    pub plan: Code,
    pub effective_from: OffsetDateTime,
}

/// The parts of `[from, to)` each plan was in force, in time order. A project is on one plan at
/// a time: the latest assignment at or before an instant; before its first assignment it is on
/// none, and that time is not billed.
pub fn plan_spans(
    assignments: &[PlanAssignment],
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> Vec<(Code, OffsetDateTime, OffsetDateTime)> {
    let mut sorted: Vec<&PlanAssignment> = assignments.iter().collect();
    sorted.sort_by_key(|a| a.effective_from);
    let mut spans = Vec::new();
    for (i, assignment) in sorted.iter().enumerate() {
        let start = assignment.effective_from.max(from);
        let end = sorted
            .get(i + 1)
            .map_or(to, |next| next.effective_from.min(to));
        if start < end {
            spans.push((assignment.plan.clone(), start, end));
        }
    }
    spans
}

/// Tier bounds from widths: `[100, 900]` becomes tiers up to 100 and up to 1,000, then an
/// unbounded tier. Any list of positive widths makes valid tiers.
pub fn tiers_from_widths(
    widths: &[(Decimal, UnitPrice, UnitPrice)],
    beyond: (UnitPrice, UnitPrice),
) -> Result<Vec<Tier>, DomainError> {
    let mut bound = Decimal::ZERO;
    let mut tiers = Vec::with_capacity(widths.len() + 1);
    for (units, unit_price, flat_fee) in widths {
        if *units <= Decimal::ZERO {
            return Err(DomainError::InvalidPrice(
                "a tier covers at least one unit".into(),
            ));
        }
        bound = bound
            .checked_add(*units)
            .ok_or(DomainError::QuantityOutOfRange)?;
        tiers.push(Tier {
            up_to: Some(bound),
            unit_price: *unit_price,
            flat_fee: *flat_fee,
        });
    }
    tiers.push(Tier {
        up_to: None,
        unit_price: beyond.0,
        flat_fee: beyond.1,
    });
    Ok(tiers)
}

/// A stored product.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProductRecord {
    pub product: Product,
    pub created_at: OffsetDateTime,
}

/// A stored plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanRecord {
    pub plan: Plan,
    pub created_at: OffsetDateTime,
    /// Set once an invoice used the plan; its prices can no longer change.
    pub locked_at: Option<OffsetDateTime>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn price(text: &str) -> UnitPrice {
        UnitPrice::parse(text).unwrap()
    }

    #[test]
    fn quantities_are_exact_and_bounded() {
        assert_eq!(
            Quantity::parse("1.5").unwrap().to_micros().unwrap(),
            1_500_000
        );
        assert_eq!(Quantity::from_micros(1).unwrap().to_string(), "0.000001");
        assert!(Quantity::parse("0.0000001").is_err());
        assert!(Quantity::parse("-1").is_err());
        assert!(Quantity::parse("9223372036854.775807").is_ok());
        assert!(Quantity::parse("9223372036854.775808").is_err());
    }

    #[test]
    fn one_plan_at_a_time_from_each_assignment() {
        use time::macros::datetime;
        let project = ProjectId::from_uuid(uuid::Uuid::nil());
        let at = |plan: &str, from| PlanAssignment {
            project: project.clone(),
            plan: Code::parse(plan).unwrap(),
            effective_from: from,
        };
        let history = [
            at("pro", datetime!(2026-11-11 00:00 UTC)),
            at("basic", datetime!(2026-10-15 00:00 UTC)),
            at("team", datetime!(2026-12-20 00:00 UTC)),
        ];
        let spans = plan_spans(
            &history,
            datetime!(2026-11-01 00:00 UTC),
            datetime!(2026-12-01 00:00 UTC),
        );
        let named: Vec<(&str, OffsetDateTime, OffsetDateTime)> =
            spans.iter().map(|(c, f, t)| (c.as_str(), *f, *t)).collect();
        assert_eq!(
            named,
            vec![
                (
                    "basic",
                    datetime!(2026-11-01 00:00 UTC),
                    datetime!(2026-11-11 00:00 UTC)
                ),
                (
                    "pro",
                    datetime!(2026-11-11 00:00 UTC),
                    datetime!(2026-12-01 00:00 UTC)
                ),
            ]
        );
        // Before the first assignment there is no plan.
        let spans = plan_spans(
            &history[..1],
            datetime!(2026-11-01 00:00 UTC),
            datetime!(2026-12-01 00:00 UTC),
        );
        assert_eq!(spans.len(), 1);
        assert_eq!(spans[0].1, datetime!(2026-11-11 00:00 UTC));
    }

    #[test]
    fn units_are_lowercase_words() {
        for ok in ["call", "byte", "gib_hour", "h2"] {
            assert!(Unit::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Call", "2h", "per call", &"u".repeat(33)] {
            assert!(Unit::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn codes_are_lowercase_slugs() {
        for ok in ["api_calls", "disk.bytes", "standard-2026", "a"] {
            assert!(Code::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "API", "_x", "a b", "a/b", &"a".repeat(65)] {
            assert!(Code::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tiers_must_be_ordered_and_end_unbounded() {
        let tier = |up_to: Option<Decimal>| Tier {
            up_to,
            unit_price: price("1"),
            flat_fee: price("0"),
        };
        let free = Quantity::ZERO;
        let ok = vec![tier(Some(dec!(100))), tier(Some(dec!(1000))), tier(None)];
        assert!(Price::new(PriceModel::Graduated { tiers: ok }, free).is_ok());
        for bad in [
            vec![],
            vec![tier(Some(dec!(100)))],
            vec![tier(Some(dec!(100))), tier(Some(dec!(100))), tier(None)],
            vec![tier(None), tier(None)],
            vec![tier(Some(dec!(0))), tier(None)],
        ] {
            assert!(Price::new(PriceModel::Volume { tiers: bad }, free).is_err());
        }
        // Widths accumulate into bounds; any positive widths are valid tiers.
        let widths = [
            (dec!(100), price("1"), price("0")),
            (dec!(900), price("0.5"), price("10")),
        ];
        let tiers = tiers_from_widths(&widths, (price("0.1"), price("0"))).unwrap();
        assert_eq!(
            tiers.iter().map(|t| t.up_to).collect::<Vec<_>>(),
            vec![Some(dec!(100)), Some(dec!(1000)), None]
        );
        assert!(Price::new(PriceModel::Graduated { tiers }, free).is_ok());
        assert!(tiers_from_widths(
            &[(dec!(0), price("1"), price("0"))],
            (price("1"), price("0"))
        )
        .is_err());
        let zero_package = PriceModel::Package {
            size: Decimal::ZERO,
            price: price("1"),
        };
        assert!(Price::new(zero_package, free).is_err());
    }
}
