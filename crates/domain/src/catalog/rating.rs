//! Rating: (plan, aggregated usage, period) -> invoice lines. Pure; each line is rounded once,
//! half away from zero, to the plan currency's minor unit, and the total is the sum of the
//! rounded lines (docs/money.md).

use rust_decimal::Decimal;
use time::OffsetDateTime;

use crate::catalog::{Code, Plan, Price, PriceModel, Quantity, Tier};
use crate::error::DomainError;
use crate::money::Money;
use crate::period::BillingPeriod;

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum LineKind {
    /// The plan's monthly base fee, prorated by the hours the project was on the plan.
    BaseFee,
    /// A product's usage rated by the plan's price for it.
    Usage,
}

/// One rated line: what was charged and why.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Line {
    pub kind: LineKind,
    pub plan: Code,
    pub product: Option<Code>,
    pub description: String,
    /// The aggregated quantity (usage lines).
    pub quantity: Option<Quantity>,
    /// The free quantity of the price, taken off before rating.
    pub free_quantity: Option<Quantity>,
    /// Hours: of the plan within the period (base fee) or billed (hourly products).
    pub hours: Option<Decimal>,
    /// The month's reference hours, where hours were prorated.
    pub reference_hours: Option<u32>,
    /// The exact amount before rounding.
    pub exact_amount: Decimal,
    /// The line amount, rounded once.
    pub amount: Money,
}

/// The lines of one plan over one span of a period, and their total.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Rating {
    pub lines: Vec<Line>,
    pub total: Money,
}

/// Rates a project's usage while it was on `plan` during `[from, to)` of `period`. `usage` holds
/// each product's quantity aggregated over that span. Usage of a product the plan does not price
/// gets a zero line that says so, never silently disappears.
pub fn rate(
    plan: &Plan,
    period: &BillingPeriod,
    from: OffsetDateTime,
    to: OffsetDateTime,
    usage: &[(Code, Quantity)],
) -> Result<Rating, DomainError> {
    let currency = plan.currency;
    let mut lines = Vec::with_capacity(usage.len() + 1);
    let hours = period.hours_within(from, to);
    if hours > Decimal::ZERO && !plan.base_fee.value().is_zero() {
        let exact = period.prorate(plan.base_fee.value(), hours);
        lines.push(Line {
            kind: LineKind::BaseFee,
            plan: plan.code.clone(),
            product: None,
            description: format!("{} base fee", plan.name),
            quantity: None,
            free_quantity: None,
            hours: Some(hours.min(Decimal::from(period.reference_hours()))),
            reference_hours: Some(period.reference_hours()),
            exact_amount: exact,
            amount: Money::round(exact, currency)?,
        });
    }
    for (product, quantity) in usage {
        let line = match plan.prices.get(product) {
            Some(price) => usage_line(plan, period, product, *quantity, price)?,
            None => Line {
                kind: LineKind::Usage,
                plan: plan.code.clone(),
                product: Some(product.clone()),
                description: format!("{product}: not priced by {}", plan.name),
                quantity: Some(*quantity),
                free_quantity: None,
                hours: None,
                reference_hours: None,
                exact_amount: Decimal::ZERO,
                amount: Money::zero(currency),
            },
        };
        lines.push(line);
    }
    let total = Money::sum(currency, lines.iter().map(|l| l.amount))?;
    Ok(Rating { lines, total })
}

fn usage_line(
    plan: &Plan,
    period: &BillingPeriod,
    product: &Code,
    quantity: Quantity,
    price: &Price,
) -> Result<Line, DomainError> {
    let billable = (quantity.value() - price.free_quantity.value()).max(Decimal::ZERO);
    let (exact, hours, reference) = match &price.model {
        PriceModel::Hourly { monthly_price } => {
            let reference = period.reference_hours();
            let billed = billable.min(Decimal::from(reference));
            (
                period.prorate(monthly_price.value(), billed),
                Some(billed),
                Some(reference),
            )
        }
        model => (amount_of(model, billable)?, None, None),
    };
    Ok(Line {
        kind: LineKind::Usage,
        plan: plan.code.clone(),
        product: Some(product.clone()),
        description: format!("{product} ({})", price.model.name()),
        quantity: Some(quantity),
        free_quantity: Some(price.free_quantity),
        hours,
        reference_hours: reference,
        exact_amount: exact,
        amount: Money::round(exact, plan.currency)?,
    })
}

/// The exact amount of a billable quantity under a non-hourly model.
pub fn amount_of(model: &PriceModel, billable: Decimal) -> Result<Decimal, DomainError> {
    let overflow = || DomainError::AmountOutOfRange;
    match model {
        PriceModel::PerUnit { unit_price } => billable
            .checked_mul(unit_price.value())
            .ok_or_else(overflow),
        PriceModel::Package { size, price } => {
            let packages = billable.checked_div(*size).ok_or_else(overflow)?.ceil();
            packages.checked_mul(price.value()).ok_or_else(overflow)
        }
        PriceModel::Graduated { tiers } => graduated(tiers, billable),
        PriceModel::Volume { tiers } => volume(tiers, billable),
        // Hourly needs the period; `usage_line` rates it.
        PriceModel::Hourly { .. } => Err(DomainError::InvalidPrice(
            "an hourly price is rated against a period".into(),
        )),
    }
}

fn graduated(tiers: &[Tier], billable: Decimal) -> Result<Decimal, DomainError> {
    let overflow = || DomainError::AmountOutOfRange;
    let mut total = Decimal::ZERO;
    let mut lower = Decimal::ZERO;
    for tier in tiers {
        if billable <= lower {
            break;
        }
        let upper = tier.up_to.map_or(billable, |u| u.min(billable));
        let units = upper - lower;
        let amount = units
            .checked_mul(tier.unit_price.value())
            .and_then(|a| a.checked_add(tier.flat_fee.value()))
            .ok_or_else(overflow)?;
        total = total.checked_add(amount).ok_or_else(overflow)?;
        match tier.up_to {
            Some(up_to) => lower = up_to,
            None => break,
        }
    }
    Ok(total)
}

fn volume(tiers: &[Tier], billable: Decimal) -> Result<Decimal, DomainError> {
    if billable.is_zero() {
        return Ok(Decimal::ZERO);
    }
    let tier = tiers
        .iter()
        .find(|t| t.up_to.is_none_or(|up_to| billable <= up_to))
        .ok_or_else(|| DomainError::InvalidPrice("the last tier has no upper bound".into()))?;
    billable
        .checked_mul(tier.unit_price.value())
        .and_then(|a| a.checked_add(tier.flat_fee.value()))
        .ok_or(DomainError::AmountOutOfRange)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Tier;
    use crate::money::{Currency, UnitPrice};
    use crate::period::BillingOffset;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;
    use std::collections::BTreeMap;
    use time::macros::datetime;

    fn code(s: &str) -> Code {
        Code::parse(s).unwrap()
    }
    fn up(s: &str) -> UnitPrice {
        UnitPrice::parse(s).unwrap()
    }
    fn q(s: &str) -> Quantity {
        Quantity::parse(s).unwrap()
    }
    fn krw() -> Currency {
        Currency::parse("KRW").unwrap()
    }
    fn usd() -> Currency {
        Currency::parse("USD").unwrap()
    }
    fn tier(up_to: Option<Decimal>, unit: &str, flat: &str) -> Tier {
        Tier {
            up_to,
            unit_price: up(unit),
            flat_fee: up(flat),
        }
    }
    fn plan(base_fee: Money, prices: Vec<(&str, PriceModel, &str)>) -> Plan {
        let prices: BTreeMap<Code, Price> = prices
            .into_iter()
            .map(|(c, model, free)| (code(c), Price::new(model, q(free)).unwrap()))
            .collect();
        Plan {
            code: code("standard"),
            name: crate::names::CatalogName::parse("Standard").unwrap(),
            currency: base_fee.currency(),
            base_fee: UnitPrice::new(base_fee.amount()).unwrap(),
            prices,
        }
    }
    fn kst() -> BillingOffset {
        BillingOffset::parse("+09:00").unwrap()
    }

    #[test]
    fn hourly_worked_example() {
        // February 2026 has 672 reference hours. 100 h of a 30,000 KRW monthly price:
        // 30,000 x 100 / 672 = 4,464.2857... -> 4,464 KRW.
        let p = plan(
            Money::zero(krw()),
            vec![(
                "monitoring",
                PriceModel::Hourly {
                    monthly_price: up("30000"),
                },
                "0",
            )],
        );
        let feb = BillingPeriod::new(2026, 2, kst()).unwrap();
        let r = rate(
            &p,
            &feb,
            feb.start(),
            feb.end(),
            &[(code("monitoring"), q("100"))],
        )
        .unwrap();
        assert_eq!(r.lines.len(), 1);
        assert_eq!(r.lines[0].amount.to_string(), "4464");
        assert_eq!(r.lines[0].hours, Some(dec!(100)));
        assert_eq!(r.lines[0].reference_hours, Some(672));
        // 800 h in a 744 h month (January) costs the monthly price, never more: 30,000.
        let jan = BillingPeriod::new(2026, 1, kst()).unwrap();
        let r = rate(
            &p,
            &jan,
            jan.start(),
            jan.end(),
            &[(code("monitoring"), q("800"))],
        )
        .unwrap();
        assert_eq!(r.total.to_string(), "30000");
        // 10 free hours: (100 - 10) / 672 x 30,000 = 4,017.857... -> 4,018.
        let p = plan(
            Money::zero(krw()),
            vec![(
                "monitoring",
                PriceModel::Hourly {
                    monthly_price: up("30000"),
                },
                "10",
            )],
        );
        let r = rate(
            &p,
            &feb,
            feb.start(),
            feb.end(),
            &[(code("monitoring"), q("100"))],
        )
        .unwrap();
        assert_eq!(r.total.to_string(), "4018");
    }

    #[test]
    fn package_rounds_the_remainder_up() {
        // 500 KRW per 1,000 calls; 2,500 calls = 3 packages = 1,500 KRW; 3,000 calls = 1,500 too.
        let p = plan(
            Money::zero(krw()),
            vec![(
                "api_calls",
                PriceModel::Package {
                    size: dec!(1000),
                    price: up("500"),
                },
                "0",
            )],
        );
        let nov = BillingPeriod::new(2026, 11, kst()).unwrap();
        for (calls, expected) in [
            ("2500", "1500"),
            ("3000", "1500"),
            ("3001", "2000"),
            ("0", "0"),
            ("0.5", "500"),
        ] {
            let r = rate(
                &p,
                &nov,
                nov.start(),
                nov.end(),
                &[(code("api_calls"), q(calls))],
            )
            .unwrap();
            assert_eq!(r.total.to_string(), expected, "{calls} calls");
        }
        // 0.10 USD per GiB-month of peak disk: 5.5 GiB peak = 6 packages = 0.60 USD.
        let p = plan(
            Money::zero(usd()),
            vec![(
                "disk",
                PriceModel::Package {
                    size: dec!(1073741824),
                    price: up("0.10"),
                },
                "0",
            )],
        );
        let bytes = Quantity::new(dec!(5.5) * dec!(1073741824)).unwrap();
        let r = rate(&p, &nov, nov.start(), nov.end(), &[(code("disk"), bytes)]).unwrap();
        assert_eq!(r.total.to_string(), "0.60");
    }

    #[test]
    fn graduated_and_volume_worked_examples() {
        let tiers = vec![
            tier(Some(dec!(10000)), "0.5", "0"),
            tier(Some(dec!(100000)), "0.2", "0"),
            tier(None, "0.1", "0"),
        ];
        let nov = BillingPeriod::new(2026, 11, kst()).unwrap();
        // 1,000 free calls, then 150,000 billable:
        // graduated: 10,000 x 0.5 + 90,000 x 0.2 + 50,000 x 0.1 = 5,000 + 18,000 + 5,000 = 28,000
        // volume:    150,000 x 0.1 = 15,000
        let g = plan(
            Money::zero(krw()),
            vec![(
                "api_calls",
                PriceModel::Graduated {
                    tiers: tiers.clone(),
                },
                "1000",
            )],
        );
        let v = plan(
            Money::zero(krw()),
            vec![("api_calls", PriceModel::Volume { tiers }, "1000")],
        );
        let usage = [(code("api_calls"), q("151000"))];
        assert_eq!(
            rate(&g, &nov, nov.start(), nov.end(), &usage)
                .unwrap()
                .total
                .to_string(),
            "28000"
        );
        assert_eq!(
            rate(&v, &nov, nov.start(), nov.end(), &usage)
                .unwrap()
                .total
                .to_string(),
            "15000"
        );
        // At a bound the lower tier applies: 10,000 billable = 5,000 either way.
        let usage = [(code("api_calls"), q("11000"))];
        assert_eq!(
            rate(&g, &nov, nov.start(), nov.end(), &usage)
                .unwrap()
                .total
                .to_string(),
            "5000"
        );
        assert_eq!(
            rate(&v, &nov, nov.start(), nov.end(), &usage)
                .unwrap()
                .total
                .to_string(),
            "5000"
        );
        // Flat fees: graduated charges each reached tier's, volume the one tier's.
        let flat = vec![
            tier(Some(dec!(100)), "1", "1000"),
            tier(None, "0.5", "3000"),
        ];
        let g = plan(
            Money::zero(krw()),
            vec![(
                "x",
                PriceModel::Graduated {
                    tiers: flat.clone(),
                },
                "0",
            )],
        );
        let v = plan(
            Money::zero(krw()),
            vec![("x", PriceModel::Volume { tiers: flat }, "0")],
        );
        // 300 units. graduated: 1,000 + 100 x 1 + 3,000 + 200 x 0.5 = 4,200; volume: 3,000 + 300 x 0.5 = 3,150
        let usage = [(code("x"), q("300"))];
        assert_eq!(
            rate(&g, &nov, nov.start(), nov.end(), &usage)
                .unwrap()
                .total
                .to_string(),
            "4200"
        );
        assert_eq!(
            rate(&v, &nov, nov.start(), nov.end(), &usage)
                .unwrap()
                .total
                .to_string(),
            "3150"
        );
    }

    #[test]
    fn a_plan_change_prorates_both_base_fees_by_hours() {
        // November 2026 (+09:00): 720 reference hours. Plan A (10,000 KRW) until Nov 11 00:00
        // local = 240 h: 10,000 x 240 / 720 = 3,333.33 -> 3,333. Plan B (30,000 KRW) from then =
        // 480 h: 30,000 x 480 / 720 = 20,000. Together 23,333.
        let nov = BillingPeriod::new(2026, 11, kst()).unwrap();
        let change = datetime!(2026-11-11 00:00 +09:00);
        let a = plan(Money::from_minor(10_000, krw()).unwrap(), vec![]);
        let b = plan(Money::from_minor(30_000, krw()).unwrap(), vec![]);
        let ra = rate(&a, &nov, nov.start(), change, &[]).unwrap();
        let rb = rate(&b, &nov, change, nov.end(), &[]).unwrap();
        assert_eq!(ra.total.to_string(), "3333");
        assert_eq!(rb.total.to_string(), "20000");
        assert_eq!(ra.lines[0].hours, Some(dec!(240)));
        assert_eq!(rb.lines[0].hours, Some(dec!(480)));
        // A project created on Nov 21 12:00 local runs 9.5 days = 228 h:
        // 30,000 x 228 / 720 = 9,500.
        let created = datetime!(2026-11-21 12:00 +09:00);
        let r = rate(&b, &nov, created, nov.end(), &[]).unwrap();
        assert_eq!(r.total.to_string(), "9500");
    }

    #[test]
    fn usage_of_an_unpriced_product_is_shown_at_zero() {
        let p = plan(Money::from_minor(1000, usd()).unwrap(), vec![]);
        let nov = BillingPeriod::new(2026, 11, BillingOffset::UTC).unwrap();
        let r = rate(&p, &nov, nov.start(), nov.end(), &[(code("sms"), q("12"))]).unwrap();
        assert_eq!(r.lines.len(), 2);
        assert_eq!(r.lines[1].amount.to_string(), "0.00");
        assert_eq!(r.lines[1].quantity, Some(q("12")));
        assert_eq!(r.total.to_string(), "10.00");
    }

    #[test]
    fn unit_prices_with_twelve_decimals_round_once_per_line() {
        // 123,456,789 bytes x 0.000000001234 USD = 0.152345677626 -> 0.15 USD
        let p = plan(
            Money::zero(usd()),
            vec![(
                "egress",
                PriceModel::PerUnit {
                    unit_price: up("0.000000001234"),
                },
                "0",
            )],
        );
        let nov = BillingPeriod::new(2026, 11, BillingOffset::UTC).unwrap();
        let r = rate(
            &p,
            &nov,
            nov.start(),
            nov.end(),
            &[(code("egress"), q("123456789"))],
        )
        .unwrap();
        assert_eq!(r.lines[0].exact_amount, dec!(0.152345677626));
        assert_eq!(r.total.to_string(), "0.15");
    }

    fn tiers_strategy(non_decreasing: bool) -> impl Strategy<Value = Vec<Tier>> {
        (
            1usize..5,
            prop::collection::vec(1u32..10_000, 5),
            prop::collection::vec(0u32..100_000, 5),
        )
            .prop_map(move |(n, mut bounds, mut prices)| {
                bounds.truncate(n);
                bounds.sort_unstable();
                bounds.dedup();
                prices.truncate(bounds.len() + 1);
                if non_decreasing {
                    prices.sort_unstable();
                } else {
                    prices.sort_unstable_by(|a, b| b.cmp(a));
                }
                let mut tiers: Vec<Tier> = bounds
                    .iter()
                    .zip(&prices)
                    .map(|(b, p)| Tier {
                        up_to: Some(Decimal::from(*b)),
                        unit_price: UnitPrice::new(Decimal::new(i64::from(*p), 4)).unwrap(),
                        flat_fee: UnitPrice::new(Decimal::ZERO).unwrap(),
                    })
                    .collect();
                let last = prices.get(bounds.len()).copied().unwrap_or(0);
                tiers.push(Tier {
                    up_to: None,
                    unit_price: UnitPrice::new(Decimal::new(i64::from(last), 4)).unwrap(),
                    flat_fee: UnitPrice::new(Decimal::ZERO).unwrap(),
                });
                tiers
            })
    }

    proptest! {
        #[test]
        fn graduated_never_above_volume_when_tier_prices_rise(tiers in tiers_strategy(true), billable in 0u64..50_000) {
            let billable = Decimal::from(billable);
            let g = amount_of(&PriceModel::Graduated { tiers: tiers.clone() }, billable).unwrap();
            let v = amount_of(&PriceModel::Volume { tiers }, billable).unwrap();
            prop_assert!(g <= v, "graduated {} > volume {}", g, v);
        }

        #[test]
        fn graduated_never_below_volume_when_tier_prices_fall(tiers in tiers_strategy(false), billable in 0u64..50_000) {
            let billable = Decimal::from(billable);
            let g = amount_of(&PriceModel::Graduated { tiers: tiers.clone() }, billable).unwrap();
            let v = amount_of(&PriceModel::Volume { tiers }, billable).unwrap();
            prop_assert!(g >= v, "graduated {} < volume {}", g, v);
        }

        #[test]
        fn lines_sum_to_the_total(
            base in 0i64..10_000_000,
            quantities in prop::collection::vec(0u64..10_000_000, 1..4),
            from_h in 0i64..744, len_h in 0i64..744,
            currency in prop::sample::select(vec!["KRW", "USD", "BHD"]),
        ) {
            let c = Currency::parse(currency).unwrap();
            let p = plan(
                Money::from_minor(base, c).unwrap(),
                vec![
                    ("a", PriceModel::PerUnit { unit_price: up("0.000123456789") }, "10"),
                    ("b", PriceModel::Hourly { monthly_price: up("12345.678") }, "0"),
                    ("c", PriceModel::Package { size: dec!(7), price: up("3.3333") }, "1"),
                ],
            );
            let period = BillingPeriod::new(2026, 1, BillingOffset::UTC).unwrap();
            let from = period.start() + time::Duration::hours(from_h);
            let to = from + time::Duration::hours(len_h);
            let usage: Vec<(Code, Quantity)> = ["a", "b", "c"].iter().zip(&quantities)
                .map(|(c, n)| (code(c), Quantity::new(Decimal::from(*n)).unwrap()))
                .collect();
            let r = rate(&p, &period, from, to, &usage).unwrap();
            let sum: i64 = r.lines.iter().map(|l| l.amount.to_minor().unwrap()).sum();
            prop_assert_eq!(r.total.to_minor().unwrap(), sum);
            for line in &r.lines {
                // Each line is its exact amount rounded once.
                prop_assert_eq!(line.amount, Money::round(line.exact_amount, c).unwrap());
            }
        }

        #[test]
        fn hourly_never_costs_more_than_the_monthly_price(
            monthly in 0i64..100_000_000, hours in 0u64..100_000, month in 1u8..=12, year in 2000i32..2100,
        ) {
            let monthly = UnitPrice::new(Decimal::new(monthly, 2)).unwrap();
            let p = plan(Money::zero(usd()), vec![("h", PriceModel::Hourly { monthly_price: monthly }, "0")]);
            let period = BillingPeriod::new(year, month, BillingOffset::UTC).unwrap();
            let r = rate(&p, &period, period.start(), period.end(), &[(code("h"), Quantity::new(Decimal::from(hours)).unwrap())]).unwrap();
            prop_assert!(r.total.amount() <= Money::round(monthly.value(), usd()).unwrap().amount());
        }

        #[test]
        fn a_full_month_of_base_fee_is_the_monthly_fee(
            fee in 0i64..1_000_000_000_000, month in 1u8..=12, year in 2000i32..2100, offset in -840i32..=840,
        ) {
            let offset = BillingOffset::from_minutes(offset).unwrap();
            let p = plan(Money::from_minor(fee, krw()).unwrap(), vec![]);
            let period = BillingPeriod::new(year, month, offset).unwrap();
            let r = rate(&p, &period, period.start(), period.end(), &[]).unwrap();
            prop_assert_eq!(r.total.to_minor().unwrap(), fee);
            // Starting before and ending after the period changes nothing.
            let r = rate(&p, &period, period.start() - time::Duration::days(40), period.end() + time::Duration::days(3), &[]).unwrap();
            prop_assert_eq!(r.total.to_minor().unwrap(), fee);
        }
    }
}
