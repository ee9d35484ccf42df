//! Reading usage back from rollups (docs/usage.md): each product's quantity over any span of
//! hours, cut at the account's midnight, and a project's rated charges for a period with the
//! billing summary of seed 000 (total, base fee, disk usage fee, API usage fee).
//!
//! Reads never touch raw events. Whole local days come from daily rollups and only the hours of
//! a day split by a plan change come from hourly ones, so a month costs at most 31 rows per
//! project and product plus 48 per plan change, whether it holds ten events or ten million.
//! An hour's usage belongs to the plan in force when that hour starts.

use std::collections::{BTreeMap, HashMap};

use rust_decimal::Decimal;
use time::OffsetDateTime;

use crate::catalog::rating::{rate, LineKind, Rating};
use crate::catalog::QUANTITY_SCALE;
use crate::catalog::{plan_spans, Aggregation, Code, FeeGroup, Plan, PlanAssignment, Quantity};
use crate::error::DomainError;
use crate::money::{Currency, Money};
use crate::period::{BillingOffset, BillingPeriod};
use crate::usage::{run_starts, Grain, Rollup};

/// A product's usage over a span: its aggregated quantity and how many events made it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Totals {
    pub quantity: Quantity,
    pub event_count: i64,
}

/// The usage in `rollups` of a product aggregated by `aggregation`; `None` when there is none.
/// A `sum` past the largest quantity is an error, never a wrapped number.
pub fn total<'r>(
    aggregation: Aggregation,
    rollups: impl IntoIterator<Item = &'r Rollup>,
) -> Result<Option<Totals>, DomainError> {
    let mut sum: i128 = 0;
    let mut max: Option<i64> = None;
    let mut latest: Option<(OffsetDateTime, i64)> = None;
    let mut event_count: i64 = 0;
    for r in rollups {
        sum += i128::from(r.sum_micros);
        max = Some(max.map_or(r.max_micros, |m| m.max(r.max_micros)));
        let candidate = (r.latest_at, r.latest_micros);
        latest = Some(latest.map_or(candidate, |l| l.max(candidate)));
        event_count = event_count.saturating_add(r.event_count);
    }
    let (Some(max), Some((_, latest))) = (max, latest) else {
        return Ok(None);
    };
    let micros = match aggregation {
        Aggregation::Sum => sum,
        Aggregation::Max => i128::from(max),
        Aggregation::Latest => i128::from(latest),
    };
    let quantity = Quantity::new(
        Decimal::try_from_i128_with_scale(micros, QUANTITY_SCALE)
            .map_err(|_| DomainError::QuantityOutOfRange)?,
    )?;
    Ok(Some(Totals {
        quantity,
        event_count,
    }))
}

/// Where the usage of `[from, to)` is read: the whole local days inside it from daily rollups,
/// the hours at its edges from hourly ones. Together they hold exactly the hour buckets that
/// start inside `[from, to)`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Sources {
    /// Daily rollups starting in `[start, end)`.
    pub days: Option<(OffsetDateTime, OffsetDateTime)>,
    /// Hourly rollups starting in each `[start, end)`.
    pub hours: Vec<(OffsetDateTime, OffsetDateTime)>,
}

pub fn sources(from: OffsetDateTime, to: OffsetDateTime, offset: BillingOffset) -> Sources {
    let first_hour = Grain::Hour.ceil(from, offset);
    let end_hour = Grain::Hour.ceil(to, offset);
    if first_hour >= end_hour {
        return Sources {
            days: None,
            hours: Vec::new(),
        };
    }
    let first_day = Grain::Day.ceil(first_hour, offset);
    let end_day = Grain::Day.bucket(end_hour, offset);
    if first_day >= end_day {
        return Sources {
            days: None,
            hours: vec![(first_hour, end_hour)],
        };
    }
    let hours = [(first_hour, first_day), (end_day, end_hour)]
        .into_iter()
        .filter(|(start, end)| start < end)
        .collect();
    Sources {
        days: Some((first_day, end_day)),
        hours,
    }
}

/// One project's rollups as read for a period, per product: daily and (where needed) hourly, or
/// the rollups of its plan runs (see [`crate::usage::run_starts`]).
#[derive(Clone, Default, PartialEq, Eq, Debug)]
pub struct ProjectRollups {
    pub days: BTreeMap<(Code, OffsetDateTime), Rollup>,
    pub hours: BTreeMap<(Code, OffsetDateTime), Rollup>,
    /// Keyed by product and `[start, end)`: the hour buckets starting in it. A read fills spans
    /// or days and hours for a stretch of time, never both, and asks [`Self::totals`] only for
    /// stretches whose edges are the spans' edges.
    pub spans: BTreeMap<(Code, OffsetDateTime, OffsetDateTime), Rollup>,
}

impl ProjectRollups {
    /// Each product's usage over `[from, to)`. `aggregation` tells each product's aggregation;
    /// rollups of products it does not know are skipped.
    pub fn totals(
        &self,
        from: OffsetDateTime,
        to: OffsetDateTime,
        offset: BillingOffset,
        aggregation: impl Fn(&Code) -> Option<Aggregation>,
    ) -> Result<BTreeMap<Code, Totals>, DomainError> {
        let src = sources(from, to, offset);
        let mut picked: BTreeMap<&Code, Vec<&Rollup>> = BTreeMap::new();
        if let Some((start, end)) = src.days {
            for ((code, day), rollup) in &self.days {
                if *day >= start && *day < end {
                    picked.entry(code).or_default().push(rollup);
                }
            }
        }
        for (start, end) in &src.hours {
            for ((code, hour), rollup) in &self.hours {
                if hour >= start && hour < end {
                    picked.entry(code).or_default().push(rollup);
                }
            }
        }
        let first_hour = Grain::Hour.ceil(from, offset);
        let end_hour = Grain::Hour.ceil(to, offset);
        for ((code, start, end), rollup) in &self.spans {
            if *start >= first_hour && *end <= end_hour {
                picked.entry(code).or_default().push(rollup);
            }
        }
        let mut totals = BTreeMap::new();
        for (code, rollups) in picked {
            let Some(aggregation) = aggregation(code) else {
                continue;
            };
            if let Some(t) = total(aggregation, rollups)? {
                totals.insert(code.clone(), t);
            }
        }
        Ok(totals)
    }
}

/// The plans a project was on during `period`, each with the part of the period it was in force,
/// in time order; nothing after the project was closed.
pub fn billed_spans(
    period: &BillingPeriod,
    assignments: &[PlanAssignment],
    closed_at: Option<OffsetDateTime>,
) -> Vec<(Code, OffsetDateTime, OffsetDateTime)> {
    let end = closed_at.map_or(period.end(), |c| c.clamp(period.start(), period.end()));
    plan_spans(assignments, period.start(), end)
}

/// The days of `period` cut into runs that a read may merge into one rollup each, for a
/// project's charges: no run crosses the start or end of a billed span (a plan change, a
/// closing), and a day such an instant splits is a run of its own (its hours are read as well).
/// Every span's whole days are then whole runs, and every run starts on a local midnight, so
/// runs keyed by their first day give [`ProjectRollups::totals`] exactly what the days would.
pub fn day_runs(
    period: &BillingPeriod,
    assignments: &[PlanAssignment],
    closed_at: Option<OffsetDateTime>,
) -> Vec<(OffsetDateTime, OffsetDateTime)> {
    let cuts: Vec<OffsetDateTime> = billed_spans(period, assignments, closed_at)
        .into_iter()
        .flat_map(|(_, from, to)| [from, to])
        .collect();
    let mut runs = Vec::new();
    let mut current: Option<(OffsetDateTime, OffsetDateTime)> = None;
    let mut day = period.start();
    while day < period.end() {
        let next = day + Grain::Day.length();
        let split = cuts.iter().any(|c| day < *c && *c < next);
        let starts_at_cut = cuts.contains(&day);
        if split || starts_at_cut {
            runs.extend(current.take());
        }
        if split {
            runs.push((day, next));
        } else {
            current = Some(current.map_or((day, next), |(from, _)| (from, next)));
        }
        day = next;
    }
    runs.extend(current);
    runs
}

/// The hour ranges whose hourly rollups a project's charges for `period` need (the edges of its
/// plan spans that split a day).
pub fn hour_ranges_needed(
    period: &BillingPeriod,
    assignments: &[PlanAssignment],
    closed_at: Option<OffsetDateTime>,
) -> Vec<(OffsetDateTime, OffsetDateTime)> {
    billed_spans(period, assignments, closed_at)
        .into_iter()
        .flat_map(|(_, from, to)| sources(from, to, period.offset()).hours)
        .collect()
}

/// Where a project's usage of a period is read for its charges, so that every billed span's
/// totals (and the whole period's) come out exact.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum PeriodSource {
    /// Nothing cuts the period: its month rollup, read as a run of all its days.
    Month,
    /// Plan changes cut it and no closing does: the rollups of its plan runs, which start at
    /// these instants ([`run_starts`]), each read as a span up to the next (the last up to the
    /// period's end).
    Runs(Vec<OffsetDateTime>),
    /// A closing cuts it: its days in runs ([`day_runs`]) and the hours of the days a plan
    /// change or the closing splits ([`hour_ranges_needed`]).
    Pieces {
        days: Vec<(OffsetDateTime, OffsetDateTime)>,
        hours: Vec<(OffsetDateTime, OffsetDateTime)>,
    },
}

/// How `period` of a project with these plan changes, closed at `closed_at` if ever, is read.
/// Run rollups hold every hour of their runs, so they serve only where no closing cuts the
/// period (nothing is charged after a closing).
pub fn period_source(
    period: &BillingPeriod,
    assignments: &[PlanAssignment],
    closed_at: Option<OffsetDateTime>,
) -> PeriodSource {
    let closes_inside = closed_at.is_some_and(|c| period.start() < c && c < period.end());
    let runs = run_starts(period, assignments);
    if !closes_inside && !runs.is_empty() {
        return PeriodSource::Runs(runs);
    }
    let days = day_runs(period, assignments, closed_at);
    let hours = hour_ranges_needed(period, assignments, closed_at);
    if hours.is_empty() && days == [(period.start(), period.end())] {
        PeriodSource::Month
    } else {
        PeriodSource::Pieces { days, hours }
    }
}

/// A project's charges for a period: one rating per plan it was on, in time order. Each plan
/// rates the usage of the hours it was in force, its base fee prorated by those hours; nothing
/// is charged after the project was closed.
pub fn charge_project(
    period: &BillingPeriod,
    assignments: &[PlanAssignment],
    closed_at: Option<OffsetDateTime>,
    plans: &HashMap<Code, Plan>,
    rollups: &ProjectRollups,
    aggregation: impl Fn(&Code) -> Option<Aggregation>,
) -> Result<Vec<Rating>, DomainError> {
    billed_spans(period, assignments, closed_at)
        .into_iter()
        .map(|(code, from, to)| {
            let plan = plans.get(&code).ok_or(DomainError::UnknownPlan)?;
            let usage: Vec<(Code, Quantity)> = rollups
                .totals(from, to, period.offset(), &aggregation)?
                .into_iter()
                .map(|(product, t)| (product, t.quantity))
                .collect();
            rate(plan, period, from, to, &usage)
        })
        .collect()
}

/// What one product was charged across a project's ratings: the sum of its rounded lines.
pub fn charged_for(
    currency: Currency,
    ratings: &[Rating],
    product: &Code,
) -> Result<Money, DomainError> {
    Money::sum(
        currency,
        ratings
            .iter()
            .flat_map(|r| r.lines.iter())
            .filter(|l| l.product.as_ref() == Some(product))
            .map(|l| l.amount),
    )
}

/// A project's billing summary (seed 000): the base fee, the usage fees by fee group, and their
/// total. The parts always add up to the total: each is a sum of rounded lines.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Summary {
    pub total: Money,
    pub base_fee: Money,
    pub api_usage_fee: Money,
    pub disk_usage_fee: Money,
    pub other_usage_fee: Money,
}

pub fn summarize(
    currency: Currency,
    ratings: &[Rating],
    fee_group: impl Fn(&Code) -> FeeGroup,
) -> Result<Summary, DomainError> {
    let lines = || ratings.iter().flat_map(|r| r.lines.iter());
    let part = |wanted: Option<FeeGroup>| {
        Money::sum(
            currency,
            lines()
                .filter(|l| match (l.kind, &l.product, wanted) {
                    (LineKind::BaseFee, _, None) => true,
                    (LineKind::Usage, Some(product), Some(group)) => fee_group(product) == group,
                    _ => false,
                })
                .map(|l| l.amount),
        )
    };
    Ok(Summary {
        total: Money::sum(currency, lines().map(|l| l.amount))?,
        base_fee: part(None)?,
        api_usage_fee: part(Some(FeeGroup::Api))?,
        disk_usage_fee: part(Some(FeeGroup::Disk))?,
        other_usage_fee: part(Some(FeeGroup::Other))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Price, PriceModel};
    use crate::money::UnitPrice;
    use crate::names::{CatalogName, ProjectId};
    use crate::usage::{day_bucket, hour_bucket, run_of, run_starts, runs_of_hours};
    use proptest::prelude::*;
    use time::macros::datetime;
    use time::Duration;

    fn code(s: &str) -> Code {
        Code::parse(s).unwrap()
    }

    fn rollup(micros: i64, at: OffsetDateTime) -> Rollup {
        Rollup {
            sum_micros: micros,
            max_micros: micros,
            latest_micros: micros,
            latest_at: at,
            event_count: 1,
        }
    }

    fn merged(a: Rollup, b: Rollup) -> Rollup {
        a.merge(&b).unwrap()
    }

    /// Daily and hourly rollups of hourly readings, as ingestion keeps them.
    fn rollups_of(
        readings: &[(&str, OffsetDateTime, i64)],
        offset: BillingOffset,
    ) -> ProjectRollups {
        let mut r = ProjectRollups::default();
        for (product, at, micros) in readings {
            let one = rollup(*micros, *at);
            for (map, start) in [
                (&mut r.days, day_bucket(*at, offset)),
                (&mut r.hours, hour_bucket(*at, offset)),
            ] {
                let key = (code(product), start);
                let next = map.get(&key).map_or(one, |e| merged(*e, one));
                map.insert(key, next);
            }
        }
        r
    }

    #[test]
    fn totals_follow_the_aggregation() {
        let at = datetime!(2026-11-23 10:00 UTC);
        let r = [
            rollup(5_000_000, at),
            rollup(2_000_000, at + Duration::HOUR),
            rollup(3_500_000, at - Duration::HOUR),
        ];
        let q = |a| total(a, &r).unwrap().unwrap().quantity.to_string();
        assert_eq!(q(Aggregation::Sum), "10.5");
        assert_eq!(q(Aggregation::Max), "5");
        assert_eq!(q(Aggregation::Latest), "2");
        assert_eq!(total(Aggregation::Sum, &r).unwrap().unwrap().event_count, 3);
        assert_eq!(total(Aggregation::Sum, &[]).unwrap(), None);
        // Buckets that each fit may not fit together: a clear error, never a wrapped number.
        let full = [rollup(i64::MAX, at), rollup(1, at)];
        assert_eq!(
            total(Aggregation::Sum, &full),
            Err(DomainError::QuantityOutOfRange)
        );
        assert!(total(Aggregation::Max, &full).is_ok());
    }

    #[test]
    fn whole_days_come_from_daily_rollups_and_split_days_from_hours() {
        let kst = BillingOffset::parse("+09:00").unwrap();
        let nov = BillingPeriod::new(2026, 11, kst).unwrap();
        // The whole month: days only.
        assert_eq!(
            sources(nov.start(), nov.end(), kst),
            Sources {
                days: Some((nov.start(), nov.end())),
                hours: vec![]
            }
        );
        // From 2026-11-10 14:30 +09:00: the hours 15:00..24:00 of that day, then whole days.
        let from = datetime!(2026-11-10 14:30 +09:00);
        assert_eq!(
            sources(from, nov.end(), kst),
            Sources {
                days: Some((datetime!(2026-11-11 00:00 +09:00), nov.end())),
                hours: vec![(
                    datetime!(2026-11-10 15:00 +09:00),
                    datetime!(2026-11-11 00:00 +09:00)
                )]
            }
        );
        // Inside one day: hours only; an hour starting at `to` is not in the span.
        assert_eq!(
            sources(from, datetime!(2026-11-10 18:00 +09:00), kst),
            Sources {
                days: None,
                hours: vec![(
                    datetime!(2026-11-10 15:00 +09:00),
                    datetime!(2026-11-10 18:00 +09:00)
                )]
            }
        );
    }

    proptest! {
        /// However a period is split into spans, the spans' usage read through day and hour
        /// rollups equals the events of their hours summed directly.
        #[test]
        fn spans_read_exactly_their_hours(
            readings in prop::collection::vec((0i64..(30 * 24 * 60), 0i64..1_000_000_000), 1..80),
            cut in 0i64..(30 * 24 * 60),
            offset in -840i32..=840,
        ) {
            let offset = BillingOffset::from_minutes(offset).unwrap();
            let nov = BillingPeriod::new(2026, 11, offset).unwrap();
            let events: Vec<(&str, OffsetDateTime, i64)> = readings
                .iter()
                .map(|(minute, micros)| ("api_calls", nov.start() + Duration::minutes(*minute), *micros))
                .collect();
            let r = rollups_of(&events, offset);
            let at_cut = nov.start() + Duration::minutes(cut);
            let agg = |_: &Code| Some(Aggregation::Sum);
            let read = |from, to| {
                r.totals(from, to, offset, agg)
                    .unwrap()
                    .get(&code("api_calls"))
                    .map_or(0, |t| t.quantity.to_micros().unwrap())
            };
            let direct = |from: OffsetDateTime, to: OffsetDateTime| -> i64 {
                events
                    .iter()
                    .filter(|(_, at, _)| {
                        let hour = hour_bucket(*at, offset);
                        hour >= Grain::Hour.ceil(from, offset) && hour < Grain::Hour.ceil(to, offset)
                    })
                    .map(|(_, _, m)| m)
                    .sum()
            };
            prop_assert_eq!(read(nov.start(), at_cut), direct(nov.start(), at_cut));
            prop_assert_eq!(read(at_cut, nov.end()), direct(at_cut, nov.end()));
            prop_assert_eq!(
                read(nov.start(), at_cut) + read(at_cut, nov.end()),
                events.iter().map(|(_, _, m)| m).sum::<i64>()
            );
        }
    }

    /// `r` read the way a database merges it: the days of each run into one rollup keyed by
    /// the run's first day, the hours of each needed range into one keyed by its first hour.
    fn merged_runs(
        r: &ProjectRollups,
        runs: &[(OffsetDateTime, OffsetDateTime)],
        hour_ranges: &[(OffsetDateTime, OffsetDateTime)],
    ) -> ProjectRollups {
        let fold = |source: &BTreeMap<(Code, OffsetDateTime), Rollup>,
                    ranges: &[(OffsetDateTime, OffsetDateTime)]| {
            let mut out: BTreeMap<(Code, OffsetDateTime), Rollup> = BTreeMap::new();
            for ((product, start), rollup) in source {
                if let Some((from, _)) = ranges.iter().find(|(f, t)| f <= start && start < t) {
                    let key = (product.clone(), *from);
                    let next = out.get(&key).map_or(*rollup, |e| merged(*e, *rollup));
                    out.insert(key, next);
                }
            }
            out
        };
        ProjectRollups {
            days: fold(&r.days, runs),
            hours: fold(&r.hours, hour_ranges),
            spans: BTreeMap::new(),
        }
    }

    proptest! {
        /// Runs of days merged into one rollup each (and the hours of split days merged per
        /// range) give every billed span, and the whole period, the totals the days and hours
        /// give: what lets a read merge rollups in the database.
        #[test]
        fn merged_day_runs_read_like_their_days(
            readings in prop::collection::vec((0i64..(30 * 24 * 60), 0i64..1_000_000_000, 0usize..3), 1..80),
            changes in prop::collection::btree_set(0i64..(30 * 24), 0..3),
            midnight in any::<bool>(),
            closed in prop::option::of(0i64..(31 * 24 * 60)),
            offset in -840i32..=840,
        ) {
            let offset = BillingOffset::from_minutes(offset).unwrap();
            let nov = BillingPeriod::new(2026, 11, offset).unwrap();
            let products = ["api_calls", "disk", "gauge"];
            let aggregation = |c: &Code| match c.as_str() {
                "api_calls" => Some(Aggregation::Sum),
                "disk" => Some(Aggregation::Max),
                _ => Some(Aggregation::Latest),
            };
            let events: Vec<(&str, OffsetDateTime, i64)> = readings
                .iter()
                .map(|(minute, micros, p)| (products[*p], nov.start() + Duration::minutes(*minute), *micros))
                .collect();
            let r = rollups_of(&events, offset);
            let project = ProjectId::parse("proj_0193a4f06c1e7c529a433f6a3a1b2c4d").unwrap();
            let mut assignments = vec![PlanAssignment {
                project: project.clone(),
                plan: code("basic"),
                effective_from: nov.start() - Duration::days(3),
            }];
            for (i, hour) in changes.iter().enumerate() {
                // At a local midnight or in the middle of a day.
                let at = if midnight {
                    nov.start() + Duration::days(hour / 24)
                } else {
                    nov.start() + Duration::hours(*hour) + Duration::minutes(30)
                };
                assignments.push(PlanAssignment {
                    project: project.clone(),
                    plan: code(if i % 2 == 0 { "pro" } else { "basic" }),
                    effective_from: at,
                });
            }
            assignments.sort_by_key(|a| a.effective_from);
            let closed_at = closed.map(|m| nov.start() + Duration::minutes(m));
            let runs = day_runs(&nov, &assignments, closed_at);
            // The runs partition the period into whole local days.
            prop_assert_eq!(runs.first().map(|r| r.0), Some(nov.start()));
            prop_assert_eq!(runs.last().map(|r| r.1), Some(nov.end()));
            for pair in runs.windows(2) {
                prop_assert_eq!(pair[0].1, pair[1].0);
            }
            for (from, _) in &runs {
                prop_assert_eq!(day_bucket(*from, offset), *from);
            }
            let hours = hour_ranges_needed(&nov, &assignments, closed_at);
            let merged = merged_runs(&r, &runs, &hours);
            for (_, from, to) in billed_spans(&nov, &assignments, closed_at) {
                prop_assert_eq!(
                    merged.totals(from, to, offset, aggregation).unwrap(),
                    r.totals(from, to, offset, aggregation).unwrap()
                );
            }
            prop_assert_eq!(
                merged.totals(nov.start(), nov.end(), offset, aggregation).unwrap(),
                r.totals(nov.start(), nov.end(), offset, aggregation).unwrap()
            );

            // However `period_source` says to read the period, every billed span and the whole
            // period get the totals the days and hours give: the month rollup of all its hours,
            // or the run rollups folded from them (`runs_of_hours`, what a plan change stores;
            // ingestion folds each event into the same run), or the pieces checked above.
            let closes_inside = closed_at.is_some_and(|c| nov.start() < c && c < nov.end());
            let starts = match period_source(&nov, &assignments, closed_at) {
                PeriodSource::Pieces { days, hours: split } => {
                    prop_assert_eq!(&days, &runs);
                    prop_assert_eq!(&split, &hours);
                    None
                }
                PeriodSource::Month => {
                    prop_assert!(run_starts(&nov, &assignments).is_empty());
                    Some(vec![nov.start()])
                }
                PeriodSource::Runs(starts) => {
                    prop_assert!(!closes_inside);
                    prop_assert_eq!(starts.first(), Some(&nov.start()));
                    for pair in starts.windows(2) {
                        prop_assert!(pair[0] < pair[1]);
                        prop_assert_eq!(hour_bucket(pair[1], offset), pair[1]);
                    }
                    Some(starts)
                }
            };
            if let Some(starts) = starts {
                let hours_kept = r.hours.iter().map(|((c, hour), one)| (c.clone(), *hour, *one));
                let mut spans = ProjectRollups::default();
                for ((product, start), run) in runs_of_hours(&starts, offset, hours_kept).unwrap() {
                    prop_assert!(!run.past_largest);
                    let end = starts.iter().copied().find(|s| *s > start).unwrap_or(nov.end());
                    spans.spans.insert((product, start, end), run.rollup);
                }
                for (_, from, to) in billed_spans(&nov, &assignments, closed_at) {
                    prop_assert_eq!(
                        spans.totals(from, to, offset, aggregation).unwrap(),
                        r.totals(from, to, offset, aggregation).unwrap()
                    );
                }
                prop_assert_eq!(
                    spans.totals(nov.start(), nov.end(), offset, aggregation).unwrap(),
                    r.totals(nov.start(), nov.end(), offset, aggregation).unwrap()
                );
            }
        }
    }

    #[test]
    fn a_run_starts_at_the_first_hour_its_plan_is_in_force() {
        let seoul = BillingOffset::from_minutes(9 * 60).unwrap();
        let oct = BillingPeriod::new(2026, 10, seoul).unwrap();
        let project = ProjectId::parse("proj_0193a4f06c1e7c529a433f6a3a1b2c4d").unwrap();
        let at = |when: OffsetDateTime| PlanAssignment {
            project: project.clone(),
            plan: code("basic"),
            effective_from: when,
        };
        // Only a change at or before the period's start: nothing cuts it.
        assert!(run_starts(
            &oct,
            &[at(oct.start() - Duration::days(3)), at(oct.start())]
        )
        .is_empty());
        // A change at 12:30 local on the 10th starts its run at 13:00 local (04:00 UTC).
        let change = datetime!(2026-10-10 12:30 +09:00);
        let starts = run_starts(&oct, &[at(oct.start()), at(change)]);
        assert_eq!(starts, vec![oct.start(), datetime!(2026-10-10 04:00 UTC)]);
        assert_eq!(
            run_of(&starts, datetime!(2026-10-10 12:59:59 +09:00), seoul),
            oct.start()
        );
        assert_eq!(
            run_of(&starts, datetime!(2026-10-10 13:00 +09:00), seoul),
            datetime!(2026-10-10 04:00 UTC)
        );
        // Two changes in one hour start one run; a change in the period's last hour starts none.
        let twice = [at(change), at(datetime!(2026-10-10 12:45 +09:00))];
        assert_eq!(run_starts(&oct, &twice).len(), 2);
        assert!(run_starts(&oct, &[at(datetime!(2026-10-31 23:10 +09:00))]).is_empty());
    }

    fn plan(code_: &str, base_fee: &str, prices: Vec<(&str, PriceModel)>) -> Plan {
        Plan {
            code: code(code_),
            name: CatalogName::parse(code_).unwrap(),
            currency: Currency::parse("KRW").unwrap(),
            base_fee: UnitPrice::parse(base_fee).unwrap(),
            prices: prices
                .into_iter()
                .map(|(c, m)| (code(c), Price::new(m, Quantity::ZERO).unwrap()))
                .collect(),
        }
    }

    #[test]
    fn a_plan_change_splits_usage_and_base_fees_by_hour() {
        // November 2026 in +09:00: 720 reference hours. Basic (base 72,000 KRW, 1 KRW per call)
        // until 2026-11-11 00:00, then Pro (base 144,000 KRW, 0.5 KRW per call, 10 KRW per GiB).
        let kst = BillingOffset::parse("+09:00").unwrap();
        let nov = BillingPeriod::new(2026, 11, kst).unwrap();
        let project = ProjectId::from_uuid(uuid::Uuid::nil());
        let change = datetime!(2026-11-11 00:00 +09:00);
        let assignments = [
            PlanAssignment {
                project: project.clone(),
                plan: code("basic"),
                effective_from: nov.start(),
            },
            PlanAssignment {
                project,
                plan: code("pro"),
                effective_from: change,
            },
        ];
        let per_unit = |p: &str| PriceModel::PerUnit {
            unit_price: UnitPrice::parse(p).unwrap(),
        };
        let plans: HashMap<Code, Plan> = [
            plan("basic", "72000", vec![("api_calls", per_unit("1"))]),
            plan(
                "pro",
                "144000",
                vec![("api_calls", per_unit("0.5")), ("disk", per_unit("10"))],
            ),
        ]
        .into_iter()
        .map(|p| (p.code.clone(), p))
        .collect();
        // 1,000 calls on the 5th, 3,001 calls on the 20th; disk peaks at 12 GiB on the 20th.
        let r = rollups_of(
            &[
                (
                    "api_calls",
                    datetime!(2026-11-05 10:00 +09:00),
                    1_000_000_000,
                ),
                (
                    "api_calls",
                    datetime!(2026-11-20 10:00 +09:00),
                    3_001_000_000,
                ),
                ("disk", datetime!(2026-11-20 10:00 +09:00), 12_000_000),
            ],
            kst,
        );
        let agg = |c: &Code| {
            Some(if c.as_str() == "disk" {
                Aggregation::Max
            } else {
                Aggregation::Sum
            })
        };
        let ratings = charge_project(&nov, &assignments, None, &plans, &r, agg).unwrap();
        let amounts: Vec<Vec<String>> = ratings
            .iter()
            .map(|x| {
                x.lines
                    .iter()
                    .map(|l| l.amount.amount().to_string())
                    .collect()
            })
            .collect();
        // Basic: 240 h of 720 -> 72,000 x 240/720 = 24,000; 1,000 calls x 1 = 1,000.
        // Pro: 480 h -> 144,000 x 480/720 = 96,000; 3,001 x 0.5 = 1,500.5 -> 1,501; 12 x 10 = 120.
        assert_eq!(
            amounts,
            vec![vec!["24000", "1000"], vec!["96000", "1501", "120"]]
        );
        let group = |c: &Code| {
            if c.as_str() == "disk" {
                FeeGroup::Disk
            } else {
                FeeGroup::Api
            }
        };
        let s = summarize(Currency::parse("KRW").unwrap(), &ratings, group).unwrap();
        let shown = |m: Money| m.amount().to_string();
        assert_eq!(shown(s.base_fee), "120000");
        assert_eq!(shown(s.api_usage_fee), "2501");
        assert_eq!(shown(s.disk_usage_fee), "120");
        assert_eq!(shown(s.other_usage_fee), "0");
        assert_eq!(shown(s.total), "122621");
        // 1,000 on Basic + 1,501 on Pro
        let krw = Currency::parse("KRW").unwrap();
        assert_eq!(
            shown(charged_for(krw, &ratings, &code("api_calls")).unwrap()),
            "2501"
        );
        assert_eq!(
            shown(charged_for(krw, &ratings, &code("monitoring")).unwrap()),
            "0"
        );
        // Without a plan the project is not billed, whatever its usage.
        assert!(charge_project(&nov, &[], None, &plans, &r, agg)
            .unwrap()
            .is_empty());
        // Closed on 2026-11-21 00:00: Pro is billed for 240 h (48,000) and the usage until then.
        let closed = datetime!(2026-11-21 00:00 +09:00);
        let cut = charge_project(&nov, &assignments, Some(closed), &plans, &r, agg).unwrap();
        let pro: Vec<String> = cut[1]
            .lines
            .iter()
            .map(|l| l.amount.amount().to_string())
            .collect();
        assert_eq!(pro, vec!["48000", "1501", "120"]);
        assert_eq!(
            hour_ranges_needed(&nov, &assignments, Some(datetime!(2026-11-21 10:30 +09:00))),
            // The hour that started before the close is still the project's.
            vec![(
                datetime!(2026-11-21 00:00 +09:00),
                datetime!(2026-11-21 11:00 +09:00)
            )]
        );
    }
}
