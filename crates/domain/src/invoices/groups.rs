//! The invoice preview grouped by project or by product (seed 002: "total time, average cost,
//! and total cost" per group).
//!
//! Groups take the rated lines only (usage and base fees); discounts and credits belong to the
//! whole invoice. By product, base fees form a group of their own. A group's **hours** are the
//! billed hours of its hourly-priced usage lines; its **average cost per hour** is what those
//! lines charged divided by those hours, rounded to the minor unit (only where there are hours);
//! its **total** is the sum of its lines, so the groups add up to the usage amount.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use crate::catalog::Code;
use crate::error::DomainError;
use crate::invoices::assembly::{Invoice, InvoiceLineKind};
use crate::money::Money;
use crate::names::ProjectId;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupBy {
    Project,
    Product,
}

/// What a group gathers.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum GroupKey {
    Project(ProjectId),
    Product(Code),
    /// By product: the plans' base fees.
    BaseFees,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub key: GroupKey,
    pub hours: Decimal,
    pub average_cost_per_hour: Option<Money>,
    pub total: Money,
}

/// The invoice's rated lines in groups, ordered by key (base fees last when by product).
pub fn group(invoice: &Invoice, by: GroupBy) -> Result<Vec<Group>, DomainError> {
    let currency = invoice.currency;
    // key -> (hours, cost of the hourly lines, total)
    let mut groups: BTreeMap<GroupKey, (Decimal, Money, Money)> = BTreeMap::new();
    for line in &invoice.lines {
        let Some(rated) = &line.rated else {
            continue;
        };
        let key = match (by, &line.project, line.kind, &rated.product) {
            (GroupBy::Project, Some(project), _, _) => GroupKey::Project(project.clone()),
            (GroupBy::Product, _, InvoiceLineKind::Usage, Some(product)) => {
                GroupKey::Product(product.clone())
            }
            (GroupBy::Product, _, _, _) => GroupKey::BaseFees,
            (GroupBy::Project, None, _, _) => continue,
        };
        let entry = groups.entry(key).or_insert((
            Decimal::ZERO,
            Money::zero(currency),
            Money::zero(currency),
        ));
        entry.2 = entry.2.checked_add(line.amount)?;
        // Hourly usage lines carry the hours they billed; base-fee lines carry the plan's hours,
        // which are not time of use.
        if line.kind == InvoiceLineKind::Usage {
            if let Some(hours) = rated.hours {
                entry.0 += hours;
                entry.1 = entry.1.checked_add(line.amount)?;
            }
        }
    }
    groups
        .into_iter()
        .map(|(key, (hours, hourly_cost, total))| {
            let average_cost_per_hour = if hours > Decimal::ZERO {
                Some(Money::round(hourly_cost.amount() / hours, currency)?)
            } else {
                None
            };
            Ok(Group {
                key,
                hours: hours.normalize(),
                average_cost_per_hour,
                total,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::rating::{Line, LineKind, Rating};
    use crate::invoices::assembly::{assemble, Inputs, ProjectCharges};
    use crate::money::{Currency, TaxRate};

    fn won(n: i64) -> Money {
        Money::from_minor(n, Currency::parse("KRW").unwrap()).unwrap()
    }

    fn line(kind: LineKind, product: Option<&str>, hours: Option<i64>, amount: i64) -> Line {
        Line {
            kind,
            plan: Code::parse("pro").unwrap(),
            product: product.map(|p| Code::parse(p).unwrap()),
            description: String::new(),
            quantity: None,
            free_quantity: None,
            hours: hours.map(Decimal::from),
            reference_hours: hours.map(|_| 720),
            exact_amount: Decimal::from(amount),
            amount: won(amount),
        }
    }

    fn project(n: u8) -> ProjectId {
        ProjectId::parse(&format!("proj_{n:032x}")).unwrap()
    }

    fn invoice() -> Invoice {
        let charges = |n, lines: Vec<Line>| ProjectCharges {
            project: project(n),
            ratings: vec![Rating {
                total: Money::sum(won(0).currency(), lines.iter().map(|l| l.amount)).unwrap(),
                lines,
            }],
        };
        let charges = [
            // Project 1: base fee 96,000 (480 h of the plan: not time of use), monitoring
            // 100 h -> 4,167, api_calls 1,501.
            charges(
                1,
                vec![
                    line(LineKind::BaseFee, None, Some(480), 96_000),
                    line(LineKind::Usage, Some("monitoring"), Some(100), 4_167),
                    line(LineKind::Usage, Some("api_calls"), None, 1_501),
                ],
            ),
            // Project 2: base fee 37,200, monitoring 20 h -> 833.
            charges(
                2,
                vec![
                    line(LineKind::BaseFee, None, Some(372), 37_200),
                    line(LineKind::Usage, Some("monitoring"), Some(20), 833),
                ],
            ),
        ];
        assemble(&Inputs {
            currency: won(0).currency(),
            tax_rate: TaxRate::ZERO,
            charges: &charges,
            discounts: &[],
            credits: &[],
        })
        .unwrap()
    }

    #[test]
    fn by_project() {
        let groups = group(&invoice(), GroupBy::Project).unwrap();
        assert_eq!(
            groups,
            vec![
                // 96,000 + 4,167 + 1,501 = 101,668; 4,167 / 100 h = 41.67 -> 42
                Group {
                    key: GroupKey::Project(project(1)),
                    hours: Decimal::from(100),
                    average_cost_per_hour: Some(won(42)),
                    total: won(101_668),
                },
                // 37,200 + 833 = 38,033; 833 / 20 h = 41.65 -> 42
                Group {
                    key: GroupKey::Project(project(2)),
                    hours: Decimal::from(20),
                    average_cost_per_hour: Some(won(42)),
                    total: won(38_033),
                },
            ]
        );
    }

    #[test]
    fn by_product_with_base_fees_last() {
        let groups = group(&invoice(), GroupBy::Product).unwrap();
        let code = |c: &str| GroupKey::Product(Code::parse(c).unwrap());
        assert_eq!(
            groups,
            vec![
                Group {
                    key: code("api_calls"),
                    hours: Decimal::ZERO,
                    average_cost_per_hour: None,
                    total: won(1_501),
                },
                // 4,167 + 833 = 5,000 over 120 h = 41.666... -> 42
                Group {
                    key: code("monitoring"),
                    hours: Decimal::from(120),
                    average_cost_per_hour: Some(won(42)),
                    total: won(5_000),
                },
                // 96,000 + 37,200
                Group {
                    key: GroupKey::BaseFees,
                    hours: Decimal::ZERO,
                    average_cost_per_hour: None,
                    total: won(133_200),
                },
            ]
        );
        // The groups add up to the usage amount: 1,501 + 5,000 + 133,200 = 139,701.
        assert_eq!(invoice().usage_amount, won(139_701));
    }
}
