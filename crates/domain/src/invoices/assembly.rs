//! The one invoice assembly (SPEC 5): the preview and the finalized invoice call it with the
//! same inputs and get the same invoice.
//!
//! In SPEC's order:
//! 1. **usage amount**: the rated lines of every project (usage and base fees), as
//!    `charge_project` rated them, each already rounded;
//! 2. **discounts**: each active promotion its own negative line, in the order the promotions
//!    were applied (their ids sort by time), each never taking the invoice below zero; a promotion
//!    limited to products takes off only what those products' lines charged;
//! 3. **credit**: available credits soonest expiring first, then the earliest registered, each
//!    its own negative line, up to what is left;
//! 4. **determined amount** = usage amount − discounts − credit;
//! 5. **tax** = determined amount × tax rate, rounded once;
//! 6. **total** = determined amount + tax: what the invoice asks to be paid. The prepaid
//!    balance is not part of the assembly: it pays when the invoice is charged (the balance
//!    first, the card the rest: [`crate::payments::split`]), and a preview shows what it would
//!    pay now ([`crate::payments::forecast`]).
//!
//! Every total is a sum of rounded lines, so the lines always add up. The result does not depend
//! on the order of the inputs: projects, promotions and credits are put in their rule's order
//! first.

use rust_decimal::Decimal;
use time::OffsetDateTime;

use crate::catalog::rating::{Line, LineKind, Rating};
use crate::catalog::Code;
use crate::error::DomainError;
use crate::money::{Currency, Money, TaxRate};
use crate::names::ProjectId;

/// A project's charges for the period: the ratings `charge_project` answered, in time order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProjectCharges {
    pub project: ProjectId,
    pub ratings: Vec<Rating>,
}

/// What a promotion takes off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiscountValue {
    /// A percentage of the amount it applies to, more than 0 and at most 100.
    Percent(Decimal),
    /// A fixed amount, at most the amount it applies to.
    Amount(Money),
}

impl DiscountValue {
    /// A percentage off: more than 0, at most 100, at most 4 decimal places.
    pub fn percent(percent: Decimal) -> Result<Self, DomainError> {
        if percent > Decimal::ZERO && percent <= Decimal::ONE_HUNDRED && percent.scale() <= 4 {
            Ok(DiscountValue::Percent(percent))
        } else {
            Err(DomainError::InvalidDiscount)
        }
    }

    /// A fixed amount off: more than zero.
    pub fn amount(amount: Money) -> Result<Self, DomainError> {
        if amount.is_negative() || amount.is_zero() {
            Err(DomainError::InvalidDiscount)
        } else {
            Ok(DiscountValue::Amount(amount))
        }
    }
}

/// An active promotion of the account, for this period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Discount {
    /// The applied promotion's id: ids sort by the time they were applied.
    pub id: String,
    pub description: String,
    pub value: DiscountValue,
    /// Only these products' lines, when set; else the whole usage amount.
    pub products: Option<Vec<Code>>,
}

/// A registered credit with what is still available of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credit {
    pub id: String,
    pub name: String,
    pub available: Money,
    pub expires_at: OffsetDateTime,
    pub registered_at: OffsetDateTime,
}

/// Everything an invoice is made of.
#[derive(Clone, Debug)]
pub struct Inputs<'a> {
    pub currency: Currency,
    pub tax_rate: TaxRate,
    pub charges: &'a [ProjectCharges],
    pub discounts: &'a [Discount],
    pub credits: &'a [Credit],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InvoiceLineKind {
    BaseFee,
    Usage,
    Discount,
    Credit,
}

/// One line of an invoice: a rated line of a project, or a discount or credit (negative).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvoiceLine {
    pub kind: InvoiceLineKind,
    pub project: Option<ProjectId>,
    /// The rated line behind a usage or base-fee line: plan, product, quantity, hours, price.
    pub rated: Option<Line>,
    /// The promotion or credit behind a discount or credit line.
    pub reference: Option<String>,
    pub description: String,
    pub amount: Money,
}

/// An assembled invoice: its lines and every total of SPEC's order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invoice {
    pub currency: Currency,
    pub lines: Vec<InvoiceLine>,
    pub usage_amount: Money,
    /// What the promotions took off (zero or more; the lines carry it negative).
    pub discount: Money,
    /// What the credits took off (zero or more; the lines carry it negative).
    pub credit: Money,
    pub determined_amount: Money,
    pub tax_rate: TaxRate,
    pub tax: Money,
    /// Determined amount + tax: what the invoice asks to be paid, by the prepaid balance and the
    /// card together.
    pub total: Money,
}

impl Invoice {
    /// What each credit gave to this invoice (credit id, amount), for the credit ledger.
    pub fn credit_used(&self) -> impl Iterator<Item = (&str, Money)> {
        self.consumed(InvoiceLineKind::Credit)
    }

    /// What each promotion took off this invoice (promotion id, amount).
    pub fn discount_given(&self) -> impl Iterator<Item = (&str, Money)> {
        self.consumed(InvoiceLineKind::Discount)
    }

    fn consumed(&self, kind: InvoiceLineKind) -> impl Iterator<Item = (&str, Money)> {
        self.lines
            .iter()
            .filter(move |l| l.kind == kind)
            .filter_map(|l| Some((l.reference.as_deref()?, l.amount.negate())))
    }
}

/// Builds the invoice (see the module's documentation for the order).
pub fn assemble(inputs: &Inputs<'_>) -> Result<Invoice, DomainError> {
    let currency = inputs.currency;
    let zero = Money::zero(currency);

    // 1. Usage amount: the projects' rated lines, projects in id order.
    let mut charges: Vec<&ProjectCharges> = inputs.charges.iter().collect();
    charges.sort_by(|a, b| a.project.as_str().cmp(b.project.as_str()));
    let mut lines: Vec<InvoiceLine> = Vec::new();
    for charge in charges {
        for line in charge.ratings.iter().flat_map(|r| r.lines.iter()) {
            lines.push(InvoiceLine {
                kind: match line.kind {
                    LineKind::BaseFee => InvoiceLineKind::BaseFee,
                    LineKind::Usage => InvoiceLineKind::Usage,
                },
                project: Some(charge.project.clone()),
                rated: Some(line.clone()),
                reference: None,
                description: line.description.clone(),
                amount: line.amount,
            });
        }
    }
    let usage_amount = Money::sum(currency, lines.iter().map(|l| l.amount))?;
    if usage_amount.is_negative() {
        return Err(DomainError::NegativeAmount);
    }

    // 2. Discounts, in the order they were applied, never below zero.
    let mut discounts: Vec<&Discount> = inputs.discounts.iter().collect();
    discounts.sort_by(|a, b| a.id.cmp(&b.id));
    let mut left = usage_amount;
    let mut discount = zero;
    for promotion in discounts {
        let base = match &promotion.products {
            None => usage_amount,
            Some(products) => Money::sum(
                currency,
                lines
                    .iter()
                    .filter(|l| l.kind == InvoiceLineKind::Usage)
                    .filter(|l| {
                        l.rated
                            .as_ref()
                            .and_then(|r| r.product.as_ref())
                            .is_some_and(|p| products.contains(p))
                    })
                    .map(|l| l.amount),
            )?,
        };
        let off = match promotion.value {
            DiscountValue::Percent(percent) => {
                DiscountValue::percent(percent)?;
                Money::round(base.amount() * percent / Decimal::ONE_HUNDRED, currency)?
            }
            DiscountValue::Amount(amount) => {
                if amount.is_negative() {
                    return Err(DomainError::NegativeAmount);
                }
                amount.min(base)?
            }
        }
        .min(left)?;
        if off.is_zero() {
            continue;
        }
        left = left.checked_sub(off)?;
        discount = discount.checked_add(off)?;
        lines.push(InvoiceLine {
            kind: InvoiceLineKind::Discount,
            project: None,
            rated: None,
            reference: Some(promotion.id.clone()),
            description: promotion.description.clone(),
            amount: off.negate(),
        });
    }

    // 3. Credit: soonest expiring first, then the earliest registered, up to what is left.
    let mut credits: Vec<&Credit> = inputs.credits.iter().collect();
    credits.sort_by(|a, b| {
        (a.expires_at, a.registered_at, &a.id).cmp(&(b.expires_at, b.registered_at, &b.id))
    });
    let mut credit = zero;
    for available in credits {
        if available.available.is_negative() {
            return Err(DomainError::NegativeAmount);
        }
        let used = available.available.min(left)?;
        if used.is_zero() {
            continue;
        }
        left = left.checked_sub(used)?;
        credit = credit.checked_add(used)?;
        lines.push(InvoiceLine {
            kind: InvoiceLineKind::Credit,
            project: None,
            rated: None,
            reference: Some(available.id.clone()),
            description: available.name.clone(),
            amount: used.negate(),
        });
    }

    // 4-6. Determined amount, tax, total.
    let determined_amount = Money::sum(currency, lines.iter().map(|l| l.amount))?;
    let tax = inputs.tax_rate.tax_on(determined_amount)?;
    let total = determined_amount.checked_add(tax)?;
    Ok(Invoice {
        currency,
        lines,
        usage_amount,
        discount,
        credit,
        determined_amount,
        tax_rate: inputs.tax_rate,
        tax,
        total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::rating::Line;
    use proptest::prelude::*;
    use time::macros::datetime;

    fn krw() -> Currency {
        Currency::parse("KRW").unwrap()
    }

    fn usd() -> Currency {
        Currency::parse("USD").unwrap()
    }

    fn code(s: &str) -> Code {
        Code::parse(s).unwrap()
    }

    fn project(n: u8) -> ProjectId {
        ProjectId::parse(&format!("proj_{:032x}", n)).unwrap()
    }

    fn line(kind: LineKind, product: Option<&str>, amount: Money) -> Line {
        Line {
            kind,
            plan: code("pro"),
            product: product.map(code),
            description: product.unwrap_or("base fee").to_owned(),
            quantity: None,
            free_quantity: None,
            hours: None,
            reference_hours: None,
            exact_amount: amount.amount(),
            amount,
        }
    }

    fn charges(project_id: ProjectId, lines: Vec<Line>) -> ProjectCharges {
        let currency = lines.first().map(|l| l.amount.currency()).unwrap_or(krw());
        let total = Money::sum(currency, lines.iter().map(|l| l.amount)).unwrap();
        ProjectCharges {
            project: project_id,
            ratings: vec![Rating { lines, total }],
        }
    }

    fn won(n: i64) -> Money {
        Money::from_minor(n, krw()).unwrap()
    }

    fn cents(n: i64) -> Money {
        Money::from_minor(n, usd()).unwrap()
    }

    #[test]
    fn the_order_of_spec_5_in_won() {
        // Project 1: base fee 5,000 + api_calls 1,200 + disk 3,800 = 10,000.
        // Project 2: base fee 5,000.                        Usage amount: 15,000.
        let charges = [
            charges(
                project(1),
                vec![
                    line(LineKind::BaseFee, None, won(5_000)),
                    line(LineKind::Usage, Some("api_calls"), won(1_200)),
                    line(LineKind::Usage, Some("disk"), won(3_800)),
                ],
            ),
            charges(project(2), vec![line(LineKind::BaseFee, None, won(5_000))]),
        ];
        // Promotions in the order applied: 10 % of 15,000 = 1,500; then 2,000 off api_calls,
        // which charged only 1,200: 1,200.                      Discount: 2,700.
        let discounts = [
            Discount {
                id: "promo_b".into(),
                description: "2,000 off API calls".into(),
                value: DiscountValue::Amount(won(2_000)),
                products: Some(vec![code("api_calls")]),
            },
            Discount {
                id: "promo_a".into(),
                description: "10 % off".into(),
                value: DiscountValue::Percent(Decimal::TEN),
                products: None,
            },
        ];
        // Credits: "soon" (3,000, expires first) is used whole, then "later" gives what is left:
        // 15,000 - 2,700 - 3,000 = 9,300, of its 20,000.   Credit: 12,300.
        let credits = [
            Credit {
                id: "credit_later".into(),
                name: "Welcome".into(),
                available: won(20_000),
                expires_at: datetime!(2027-06-01 0:00 UTC),
                registered_at: datetime!(2026-01-01 0:00 UTC),
            },
            Credit {
                id: "credit_soon".into(),
                name: "Event".into(),
                available: won(3_000),
                expires_at: datetime!(2026-12-01 0:00 UTC),
                registered_at: datetime!(2026-06-01 0:00 UTC),
            },
        ];
        let invoice = assemble(&Inputs {
            currency: krw(),
            tax_rate: TaxRate::parse("0.1").unwrap(),
            charges: &charges,
            discounts: &discounts,
            credits: &credits,
        })
        .unwrap();
        assert_eq!(invoice.usage_amount, won(15_000));
        assert_eq!(invoice.discount, won(2_700));
        assert_eq!(invoice.credit, won(12_300));
        // 15,000 - 2,700 - 12,300 = 0: no tax, nothing to pay.
        assert_eq!(invoice.determined_amount, won(0));
        assert_eq!(invoice.tax, won(0));
        assert_eq!(invoice.total, won(0));
        let used: Vec<(&str, Money)> = invoice.credit_used().collect();
        assert_eq!(
            used,
            vec![("credit_soon", won(3_000)), ("credit_later", won(9_300))]
        );
        let given: Vec<(&str, Money)> = invoice.discount_given().collect();
        assert_eq!(
            given,
            vec![("promo_a", won(1_500)), ("promo_b", won(1_200))]
        );
    }

    #[test]
    fn discount_credit_then_tax_in_dollars() {
        // Usage: 12.34 + 7.66 = 20.00; 5 % off = 1.00; credit 4.00; determined 15.00.
        // Tax 10 % = 1.50; total 16.50.
        let charges = [charges(
            project(7),
            vec![
                line(LineKind::BaseFee, None, cents(1_234)),
                line(LineKind::Usage, Some("api_calls"), cents(766)),
            ],
        )];
        let discounts = [Discount {
            id: "promo".into(),
            description: "5 % off".into(),
            value: DiscountValue::Percent(Decimal::from(5)),
            products: None,
        }];
        let credits = [Credit {
            id: "c".into(),
            name: "Credit".into(),
            available: cents(400),
            expires_at: datetime!(2027-01-01 0:00 UTC),
            registered_at: datetime!(2026-01-01 0:00 UTC),
        }];
        let invoice = assemble(&Inputs {
            currency: usd(),
            tax_rate: TaxRate::parse("0.1").unwrap(),
            charges: &charges,
            discounts: &discounts,
            credits: &credits,
        })
        .unwrap();
        assert_eq!(invoice.usage_amount, cents(2_000));
        assert_eq!(invoice.discount, cents(100));
        assert_eq!(invoice.credit, cents(400));
        assert_eq!(invoice.determined_amount, cents(1_500));
        assert_eq!(invoice.tax, cents(150));
        assert_eq!(invoice.total, cents(1_650));
    }

    #[test]
    fn a_percent_discount_is_rounded_once_as_a_line() {
        // 33.33 % of 1,001 won = 333.6333 -> 334 won (half away from zero, KRW has no minor unit).
        let charges = [charges(
            project(1),
            vec![line(LineKind::Usage, Some("api_calls"), won(1_001))],
        )];
        let discounts = [Discount {
            id: "p".into(),
            description: "a third off".into(),
            value: DiscountValue::Percent(Decimal::new(3333, 2)),
            products: None,
        }];
        let invoice = assemble(&Inputs {
            currency: krw(),
            tax_rate: TaxRate::ZERO,
            charges: &charges,
            discounts: &discounts,
            credits: &[],
        })
        .unwrap();
        assert_eq!(invoice.discount, won(334));
        assert_eq!(invoice.determined_amount, won(667));
    }

    #[test]
    fn nothing_to_charge_is_a_zero_invoice() {
        let invoice = assemble(&Inputs {
            currency: krw(),
            tax_rate: TaxRate::parse("0.1").unwrap(),
            charges: &[],
            discounts: &[],
            credits: &[],
        })
        .unwrap();
        assert!(invoice.lines.is_empty());
        assert_eq!(invoice.total, won(0));
    }

    #[test]
    fn bad_inputs_are_refused() {
        let discount = |value| Discount {
            id: "d".into(),
            description: "d".into(),
            value,
            products: None,
        };
        let charges = [charges(
            project(1),
            vec![line(LineKind::Usage, Some("x"), won(100))],
        )];
        for value in [
            DiscountValue::Percent(Decimal::ZERO),
            DiscountValue::Percent(Decimal::from(101)),
        ] {
            let result = assemble(&Inputs {
                currency: krw(),
                tax_rate: TaxRate::ZERO,
                charges: &charges,
                discounts: &[discount(value)],
                credits: &[],
            });
            assert_eq!(result, Err(DomainError::InvalidDiscount));
        }
        let overdrawn = Credit {
            id: "c".into(),
            name: "Credit".into(),
            available: won(-1),
            expires_at: datetime!(2027-01-01 0:00 UTC),
            registered_at: datetime!(2026-01-01 0:00 UTC),
        };
        let result = assemble(&Inputs {
            currency: krw(),
            tax_rate: TaxRate::ZERO,
            charges: &charges,
            discounts: &[],
            credits: &[overdrawn],
        });
        assert_eq!(result, Err(DomainError::NegativeAmount));
        // An amount of another currency cannot be combined.
        let result = assemble(&Inputs {
            currency: krw(),
            tax_rate: TaxRate::ZERO,
            charges: &charges,
            discounts: &[discount(DiscountValue::Amount(cents(100)))],
            credits: &[],
        });
        assert!(matches!(result, Err(DomainError::CurrencyMismatch { .. })));
    }

    // --- Properties ----------------------------------------------------------------------------

    const PRODUCTS: [&str; 3] = ["api_calls", "disk", "hours"];

    fn arb_charges() -> impl Strategy<Value = Vec<ProjectCharges>> {
        let line = (0usize..4, 0i64..2_000_000).prop_map(|(p, minor)| {
            if p == 3 {
                line(LineKind::BaseFee, None, won(minor))
            } else {
                line(LineKind::Usage, Some(PRODUCTS[p]), won(minor))
            }
        });
        proptest::collection::btree_map(0u8..20, proptest::collection::vec(line, 0..5), 0..5)
            .prop_map(|projects| {
                projects
                    .into_iter()
                    .map(|(n, lines)| charges(project(n), lines))
                    .collect()
            })
    }

    fn arb_discounts() -> impl Strategy<Value = Vec<Discount>> {
        let value = prop_oneof![
            (1i64..=10_000).prop_map(|bp| DiscountValue::Percent(Decimal::new(bp, 2))),
            (0i64..3_000_000).prop_map(|minor| DiscountValue::Amount(won(minor))),
        ];
        let products = proptest::option::of(proptest::sample::subsequence(PRODUCTS.to_vec(), 1..3));
        proptest::collection::btree_map(0u16..1000, (value, products), 0..4).prop_map(|m| {
            m.into_iter()
                .map(|(id, (value, products))| Discount {
                    id: format!("promo_{id:04}"),
                    description: "promotion".into(),
                    value,
                    products: products.map(|ps| ps.into_iter().map(code).collect()),
                })
                .collect()
        })
    }

    fn arb_credits() -> impl Strategy<Value = Vec<Credit>> {
        let credit = (0i64..5_000_000, 0i64..400, 0i64..400);
        proptest::collection::btree_map(0u16..1000, credit, 0..4).prop_map(|m| {
            m.into_iter()
                .map(|(id, (minor, expires, registered))| Credit {
                    id: format!("credit_{id:04}"),
                    name: "credit".into(),
                    available: won(minor),
                    expires_at: datetime!(2027-01-01 0:00 UTC) + time::Duration::days(expires),
                    registered_at: datetime!(2026-01-01 0:00 UTC)
                        + time::Duration::days(registered),
                })
                .collect()
        })
    }

    fn sum_of(invoice: &Invoice, kinds: &[InvoiceLineKind]) -> Money {
        Money::sum(
            invoice.currency,
            invoice
                .lines
                .iter()
                .filter(|l| kinds.contains(&l.kind))
                .map(|l| l.amount),
        )
        .unwrap()
    }

    proptest! {
        #[test]
        fn lines_add_up_nothing_is_negative_and_nothing_is_overdrawn(
            charges in arb_charges(),
            discounts in arb_discounts(),
            credits in arb_credits(),
            tax_basis_points in 0i64..=10_000,
        ) {
            let invoice = assemble(&Inputs {
                currency: krw(),
                tax_rate: TaxRate::new(Decimal::new(tax_basis_points, 4)).unwrap(),
                charges: &charges,
                discounts: &discounts,
                credits: &credits,
            }).unwrap();
            use InvoiceLineKind::*;
            // The lines sum to every total.
            prop_assert_eq!(invoice.usage_amount, sum_of(&invoice, &[BaseFee, Usage]));
            prop_assert_eq!(invoice.discount.negate(), sum_of(&invoice, &[Discount]));
            prop_assert_eq!(invoice.credit.negate(), sum_of(&invoice, &[Credit]));
            prop_assert_eq!(
                invoice.determined_amount,
                sum_of(&invoice, &[BaseFee, Usage, Discount, Credit])
            );
            prop_assert_eq!(invoice.total, invoice.determined_amount.checked_add(invoice.tax).unwrap());
            // No total is negative.
            for total in [
                invoice.usage_amount, invoice.discount, invoice.credit, invoice.determined_amount,
                invoice.tax, invoice.total,
            ] {
                prop_assert!(!total.is_negative(), "{:?}", invoice);
            }
            // No step consumes more than is available.
            for (id, used) in invoice.credit_used() {
                let credit = credits.iter().find(|c| c.id == id).unwrap();
                prop_assert!(used.amount() > Decimal::ZERO);
                prop_assert!(used.amount() <= credit.available.amount());
            }
            for (id, given) in invoice.discount_given() {
                let promotion = discounts.iter().find(|d| d.id == id).unwrap();
                if let DiscountValue::Amount(amount) = promotion.value {
                    prop_assert!(given.amount() <= amount.amount());
                }
            }
            // A credit is only left unused when nothing was left to pay with it.
            let used_ids: Vec<&str> = invoice.credit_used().map(|(id, _)| id).collect();
            if credits.iter().any(|c| !c.available.is_zero() && !used_ids.contains(&c.id.as_str())) {
                prop_assert!(invoice.determined_amount.is_zero());
            }
        }

        #[test]
        fn the_order_of_the_inputs_does_not_matter(
            (charges, shuffled_charges, discounts, shuffled_discounts, credits, shuffled_credits) in
                (arb_charges(), arb_discounts(), arb_credits()).prop_flat_map(|(c, d, k)| (
                    Just(c.clone()), Just(c).prop_shuffle(),
                    Just(d.clone()), Just(d).prop_shuffle(),
                    Just(k.clone()), Just(k).prop_shuffle(),
                )),
        ) {
            let invoice = |charges: &[ProjectCharges], discounts: &[Discount], credits: &[Credit]| {
                assemble(&Inputs {
                    currency: krw(),
                    tax_rate: TaxRate::parse("0.1").unwrap(),
                    charges,
                    discounts,
                    credits,
                }).unwrap()
            };
            prop_assert_eq!(
                invoice(&shuffled_charges, &shuffled_discounts, &shuffled_credits),
                invoice(&charges, &discounts, &credits)
            );
        }
    }
}
