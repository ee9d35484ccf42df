//! Usage events and their rollups (docs/usage.md).
//!
//! Events are aggregated per project x product x hour of the account's billing offset, so daily
//! and monthly reads cut at the account's midnight and never scan raw events. Rollup quantities
//! are integers of millionths ([`crate::catalog::QUANTITY_SCALE`]): exact and summable in SQL on
//! SQLite and PostgreSQL alike. Every addition is checked; past `i64::MAX` millionths
//! (9,223,372,036,854.775807 units in one bucket) the event that would overflow is refused, never
//! wrapped or turned into a float.

pub mod reads;

use std::collections::BTreeMap;
use std::fmt;

use time::{Duration, OffsetDateTime};

use crate::catalog::{Aggregation, Code, PlanAssignment, Quantity};
use crate::error::DomainError;
use crate::instant::normalize;
use crate::names::ProjectId;
use crate::period::{BillingOffset, BillingPeriod};

/// Most events in one ingestion request.
pub const MAX_BATCH: usize = 1000;

/// How far in the future an event's timestamp may be (clock skew of the sender).
pub const FUTURE_SKEW: Duration = Duration::minutes(5);

/// The client-chosen id of a usage event: its idempotency key, unique per account.
/// 1 to 255 visible ASCII characters.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct EventId(String);

impl EventId {
    pub const MAX_CHARS: usize = 255;

    pub fn parse(text: &str) -> Result<Self, DomainError> {
        if !text.is_empty()
            && text.len() <= Self::MAX_CHARS
            && text.bytes().all(|b| b.is_ascii_graphic())
        {
            Ok(Self(text.to_owned()))
        } else {
            Err(DomainError::InvalidId("event"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The events of one batch refused because their period was closed (invoiced): what the
/// `usage.period_closed_rejected` event tells.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ClosedPeriodRejection {
    /// The rejection's own id (`rej_...`), the event's object.
    pub id: String,
    /// The refused events' ids, in the batch's order.
    pub event_ids: Vec<String>,
    /// The closed periods they fell in, oldest first.
    pub periods: Vec<BillingPeriod>,
}

/// A validated usage event.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct UsageEvent {
    pub id: EventId,
    pub project: ProjectId,
    pub product: Code,
    pub quantity: Quantity,
    /// When the usage happened (normalized to UTC microseconds).
    pub timestamp: OffsetDateTime,
}

/// Why one event of a batch was refused. The batch goes on without it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Rejection {
    /// The id is empty, too long or not visible ASCII.
    InvalidId,
    /// No such project in the account.
    UnknownProject,
    /// The project was closed at or before the event's timestamp.
    ProjectClosed,
    /// No such product in the catalog.
    UnknownProduct,
    /// Not a plain decimal, or more than 6 decimals.
    InvalidQuantity,
    NegativeQuantity,
    /// The event, or its hour, day or month rollup, would pass the largest quantity kept.
    QuantityOutOfRange,
    /// More than [`FUTURE_SKEW`] ahead of the server's clock.
    FutureTimestamp,
    /// Before 2000 or after 9998: in no billing period, so it could never be invoiced.
    TimestampOutOfRange,
    /// The invoice of the event's period is finalized.
    PeriodClosed,
}

impl Rejection {
    /// The stable reason code clients branch on.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::InvalidId => "invalid_id",
            Rejection::UnknownProject => "unknown_project",
            Rejection::ProjectClosed => "project_closed",
            Rejection::UnknownProduct => "unknown_product",
            Rejection::InvalidQuantity => "invalid_quantity",
            Rejection::NegativeQuantity => "negative_quantity",
            Rejection::QuantityOutOfRange => "quantity_out_of_range",
            Rejection::FutureTimestamp => "future_timestamp",
            Rejection::TimestampOutOfRange => "timestamp_out_of_range",
            Rejection::PeriodClosed => "period_closed",
        }
    }
}

/// The quantity rule of an event, with its rejection reason.
pub fn parse_event_quantity(text: &str) -> Result<Quantity, Rejection> {
    match Quantity::parse(text) {
        Ok(q) => Ok(q),
        Err(DomainError::NegativeQuantity) => Err(Rejection::NegativeQuantity),
        Err(DomainError::QuantityOutOfRange) => Err(Rejection::QuantityOutOfRange),
        Err(_) if text.starts_with('-') && Quantity::parse(&text[1..]).is_ok() => {
            Err(Rejection::NegativeQuantity)
        }
        Err(_) => Err(Rejection::InvalidQuantity),
    }
}

/// The timestamp rule of an event: not further ahead of `now` than [`FUTURE_SKEW`], and inside
/// a billing period of the account's offset (usage outside every period could never be billed).
pub fn check_timestamp(
    timestamp: OffsetDateTime,
    now: OffsetDateTime,
    offset: BillingOffset,
) -> Result<OffsetDateTime, Rejection> {
    if timestamp > now + FUTURE_SKEW {
        return Err(Rejection::FutureTimestamp);
    }
    BillingPeriod::containing(timestamp, offset).map_err(|_| Rejection::TimestampOutOfRange)?;
    Ok(normalize(timestamp))
}

/// What the account knows about an event's project, product and period.
#[derive(Clone, Copy, Debug)]
pub struct EventContext {
    /// `None`: no such project in the account; `Some(closed_at)` otherwise.
    pub project: Option<Option<OffsetDateTime>>,
    pub product_known: bool,
    /// The invoice of the event's period is no longer open.
    pub period_closed: bool,
}

/// Whether a well-formed event can be counted, and if not, why.
pub fn judge(event: &UsageEvent, context: EventContext) -> Result<(), Rejection> {
    match context.project {
        None => Err(Rejection::UnknownProject),
        Some(Some(closed_at)) if event.timestamp >= closed_at => Err(Rejection::ProjectClosed),
        Some(_) if !context.product_known => Err(Rejection::UnknownProduct),
        Some(_) if context.period_closed => Err(Rejection::PeriodClosed),
        Some(_) => Ok(()),
    }
}

/// The start of the hour, in the account's billing offset, that contains `instant`, as a UTC
/// instant. With `+05:30` the hours start at :30 UTC, so a local day is exactly 24 buckets.
pub fn hour_bucket(instant: OffsetDateTime, offset: BillingOffset) -> OffsetDateTime {
    let local = instant.to_offset(offset.utc_offset());
    let start = local
        .replace_minute(0)
        .and_then(|t| t.replace_second(0))
        .and_then(|t| t.replace_nanosecond(0))
        .unwrap_or(local);
    normalize(start)
}

/// The start of the day, in the account's billing offset, that contains `instant` (its local
/// midnight), as a UTC instant.
pub fn day_bucket(instant: OffsetDateTime, offset: BillingOffset) -> OffsetDateTime {
    let local = instant.to_offset(offset.utc_offset());
    normalize(local.replace_time(time::Time::MIDNIGHT))
}

/// The start of the billing period, in the account's billing offset, that contains `instant`
/// (local midnight of the 1st), as a UTC instant: where its month rollup is kept.
pub fn month_bucket(instant: OffsetDateTime, offset: BillingOffset) -> OffsetDateTime {
    let local = instant.to_offset(offset.utc_offset());
    let first = local.replace_day(1).unwrap_or(local);
    normalize(first.replace_time(time::Time::MIDNIGHT))
}

/// The size of a rollup bucket: rollups are kept per hour and per day of the billing offset.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Grain {
    Hour,
    Day,
}

impl Grain {
    pub fn bucket(self, instant: OffsetDateTime, offset: BillingOffset) -> OffsetDateTime {
        match self {
            Grain::Hour => hour_bucket(instant, offset),
            Grain::Day => day_bucket(instant, offset),
        }
    }

    pub fn length(self) -> Duration {
        match self {
            Grain::Hour => Duration::HOUR,
            Grain::Day => Duration::DAY,
        }
    }

    /// The first bucket start at or after `instant`.
    pub fn ceil(self, instant: OffsetDateTime, offset: BillingOffset) -> OffsetDateTime {
        let start = self.bucket(instant, offset);
        if start == normalize(instant) {
            start
        } else {
            start + self.length()
        }
    }
}

/// Where one hour's or one day's usage of one product of one project is kept. Ordered, so rollups are always
/// written in the same key order and concurrent batches cannot deadlock on them.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct RollupKey {
    pub project: ProjectId,
    pub product: Code,
    pub bucket_start: OffsetDateTime,
}

/// One bucket's aggregates, in millionths of a unit.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Rollup {
    /// The sum of the events of a `sum` product, checked: an event that would overflow it is
    /// refused. Zero for gauges (`max`, `latest`), whose sum means nothing and could pass any
    /// bound (disk bytes reported every minute).
    pub sum_micros: i64,
    pub max_micros: i64,
    /// The value of the latest event by timestamp; of events at the same instant, the largest.
    /// The tie rule does not depend on arrival order, so racing batches agree on the result.
    pub latest_micros: i64,
    pub latest_at: OffsetDateTime,
    pub event_count: i64,
}

impl Rollup {
    /// One event of a product aggregated by `aggregation`.
    pub fn of(
        quantity: Quantity,
        at: OffsetDateTime,
        aggregation: Aggregation,
    ) -> Result<Self, DomainError> {
        let micros = quantity.to_micros()?;
        Ok(Rollup {
            sum_micros: match aggregation {
                Aggregation::Sum => micros,
                Aggregation::Max | Aggregation::Latest => 0,
            },
            max_micros: micros,
            latest_micros: micros,
            latest_at: at,
            event_count: 1,
        })
    }

    /// Both rollups together, the same whichever comes first. Fails, changing nothing, when the
    /// sum would pass the largest quantity kept.
    pub fn merge(&self, other: &Rollup) -> Result<Rollup, DomainError> {
        let overflow = DomainError::QuantityOutOfRange;
        let (latest_at, latest_micros) =
            (self.latest_at, self.latest_micros).max((other.latest_at, other.latest_micros));
        Ok(Rollup {
            sum_micros: self
                .sum_micros
                .checked_add(other.sum_micros)
                .ok_or(overflow.clone())?,
            max_micros: self.max_micros.max(other.max_micros),
            latest_micros,
            latest_at,
            event_count: self
                .event_count
                .checked_add(other.event_count)
                .ok_or(overflow)?,
        })
    }
}

/// Adds accepted events, in order, onto the `grain` rollups they touch (`current`: what is stored
/// for those keys). `aggregation` tells each product's aggregation. Returns the new rollups in key
/// order and the indexes of the events refused because their bucket would pass the largest
/// quantity; the others are all counted. A day holds its hours, so an event that fits its day
/// rollup fits its hour rollup too.
pub fn accumulate<'e>(
    events: impl IntoIterator<Item = (usize, &'e UsageEvent)>,
    offset: BillingOffset,
    grain: Grain,
    aggregation: impl Fn(&Code) -> Aggregation,
    current: &BTreeMap<RollupKey, Rollup>,
) -> (BTreeMap<RollupKey, Rollup>, Vec<usize>) {
    let events = events.into_iter().map(|(i, e)| (i, (e, e.timestamp)));
    accumulate_in(
        events,
        |(_, at)| grain.bucket(at, offset),
        aggregation,
        current,
    )
}

/// [`accumulate`] onto the month rollups (keyed by [`month_bucket`]): a month holds its days, so
/// an event that fits its month fits its day and its hour.
pub fn accumulate_months<'e>(
    events: impl IntoIterator<Item = (usize, &'e UsageEvent)>,
    offset: BillingOffset,
    aggregation: impl Fn(&Code) -> Aggregation,
    current: &BTreeMap<RollupKey, Rollup>,
) -> (BTreeMap<RollupKey, Rollup>, Vec<usize>) {
    let events = events.into_iter().map(|(i, e)| (i, (e, e.timestamp)));
    accumulate_in(
        events,
        |(_, at)| month_bucket(at, offset),
        aggregation,
        current,
    )
}

/// The starts of the plan runs of a project's billing period, when plan changes cut it: the
/// period's start, then each hour (of the billing offset) a plan change inside the period takes
/// effect at, in order. Empty when no plan change cuts the period (its month rollup holds it
/// whole).
///
/// An hour's usage belongs to the plan in force when the hour starts, so a change at 12:30 starts
/// its run at 13:00, and a run holds exactly the hour buckets from its start to the next one's.
/// Ingestion keeps one rollup per run and product of such a period beside the month's, so a
/// read of a period a plan change splits moves one row per run and product, like a whole month.
pub fn run_starts(period: &BillingPeriod, assignments: &[PlanAssignment]) -> Vec<OffsetDateTime> {
    let mut cuts: Vec<OffsetDateTime> = assignments
        .iter()
        .map(|a| Grain::Hour.ceil(a.effective_from, period.offset()))
        .filter(|hour| period.start() < *hour && *hour < period.end())
        .collect();
    if cuts.is_empty() {
        return cuts;
    }
    cuts.push(period.start());
    cuts.sort();
    cuts.dedup();
    cuts
}

/// The start of the run (of `starts`, from [`run_starts`]) that holds `instant`'s hour.
pub fn run_of(
    starts: &[OffsetDateTime],
    instant: OffsetDateTime,
    offset: BillingOffset,
) -> OffsetDateTime {
    let hour = hour_bucket(instant, offset);
    starts
        .iter()
        .rev()
        .find(|start| **start <= hour)
        .copied()
        .unwrap_or(hour)
}

/// A plan run's rollup of one product, folded from its hours by [`runs_of_hours`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct RunTotal {
    /// `sum_micros` is zero when `past_largest`.
    pub rollup: Rollup,
    /// The run's sum is past the largest quantity: only possible where its month's is too
    /// (usage stored before month rollups were kept), whose reads answer out of range.
    pub past_largest: bool,
}

/// Hourly rollups (per `K`, a product, and hour bucket) folded into the rollups of the runs
/// starting at `starts` (from [`run_starts`]): what a plan change that cuts a period stores for
/// it, and what ingestion would have kept had the change come first. Sums are exact; a run past
/// the largest quantity is marked so, never wrapped.
pub fn runs_of_hours<K: Ord>(
    starts: &[OffsetDateTime],
    offset: BillingOffset,
    hours: impl IntoIterator<Item = (K, OffsetDateTime, Rollup)>,
) -> Result<BTreeMap<(K, OffsetDateTime), RunTotal>, DomainError> {
    let mut folded: BTreeMap<(K, OffsetDateTime), (Rollup, i128)> = BTreeMap::new();
    for (product, hour, rollup) in hours {
        let sum = i128::from(rollup.sum_micros);
        let rest = Rollup {
            sum_micros: 0,
            ..rollup
        };
        match folded.entry((product, run_of(starts, hour, offset))) {
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert((rest, sum));
            }
            std::collections::btree_map::Entry::Occupied(mut e) => {
                let (run, total) = e.get_mut();
                *run = run.merge(&rest)?;
                *total += sum;
            }
        }
    }
    Ok(folded
        .into_iter()
        .map(|(key, (rollup, sum))| {
            let total = match i64::try_from(sum) {
                Ok(sum_micros) => RunTotal {
                    rollup: Rollup {
                        sum_micros,
                        ..rollup
                    },
                    past_largest: false,
                },
                Err(_) => RunTotal {
                    rollup,
                    past_largest: true,
                },
            };
            (key, total)
        })
        .collect())
}

/// A batch's new events folded once into what ingestion adds to each rollup, with the events
/// that would take a stored rollup past the largest quantity refused.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Folded {
    /// What the accepted events add to each hour, day and month rollup (the batch's own
    /// rollups, keyed as [`accumulate`] and [`accumulate_months`] key them).
    pub hours: BTreeMap<RollupKey, Rollup>,
    pub days: BTreeMap<RollupKey, Rollup>,
    pub months: BTreeMap<RollupKey, Rollup>,
    /// The indexes of the refused events, in order.
    pub refused: Vec<usize>,
}

/// Folds a batch's new events, in order, onto the stored day and month rollups they touch
/// (`stored_days`, `stored_months`: what is stored for those keys, empty when not read). An
/// event is accepted when its day and its month, with the stored rollup and the events
/// accepted before it, stay within the largest quantity; a month holds its days and a day its
/// hours, so its hour fits too. Each rollup is computed once: the accepted events' own day and
/// month rollups (what is added to the stored ones) and their hour rollups.
pub fn fold_batch<'e>(
    events: impl IntoIterator<Item = (usize, &'e UsageEvent)>,
    offset: BillingOffset,
    aggregation: impl Fn(&Code) -> Aggregation,
    stored_days: &BTreeMap<RollupKey, Rollup>,
    stored_months: &BTreeMap<RollupKey, Rollup>,
) -> Folded {
    let mut folded = Folded::default();
    let key = |event: &UsageEvent, bucket_start| RollupKey {
        project: event.project.clone(),
        product: event.product.clone(),
        bucket_start,
    };
    // What a rollup holds after adding `one` to its batch part (and the stored part, when
    // checking against it).
    let add =
        |batch: &BTreeMap<RollupKey, Rollup>, key: &RollupKey, one: &Rollup| match batch.get(key) {
            Some(part) => part.merge(one),
            None => Ok(*one),
        };
    let fits = |stored: &BTreeMap<RollupKey, Rollup>, key: &RollupKey, part: &Rollup| match stored
        .get(key)
    {
        Some(existing) => existing.merge(part).is_ok(),
        None => true,
    };
    for (index, event) in events {
        let Ok(one) = Rollup::of(event.quantity, event.timestamp, aggregation(&event.product))
        else {
            folded.refused.push(index);
            continue;
        };
        let day = key(event, Grain::Day.bucket(event.timestamp, offset));
        let month = key(event, month_bucket(event.timestamp, offset));
        let hour = key(event, Grain::Hour.bucket(event.timestamp, offset));
        let (Ok(day_part), Ok(month_part), Ok(hour_part)) = (
            add(&folded.days, &day, &one),
            add(&folded.months, &month, &one),
            add(&folded.hours, &hour, &one),
        ) else {
            folded.refused.push(index);
            continue;
        };
        if !fits(stored_days, &day, &day_part) || !fits(stored_months, &month, &month_part) {
            folded.refused.push(index);
            continue;
        }
        folded.days.insert(day, day_part);
        folded.months.insert(month, month_part);
        folded.hours.insert(hour, hour_part);
    }
    folded
}

/// [`accumulate`] onto the run rollups of the periods plan changes split (keyed by the start of
/// the event's run, see [`run_starts`]); `runs` gives the run starts of an event's project and
/// period, empty when none split it. A run is part of its month, so an event that fits its
/// month fits its run: nothing is refused here.
pub fn accumulate_runs<'e, 'r>(
    events: impl IntoIterator<Item = &'e UsageEvent>,
    offset: BillingOffset,
    aggregation: impl Fn(&Code) -> Aggregation,
    runs: impl Fn(&ProjectId, OffsetDateTime) -> &'r [OffsetDateTime],
) -> BTreeMap<RollupKey, Rollup> {
    let none = BTreeMap::new();
    let split = events.into_iter().filter_map(|event| {
        let starts = runs(&event.project, month_bucket(event.timestamp, offset));
        (!starts.is_empty()).then_some((starts, event))
    });
    let (touched, _) = accumulate_in(
        split
            .enumerate()
            .map(|(i, (starts, event))| (i, (event, run_of(starts, event.timestamp, offset)))),
        |(_, start)| start,
        aggregation,
        &none,
    );
    touched
}

fn accumulate_in<'e>(
    events: impl IntoIterator<Item = (usize, (&'e UsageEvent, OffsetDateTime))>,
    bucket: impl Fn((&UsageEvent, OffsetDateTime)) -> OffsetDateTime,
    aggregation: impl Fn(&Code) -> Aggregation,
    current: &BTreeMap<RollupKey, Rollup>,
) -> (BTreeMap<RollupKey, Rollup>, Vec<usize>) {
    let mut touched: BTreeMap<RollupKey, Rollup> = BTreeMap::new();
    let mut refused = Vec::new();
    for (index, (event, at)) in events {
        let key = RollupKey {
            project: event.project.clone(),
            product: event.product.clone(),
            bucket_start: bucket((event, at)),
        };
        let merged = Rollup::of(event.quantity, event.timestamp, aggregation(&event.product))
            .and_then(
                |one| match touched.get(&key).or_else(|| current.get(&key)) {
                    Some(existing) => existing.merge(&one),
                    None => Ok(one),
                },
            );
        match merged {
            Ok(rollup) => {
                touched.insert(key, rollup);
            }
            Err(_) => refused.push(index),
        }
    }
    (touched, refused)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::max_quantity;
    use proptest::prelude::*;
    use rust_decimal::Decimal;
    use time::macros::datetime;

    fn event(id: &str, quantity: &str, at: OffsetDateTime) -> UsageEvent {
        UsageEvent {
            id: EventId::parse(id).unwrap(),
            project: ProjectId::from_uuid(uuid::Uuid::nil()),
            product: Code::parse("api_calls").unwrap(),
            quantity: Quantity::parse(quantity).unwrap(),
            timestamp: at,
        }
    }

    fn sum(_: &Code) -> Aggregation {
        Aggregation::Sum
    }

    #[test]
    fn event_ids_are_visible_ascii() {
        assert!(EventId::parse("evt-2026-11-23/0001").is_ok());
        assert!(EventId::parse("").is_err());
        assert!(EventId::parse("has space").is_err());
        assert!(EventId::parse(&"x".repeat(256)).is_err());
    }

    #[test]
    fn quantities_are_refused_with_their_reason() {
        assert_eq!(parse_event_quantity("12.5").unwrap().to_string(), "12.5");
        assert_eq!(parse_event_quantity("-1"), Err(Rejection::NegativeQuantity));
        assert_eq!(parse_event_quantity("1e3"), Err(Rejection::InvalidQuantity));
        assert_eq!(
            parse_event_quantity("0.0000001"),
            Err(Rejection::InvalidQuantity)
        );
        assert_eq!(
            parse_event_quantity("9223372036854.775808"),
            Err(Rejection::QuantityOutOfRange)
        );
    }

    #[test]
    fn timestamps_may_lead_the_clock_by_five_minutes_only() {
        let now = datetime!(2026-11-23 10:00 UTC);
        let utc = BillingOffset::UTC;
        assert!(check_timestamp(datetime!(2026-11-23 10:05 UTC), now, utc).is_ok());
        assert_eq!(
            check_timestamp(datetime!(2026-11-23 10:05:00.000001 UTC), now, utc),
            Err(Rejection::FutureTimestamp)
        );
        assert!(check_timestamp(datetime!(2020-01-01 00:00 UTC), now, utc).is_ok());
        // The first billing period starts at local midnight of 2000-01-01.
        let kst = BillingOffset::parse("+09:00").unwrap();
        assert!(check_timestamp(datetime!(2000-01-01 00:00 +09:00), now, kst).is_ok());
        assert_eq!(
            check_timestamp(datetime!(1999-12-31 23:59:59 +09:00), now, kst),
            Err(Rejection::TimestampOutOfRange)
        );
    }

    #[test]
    fn events_are_judged_by_project_product_and_period() {
        let at = datetime!(2026-11-23 10:00 UTC);
        let e = event("a", "1", at);
        let open = EventContext {
            project: Some(None),
            product_known: true,
            period_closed: false,
        };
        assert_eq!(judge(&e, open), Ok(()));
        assert_eq!(
            judge(
                &e,
                EventContext {
                    project: None,
                    ..open
                }
            ),
            Err(Rejection::UnknownProject)
        );
        // Closed at the event's instant: the event is after the close.
        let closed = |t| EventContext {
            project: Some(Some(t)),
            ..open
        };
        assert_eq!(judge(&e, closed(at)), Err(Rejection::ProjectClosed));
        assert_eq!(judge(&e, closed(at + Duration::seconds(1))), Ok(()));
        assert_eq!(
            judge(
                &e,
                EventContext {
                    product_known: false,
                    ..open
                }
            ),
            Err(Rejection::UnknownProduct)
        );
        assert_eq!(
            judge(
                &e,
                EventContext {
                    period_closed: true,
                    ..open
                }
            ),
            Err(Rejection::PeriodClosed)
        );
    }

    #[test]
    fn hour_buckets_follow_the_billing_offset() {
        let india = BillingOffset::parse("+05:30").unwrap();
        // 18:29:59Z = 23:59:59 local: bucket 23:00 local = 17:30Z.
        assert_eq!(
            hour_bucket(datetime!(2026-11-30 18:29:59 UTC), india),
            datetime!(2026-11-30 17:30 UTC)
        );
        // 18:30Z = 00:00 local on Dec 1: a new day and a new period.
        assert_eq!(
            hour_bucket(datetime!(2026-11-30 18:30 UTC), india),
            datetime!(2026-11-30 18:30 UTC)
        );
        let nepal = BillingOffset::parse("+05:45").unwrap();
        assert_eq!(
            hour_bucket(datetime!(2026-11-30 18:14 UTC), nepal),
            datetime!(2026-11-30 17:15 UTC)
        );
        assert_eq!(
            hour_bucket(datetime!(2026-11-30 18:14:59.999 UTC), BillingOffset::UTC),
            datetime!(2026-11-30 18:00 UTC)
        );
    }

    #[test]
    fn rollups_sum_max_and_keep_the_latest_by_timestamp() {
        let at = |m: u8| datetime!(2026-11-23 10:00 UTC).replace_minute(m).unwrap();
        let events = [
            event("a", "5", at(10)),
            event("b", "12.5", at(5)),
            event("c", "2", at(40)),
            event("d", "7", at(20)),
        ];
        let (rollups, refused) = accumulate(
            events.iter().enumerate(),
            BillingOffset::UTC,
            Grain::Hour,
            sum,
            &BTreeMap::new(),
        );
        assert!(refused.is_empty());
        assert_eq!(rollups.len(), 1);
        let r = rollups.values().next().unwrap();
        // 5 + 12.5 + 2 + 7 = 26.5 ; max 12.5 ; latest by time: 2 at :40
        assert_eq!(r.sum_micros, 26_500_000);
        assert_eq!(r.max_micros, 12_500_000);
        assert_eq!(r.latest_micros, 2_000_000);
        assert_eq!(r.latest_at, at(40));
        assert_eq!(r.event_count, 4);
    }

    #[test]
    fn the_event_that_would_overflow_its_bucket_is_refused_alone() {
        let at = datetime!(2026-11-23 10:00 UTC);
        let max = max_quantity().to_string();
        let events = [
            event("a", &max, at),
            event("b", "0.000001", at),
            event("c", "0", at),
            // Another hour is unaffected.
            event("d", "1", at + Duration::hours(1)),
        ];
        let (rollups, refused) = accumulate(
            events.iter().enumerate(),
            BillingOffset::UTC,
            Grain::Hour,
            sum,
            &BTreeMap::new(),
        );
        assert_eq!(refused, vec![1]);
        let first = rollups.values().next().unwrap();
        assert_eq!(first.sum_micros, i64::MAX);
        assert_eq!(first.event_count, 2);
        assert_eq!(rollups.len(), 2);
        // Stored rollups count too: one more millionth on a full bucket is refused.
        let (_, refused) = accumulate(
            [(0, &events[1])],
            BillingOffset::UTC,
            Grain::Hour,
            sum,
            &rollups,
        );
        assert_eq!(refused, vec![0]);
    }

    #[test]
    fn a_month_is_the_billing_period_of_the_offset() {
        let seoul = BillingOffset::parse("+09:00").unwrap();
        // 16:00 UTC on Oct 31 is 01:00 on Nov 1 in Seoul: November, which starts at 15:00 UTC
        // on Oct 31.
        let at = datetime!(2026-10-31 16:00 UTC);
        assert_eq!(month_bucket(at, seoul), datetime!(2026-10-31 15:00 UTC));
        assert_eq!(
            month_bucket(at, BillingOffset::UTC),
            datetime!(2026-10-01 00:00 UTC)
        );
        let new_york = BillingOffset::parse("-05:00").unwrap();
        // 03:00 UTC on Nov 1 is 22:00 on Oct 31 in New York.
        assert_eq!(
            month_bucket(datetime!(2026-11-01 03:00 UTC), new_york),
            datetime!(2026-10-01 05:00 UTC)
        );
    }

    #[test]
    fn an_event_that_fits_its_day_but_not_its_month_is_refused() {
        // Half the largest quantity plus one millionth on two days: each day holds its event,
        // the month cannot hold both.
        let half = (max_quantity() / Decimal::from(2)).round_dp(6) + Decimal::new(1, 6);
        let events = [
            event("a", &half.to_string(), datetime!(2026-11-02 10:00 UTC)),
            event("b", &half.to_string(), datetime!(2026-11-03 10:00 UTC)),
            // The next month is another bucket.
            event("c", &half.to_string(), datetime!(2026-12-01 00:00 UTC)),
        ];
        let offset = BillingOffset::UTC;
        let (days, refused) = accumulate(
            events.iter().enumerate(),
            offset,
            Grain::Day,
            sum,
            &BTreeMap::new(),
        );
        assert!(refused.is_empty());
        assert_eq!(days.len(), 3);
        let (months, refused) =
            accumulate_months(events.iter().enumerate(), offset, sum, &BTreeMap::new());
        assert_eq!(refused, vec![1]);
        assert_eq!(
            months.keys().map(|k| k.bucket_start).collect::<Vec<_>>(),
            vec![
                datetime!(2026-11-01 00:00 UTC),
                datetime!(2026-12-01 00:00 UTC)
            ]
        );
    }

    proptest! {
        #[test]
        fn a_month_bucket_starts_its_billing_period(
            seconds in 946_684_800i64..4_102_444_800,
            offset in -840i32..=840,
        ) {
            let offset = BillingOffset::from_minutes(offset).unwrap();
            let at = OffsetDateTime::from_unix_timestamp(seconds).unwrap();
            let period = crate::period::BillingPeriod::containing(at, offset).unwrap();
            prop_assert_eq!(month_bucket(at, offset), period.start());
        }

        #[test]
        fn rollups_equal_a_direct_aggregation(
            quantities in prop::collection::vec((0i64..10_000_000_000, 0i64..7200), 1..60),
            offset in -840i32..=840,
        ) {
            let offset = BillingOffset::from_minutes(offset).unwrap();
            let start = datetime!(2026-11-23 00:00 UTC);
            let events: Vec<UsageEvent> = quantities.iter().enumerate().map(|(i, (micros, secs))| UsageEvent {
                id: EventId::parse(&format!("e{i}")).unwrap(),
                project: ProjectId::from_uuid(uuid::Uuid::nil()),
                product: Code::parse("p").unwrap(),
                quantity: Quantity::new(Decimal::new(*micros, 6)).unwrap(),
                timestamp: start + Duration::seconds(*secs),
            }).collect();
            let (rollups, refused) = accumulate(events.iter().enumerate(), offset, Grain::Hour, sum, &BTreeMap::new());
            prop_assert!(refused.is_empty());
            // Every bucket sums exactly its events, and the buckets add up to all of them.
            let total: i64 = rollups.values().map(|r| r.sum_micros).sum();
            prop_assert_eq!(total, quantities.iter().map(|(m, _)| m).sum::<i64>());
            let count: i64 = rollups.values().map(|r| r.event_count).sum();
            prop_assert_eq!(count, events.len() as i64);
            for (key, rollup) in &rollups {
                let inside: Vec<&UsageEvent> = events.iter()
                    .filter(|e| e.timestamp >= key.bucket_start && e.timestamp < key.bucket_start + Duration::hours(1))
                    .collect();
                let sum: i64 = inside.iter().map(|e| e.quantity.to_micros().unwrap()).sum();
                prop_assert_eq!(rollup.sum_micros, sum);
                let max = inside.iter().map(|e| e.quantity.to_micros().unwrap()).max().unwrap();
                prop_assert_eq!(rollup.max_micros, max);
            }
            // Splitting the batch in two gives the same rollups (the stored ones count).
            let half = events.len() / 2;
            let (first, _) = accumulate(events[..half].iter().enumerate(), offset, Grain::Hour, sum, &BTreeMap::new());
            let (second, _) = accumulate(events[half..].iter().enumerate(), offset, Grain::Hour, sum, &first);
            let mut combined = first.clone();
            combined.extend(second);
            prop_assert_eq!(combined, rollups);
        }

        #[test]
        fn merging_does_not_depend_on_arrival_order(
            parts in prop::collection::vec((0i64..1_000_000, 0i64..1_000, 0i64..4), 3),
        ) {
            // Few distinct instants, so ties on the latest timestamp are common.
            let start = datetime!(2026-11-23 10:00 UTC);
            let r: Vec<Rollup> = parts.iter().map(|(sum, latest, secs)| Rollup {
                sum_micros: *sum,
                max_micros: *sum,
                latest_micros: *latest,
                latest_at: start + Duration::seconds(*secs),
                event_count: 1,
            }).collect();
            let ab = r[0].merge(&r[1]).unwrap();
            prop_assert_eq!(ab, r[1].merge(&r[0]).unwrap());
            prop_assert_eq!(
                ab.merge(&r[2]).unwrap(),
                r[0].merge(&r[1].merge(&r[2]).unwrap()).unwrap()
            );
        }
    }

    #[test]
    fn hours_fold_into_their_runs_and_a_run_past_the_largest_sum_says_so() {
        let utc = BillingOffset::from_minutes(0).unwrap();
        let starts = [
            datetime!(2026-10-01 00:00 UTC),
            datetime!(2026-10-10 13:00 UTC),
        ];
        let hour = |at: OffsetDateTime, micros: i64| Rollup {
            sum_micros: micros,
            max_micros: micros,
            latest_micros: micros,
            latest_at: at,
            event_count: 1,
        };
        let half = i64::MAX / 2 + 1;
        let (a, b, c, d) = (
            datetime!(2026-10-02 05:00 UTC),
            datetime!(2026-10-10 12:00 UTC),
            datetime!(2026-10-10 13:00 UTC),
            datetime!(2026-10-20 01:00 UTC),
        );
        let runs = runs_of_hours(
            &starts,
            utc,
            [
                ("calls", a, hour(a, 3)),
                // The hour of 12:00 is before the run that starts at 13:00.
                ("calls", b, hour(b, 4)),
                ("calls", c, hour(c, half)),
                ("calls", d, hour(d, half)),
            ],
        )
        .unwrap();
        // 3 + 4 in the first run.
        let first = runs[&("calls", starts[0])];
        assert_eq!(
            first,
            RunTotal {
                rollup: Rollup {
                    sum_micros: 7,
                    max_micros: 4,
                    latest_micros: 4,
                    latest_at: b,
                    event_count: 2
                },
                past_largest: false
            }
        );
        // 2 x (i64::MAX / 2 + 1) passes i64::MAX: marked, its maximum, latest and count kept.
        let second = runs[&("calls", starts[1])];
        assert!(second.past_largest);
        assert_eq!(
            (
                second.rollup.max_micros,
                second.rollup.latest_at,
                second.rollup.event_count
            ),
            (half, d, 2)
        );
    }

    #[test]
    fn of_events_at_the_same_instant_the_largest_is_the_latest() {
        let at = datetime!(2026-11-23 10:00 UTC);
        let one = Rollup::of(Quantity::parse("1").unwrap(), at, Aggregation::Sum).unwrap();
        let two = Rollup::of(Quantity::parse("2").unwrap(), at, Aggregation::Sum).unwrap();
        assert_eq!(one.merge(&two).unwrap().latest_micros, 2_000_000);
        assert_eq!(two.merge(&one).unwrap().latest_micros, 2_000_000);
    }

    #[test]
    fn gauges_are_never_refused_for_their_sum() {
        // Disk bytes near the largest quantity, reported twice in one hour: a `max` product
        // keeps both (it keeps no sum), a `sum` product refuses the second.
        let at = datetime!(2026-11-23 10:00 UTC);
        let max = max_quantity().to_string();
        let events = [event("a", &max, at), event("b", &max, at)];
        let (rollups, refused) = accumulate(
            events.iter().enumerate(),
            BillingOffset::UTC,
            Grain::Hour,
            |_: &Code| Aggregation::Max,
            &BTreeMap::new(),
        );
        assert!(refused.is_empty());
        let r = rollups.values().next().unwrap();
        assert_eq!(
            (r.sum_micros, r.max_micros, r.event_count),
            (0, i64::MAX, 2)
        );
        let (_, refused) = accumulate(
            events.iter().enumerate(),
            BillingOffset::UTC,
            Grain::Hour,
            sum,
            &BTreeMap::new(),
        );
        assert_eq!(refused, vec![1]);
    }

    #[test]
    fn days_start_at_the_local_midnight() {
        let india = BillingOffset::parse("+05:30").unwrap();
        // 2026-11-23 18:29 UTC is 23:59 in India; 18:30 UTC is the next local day.
        assert_eq!(
            day_bucket(datetime!(2026-11-23 18:29 UTC), india),
            datetime!(2026-11-22 18:30 UTC)
        );
        assert_eq!(
            day_bucket(datetime!(2026-11-23 18:30 UTC), india),
            datetime!(2026-11-23 18:30 UTC)
        );
        let day = Grain::Day;
        assert_eq!(
            day.ceil(datetime!(2026-11-23 18:30 UTC), india),
            datetime!(2026-11-23 18:30 UTC)
        );
        assert_eq!(
            day.ceil(datetime!(2026-11-23 18:31 UTC), india),
            datetime!(2026-11-24 18:30 UTC)
        );
        assert_eq!(
            Grain::Hour.ceil(datetime!(2026-11-23 18:31 UTC), india),
            datetime!(2026-11-23 19:30 UTC)
        );
    }

    #[test]
    fn a_batch_is_folded_once_and_what_would_overflow_its_stored_day_or_month_is_refused() {
        let offset = BillingOffset::UTC;
        let noon = datetime!(2026-11-10 12:00 UTC);
        let events = [
            event("a", "5", noon),
            event("b", "7", noon + time::Duration::minutes(30)),
            event("c", "1", datetime!(2026-11-11 00:10 UTC)),
        ];
        let indexed = || events.iter().enumerate();
        // Nothing stored: the batch's own rollups, as accumulate gives them.
        let folded = fold_batch(indexed(), offset, sum, &BTreeMap::new(), &BTreeMap::new());
        let none = BTreeMap::new();
        assert_eq!(folded.refused, Vec::<usize>::new());
        assert_eq!(
            folded.hours,
            accumulate(indexed(), offset, Grain::Hour, sum, &none).0
        );
        assert_eq!(
            folded.days,
            accumulate(indexed(), offset, Grain::Day, sum, &none).0
        );
        assert_eq!(
            folded.months,
            accumulate_months(indexed(), offset, sum, &none).0
        );
        // A stored month at the largest quantity less 6: "a" (5) fits, "b" (5 + 7 = 12) would
        // not, "c" (5 + 1 = 6) fits exactly. "b" is refused and counted nowhere.
        let max = crate::catalog::max_quantity();
        let almost = Quantity::parse(&(max - Decimal::from(6)).to_string()).unwrap();
        let stored_month = Rollup::of(almost, noon, Aggregation::Sum).unwrap();
        let month_key = RollupKey {
            project: events[0].project.clone(),
            product: events[0].product.clone(),
            bucket_start: month_bucket(noon, offset),
        };
        let months = BTreeMap::from([(month_key.clone(), stored_month)]);
        let folded = fold_batch(indexed(), offset, sum, &BTreeMap::new(), &months);
        assert_eq!(folded.refused, vec![1]);
        let accepted = [(0, &events[0]), (2, &events[2])];
        assert_eq!(
            folded.days,
            accumulate(accepted, offset, Grain::Day, sum, &none).0
        );
        assert_eq!(folded.months[&month_key].event_count, 2);
    }

    proptest! {
        /// Folding a batch refuses exactly what would overflow and adds the rest as the
        /// per-grain accumulations of the accepted events would.
        #[test]
        fn folding_adds_what_accumulating_the_accepted_events_adds(
            quantities in proptest::collection::vec(0i64..4, 1..12),
            minutes in proptest::collection::vec(0i64..(3 * 24 * 60), 12),
            headroom in 0i64..12,
        ) {
            let offset = BillingOffset::from_minutes(540).unwrap();
            let start = datetime!(2026-11-29 00:00 UTC);
            let events: Vec<UsageEvent> = quantities
                .iter()
                .zip(&minutes)
                .enumerate()
                .map(|(i, (q, m))| event(&format!("e{i}"), &q.to_string(), start + time::Duration::minutes(*m)))
                .collect();
            // Every month this batch touches is stored at the largest quantity less `headroom`.
            let max = crate::catalog::max_quantity();
            let near = Quantity::parse(&(max - Decimal::from(headroom)).to_string()).unwrap();
            let stored: BTreeMap<RollupKey, Rollup> = events
                .iter()
                .map(|e| (
                    RollupKey {
                        project: e.project.clone(),
                        product: e.product.clone(),
                        bucket_start: month_bucket(e.timestamp, offset),
                    },
                    Rollup::of(near, start, Aggregation::Sum).unwrap(),
                ))
                .collect();
            let folded = fold_batch(events.iter().enumerate(), offset, sum, &BTreeMap::new(), &stored);
            let accepted: Vec<(usize, &UsageEvent)> = events
                .iter()
                .enumerate()
                .filter(|(i, _)| !folded.refused.contains(i))
                .collect();
            let none = BTreeMap::new();
            prop_assert_eq!(&folded.hours, &accumulate(accepted.clone(), offset, Grain::Hour, sum, &none).0);
            prop_assert_eq!(&folded.days, &accumulate(accepted.clone(), offset, Grain::Day, sum, &none).0);
            prop_assert_eq!(&folded.months, &accumulate_months(accepted, offset, sum, &none).0);
            // Nothing stored overflows with what was added; each refused event would have.
            for (key, part) in &folded.months {
                prop_assert!(stored[key].merge(part).is_ok());
            }
            for index in &folded.refused {
                let e = &events[*index];
                let key = RollupKey {
                    project: e.project.clone(),
                    product: e.product.clone(),
                    bucket_start: month_bucket(e.timestamp, offset),
                };
                let one = Rollup::of(e.quantity, e.timestamp, Aggregation::Sum).unwrap();
                let with = folded.months.get(&key).map_or(Ok(one), |part| part.merge(&one)).unwrap();
                prop_assert!(stored[&key].merge(&with).is_err());
            }
        }
    }
}
