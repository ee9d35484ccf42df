//! Billing periods: one calendar month in an account's billing UTC offset, and hourly proration
//! against the month's reference time (days in month x 24 hours, docs/periods.md).

use std::fmt;

use rust_decimal::Decimal;
use time::{Date, Duration, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

use crate::error::DomainError;

/// The largest distance of a billing offset from UTC, in minutes (14 hours).
const OFFSET_LIMIT_MINUTES: i32 = 14 * 60;

/// An offset [`OFFSET_LIMIT_MINUTES`] east (`1`) or west (`-1`) of UTC; always in range.
const fn offset_limit(sign: i32) -> UtcOffset {
    match UtcOffset::from_whole_seconds(sign * OFFSET_LIMIT_MINUTES * 60) {
        Ok(offset) => offset,
        Err(_) => UtcOffset::UTC,
    }
}

/// An account's billing UTC offset: whole minutes between -14:00 and +14:00 (`+09:00`, `+05:30`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct BillingOffset(UtcOffset);

impl BillingOffset {
    pub const UTC: BillingOffset = BillingOffset(UtcOffset::UTC);

    /// Parses `+HH:MM` or `-HH:MM` (also `Z` for UTC).
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let invalid = || DomainError::InvalidOffset;
        if text == "Z" {
            return Ok(Self::UTC);
        }
        let bytes = text.as_bytes();
        if bytes.len() != 6 || bytes[3] != b':' {
            return Err(invalid());
        }
        let sign: i32 = match bytes[0] {
            b'+' => 1,
            b'-' => -1,
            _ => return Err(invalid()),
        };
        let number = |s: &str| -> Result<i32, DomainError> {
            if s.bytes().all(|b| b.is_ascii_digit()) {
                s.parse::<i32>().map_err(|_| invalid())
            } else {
                Err(invalid())
            }
        };
        let hours = number(&text[1..3])?;
        let minutes = number(&text[4..6])?;
        if minutes >= 60 {
            return Err(invalid());
        }
        Self::from_minutes(sign * (hours * 60 + minutes)).map_err(|_| invalid())
    }

    /// The westernmost and easternmost offsets an account may have.
    pub const WEST_MOST: BillingOffset = BillingOffset(offset_limit(-1));
    pub const EAST_MOST: BillingOffset = BillingOffset(offset_limit(1));

    /// An offset of whole minutes east of UTC.
    pub fn from_minutes(minutes: i32) -> Result<Self, DomainError> {
        if !(-OFFSET_LIMIT_MINUTES..=OFFSET_LIMIT_MINUTES).contains(&minutes) {
            return Err(DomainError::InvalidOffset);
        }
        UtcOffset::from_whole_seconds(minutes * 60)
            .map(Self)
            .map_err(|_| DomainError::InvalidOffset)
    }

    pub fn whole_minutes(&self) -> i32 {
        self.0.whole_seconds() / 60
    }

    pub fn utc_offset(&self) -> UtcOffset {
        self.0
    }

    /// The instant a local calendar date starts at (its midnight in this offset).
    pub fn midnight(&self, date: Date) -> OffsetDateTime {
        PrimitiveDateTime::new(date, Time::MIDNIGHT).assume_offset(self.0)
    }

    /// The local calendar date an instant falls on.
    pub fn date_of(&self, instant: OffsetDateTime) -> Date {
        instant.to_offset(self.0).date()
    }
}

impl fmt::Display for BillingOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let minutes = self.whole_minutes();
        let sign = if minutes < 0 { '-' } else { '+' };
        let minutes = minutes.abs();
        write!(f, "{sign}{:02}:{:02}", minutes / 60, minutes % 60)
    }
}

/// One calendar month in a billing offset. It starts at local midnight of the 1st and ends
/// (exclusively) at local midnight of the 1st of the next month.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct BillingPeriod {
    year: i32,
    month: Month,
    offset: BillingOffset,
}

/// First and last year a billing period may fall in.
pub const MIN_YEAR: i32 = 2000;
pub const MAX_YEAR: i32 = 9998;

impl BillingPeriod {
    pub fn new(year: i32, month: u8, offset: BillingOffset) -> Result<Self, DomainError> {
        if !(MIN_YEAR..=MAX_YEAR).contains(&year) {
            return Err(DomainError::InvalidPeriod);
        }
        let month = Month::try_from(month).map_err(|_| DomainError::InvalidPeriod)?;
        Ok(Self {
            year,
            month,
            offset,
        })
    }

    /// Parses `YYYY-MM`.
    pub fn parse(text: &str, offset: BillingOffset) -> Result<Self, DomainError> {
        let invalid = || DomainError::InvalidPeriod;
        let (y, m) = text.split_once('-').ok_or_else(invalid)?;
        if y.len() != 4 || m.len() != 2 || !(y.bytes().chain(m.bytes())).all(|b| b.is_ascii_digit())
        {
            return Err(invalid());
        }
        let year = y.parse::<i32>().map_err(|_| invalid())?;
        let month = m.parse::<u8>().map_err(|_| invalid())?;
        Self::new(year, month, offset).map_err(|_| invalid())
    }

    /// The period that contains an instant, cut in the given offset.
    pub fn containing(instant: OffsetDateTime, offset: BillingOffset) -> Result<Self, DomainError> {
        let local = instant.to_offset(offset.utc_offset());
        Self::new(local.year(), u8::from(local.month()), offset)
    }

    /// The name (`YYYY-MM`) of the period holding `instant` whatever the account's offset:
    /// `None` within 14 hours of a month's end, where offsets disagree. A read can find a
    /// month rollup by this name before it knows the account.
    pub fn name_in_every_offset(instant: OffsetDateTime) -> Option<String> {
        let [west, east] = [BillingOffset::WEST_MOST, BillingOffset::EAST_MOST].map(|offset| {
            Self::containing(instant, offset)
                .ok()
                .map(|p| p.to_string())
        });
        if west == east {
            west
        } else {
            None
        }
    }

    pub fn year(&self) -> i32 {
        self.year
    }

    pub fn month(&self) -> u8 {
        u8::from(self.month)
    }

    pub fn offset(&self) -> BillingOffset {
        self.offset
    }

    /// Days in the month: 28, 29, 30 or 31.
    pub fn days(&self) -> u8 {
        self.month.length(self.year)
    }

    /// The monthly reference time of hourly billing: days in the month x 24 hours.
    pub fn reference_hours(&self) -> u32 {
        u32::from(self.days()) * 24
    }

    /// The first instant of the period.
    pub fn start(&self) -> OffsetDateTime {
        local_midnight(self.year, self.month, self.offset)
    }

    /// The first instant after the period (the start of the next one).
    pub fn end(&self) -> OffsetDateTime {
        let next = self.next();
        local_midnight(next.year, next.month, next.offset)
    }

    pub fn contains(&self, instant: OffsetDateTime) -> bool {
        self.start() <= instant && instant < self.end()
    }

    pub fn next(&self) -> BillingPeriod {
        let (year, month) = if self.month == Month::December {
            (self.year + 1, Month::January)
        } else {
            (self.year, self.month.next())
        };
        BillingPeriod {
            year,
            month,
            offset: self.offset,
        }
    }

    pub fn previous(&self) -> BillingPeriod {
        let (year, month) = if self.month == Month::January {
            (self.year - 1, Month::December)
        } else {
            (self.year, self.month.previous())
        };
        BillingPeriod {
            year,
            month,
            offset: self.offset,
        }
    }

    /// Exact hours of `[from, to)` that fall inside this period (0 when they do not overlap).
    pub fn hours_within(&self, from: OffsetDateTime, to: OffsetDateTime) -> Decimal {
        let start = from.max(self.start());
        let end = to.min(self.end());
        if end <= start {
            return Decimal::ZERO;
        }
        seconds_to_hours(end - start)
    }

    /// `monthly x min(hours, reference) / reference`, exact and unrounded; the caller rounds it
    /// once as a line with [`crate::money::Money::round`].
    pub fn prorate(&self, monthly: Decimal, hours: Decimal) -> Decimal {
        let reference = Decimal::from(self.reference_hours());
        let hours = hours.max(Decimal::ZERO).min(reference);
        if hours == reference {
            return monthly;
        }
        monthly * hours / reference
    }
}

impl fmt::Display for BillingPeriod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, u8::from(self.month))
    }
}

fn local_midnight(year: i32, month: Month, offset: BillingOffset) -> OffsetDateTime {
    // Every (year, month) of a BillingPeriod is a valid date between MIN_YEAR and MAX_YEAR + 1.
    let date = Date::from_calendar_date(year, month, 1).unwrap_or(Date::MIN);
    offset.midnight(date)
}

fn seconds_to_hours(duration: Duration) -> Decimal {
    let nanos = Decimal::from_i128_with_scale(duration.whole_nanoseconds(), 9);
    nanos / Decimal::from(3600)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;
    use time::macros::datetime;

    fn kst() -> BillingOffset {
        BillingOffset::parse("+09:00").unwrap()
    }

    #[test]
    fn a_period_is_named_before_the_offset_only_where_every_offset_agrees() {
        assert_eq!(
            BillingOffset::WEST_MOST,
            BillingOffset::parse("-14:00").unwrap()
        );
        assert_eq!(
            BillingOffset::EAST_MOST,
            BillingOffset::parse("+14:00").unwrap()
        );
        let name = BillingPeriod::name_in_every_offset;
        // Mid-month: November everywhere.
        assert_eq!(
            name(datetime!(2026-11-24 12:00 UTC)).as_deref(),
            Some("2026-11")
        );
        // 10:00 UTC on Nov 30 is already December at +14:00.
        assert_eq!(name(datetime!(2026-11-30 10:00 UTC)), None);
        assert_eq!(
            name(datetime!(2026-11-30 09:59:59 UTC)).as_deref(),
            Some("2026-11")
        );
        // 13:59:59 UTC on Dec 1 is still November at -14:00.
        assert_eq!(name(datetime!(2026-12-01 13:59:59 UTC)), None);
        assert_eq!(
            name(datetime!(2026-12-01 14:00 UTC)).as_deref(),
            Some("2026-12")
        );
    }

    #[test]
    fn reference_hours_are_days_times_24() {
        let utc = BillingOffset::UTC;
        assert_eq!(
            BillingPeriod::new(2026, 2, utc).unwrap().reference_hours(),
            672
        );
        assert_eq!(
            BillingPeriod::new(2028, 2, utc).unwrap().reference_hours(),
            696
        );
        assert_eq!(
            BillingPeriod::new(2026, 4, utc).unwrap().reference_hours(),
            720
        );
        assert_eq!(
            BillingPeriod::new(2026, 1, utc).unwrap().reference_hours(),
            744
        );
        assert_eq!(
            BillingPeriod::new(2100, 2, utc).unwrap().reference_hours(),
            672
        );
        assert_eq!(
            BillingPeriod::new(2000, 2, utc).unwrap().reference_hours(),
            696
        );
    }

    #[test]
    fn periods_cut_at_local_midnight_of_the_offset() {
        let p = BillingPeriod::parse("2026-11", kst()).unwrap();
        // 2026-11-01T00:00+09:00 = 2026-10-31T15:00Z
        assert_eq!(p.start(), datetime!(2026-10-31 15:00 UTC));
        assert_eq!(p.end(), datetime!(2026-11-30 15:00 UTC));
        assert!(p.contains(datetime!(2026-10-31 15:00 UTC)));
        assert!(!p.contains(datetime!(2026-10-31 14:59:59 UTC)));
        assert!(!p.contains(datetime!(2026-11-30 15:00 UTC)));

        let india = BillingOffset::parse("+05:30").unwrap();
        let p = BillingPeriod::containing(datetime!(2026-11-30 18:30 UTC), india).unwrap();
        // 18:30Z + 5:30 = 2026-12-01T00:00 local: already December
        assert_eq!(p.to_string(), "2026-12");
        let p = BillingPeriod::containing(datetime!(2026-11-30 18:29:59 UTC), india).unwrap();
        assert_eq!(p.to_string(), "2026-11");
    }

    #[test]
    fn offsets_parse_and_print() {
        assert_eq!(BillingOffset::parse("+05:30").unwrap().whole_minutes(), 330);
        assert_eq!(
            BillingOffset::parse("-03:30").unwrap().whole_minutes(),
            -210
        );
        assert_eq!(BillingOffset::parse("Z").unwrap().to_string(), "+00:00");
        assert_eq!(
            BillingOffset::parse("-00:30").unwrap().to_string(),
            "-00:30"
        );
        for bad in [
            "+5:30",
            "+05:60",
            "+15:00",
            "0900",
            "+09:00:00",
            "09:00",
            "+0a:00",
        ] {
            assert!(BillingOffset::parse(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn periods_parse_strictly() {
        assert!(BillingPeriod::parse("2026-13", BillingOffset::UTC).is_err());
        assert!(BillingPeriod::parse("2026-1", BillingOffset::UTC).is_err());
        assert!(BillingPeriod::parse("1999-12", BillingOffset::UTC).is_err());
        assert_eq!(
            BillingPeriod::parse("2026-12", BillingOffset::UTC)
                .unwrap()
                .next()
                .to_string(),
            "2027-01"
        );
        assert_eq!(
            BillingPeriod::parse("2027-01", BillingOffset::UTC)
                .unwrap()
                .previous()
                .to_string(),
            "2026-12"
        );
    }

    #[test]
    fn hourly_proration_matches_the_worked_example() {
        // February 2026: 672 h. 100 h of a 30,000 KRW monthly price:
        // 30,000 x 100 / 672 = 4,464.2857... -> 4,464 KRW once rounded as a line.
        let feb = BillingPeriod::new(2026, 2, kst()).unwrap();
        let exact = feb.prorate(dec!(30000), dec!(100));
        let krw = crate::money::Currency::parse("KRW").unwrap();
        assert_eq!(
            crate::money::Money::round(exact, krw).unwrap().to_string(),
            "4464"
        );
        // More hours than the reference cost the monthly price, never more.
        assert_eq!(feb.prorate(dec!(30000), dec!(700)), dec!(30000));
    }

    #[test]
    fn hours_within_clips_to_the_period() {
        let nov = BillingPeriod::parse("2026-11", BillingOffset::UTC).unwrap();
        // From 2026-11-21T12:00Z to the end of November: 9 days 12 hours = 228 h
        let h = nov.hours_within(
            datetime!(2026-11-21 12:00 UTC),
            datetime!(2027-03-01 00:00 UTC),
        );
        assert_eq!(h, dec!(228));
        let h = nov.hours_within(
            datetime!(2026-10-01 00:00 UTC),
            datetime!(2026-10-02 00:00 UTC),
        );
        assert_eq!(h, Decimal::ZERO);
    }

    fn offset_strategy() -> impl Strategy<Value = BillingOffset> {
        (-14 * 60..=14 * 60i32).prop_map(|m| BillingOffset::from_minutes(m).unwrap())
    }

    proptest! {
        #[test]
        fn a_period_is_exactly_its_reference_hours_long(year in 2000i32..2200, month in 1u8..=12, offset in offset_strategy()) {
            let p = BillingPeriod::new(year, month, offset).unwrap();
            let hours = p.hours_within(p.start(), p.end());
            prop_assert_eq!(hours, Decimal::from(p.reference_hours()));
            prop_assert_eq!(p.next().start(), p.end());
            prop_assert_eq!(p.next().previous(), p);
        }

        #[test]
        fn every_instant_falls_in_the_period_that_contains_it(secs in 946_771_200i64..7_258_118_400i64, offset in offset_strategy()) {
            // From 2000-01-02 UTC: a period is of year 2000 or later, and 2000-01-01 00:00 UTC is
            // still 1999 west of Greenwich.
            let instant = OffsetDateTime::from_unix_timestamp(secs).unwrap();
            let p = BillingPeriod::containing(instant, offset).unwrap();
            prop_assert!(p.contains(instant));
            prop_assert!(!p.next().contains(instant));
            prop_assert!(!p.previous().contains(instant));
        }

        #[test]
        fn proration_never_exceeds_the_monthly_price(monthly in 0i64..1_000_000_000, hours in 0i64..2000, year in 2000i32..2100, month in 1u8..=12) {
            let p = BillingPeriod::new(year, month, BillingOffset::UTC).unwrap();
            let monthly = Decimal::from(monthly);
            let prorated = p.prorate(monthly, Decimal::from(hours));
            prop_assert!(prorated <= monthly);
            prop_assert!(prorated >= Decimal::ZERO);
            prop_assert_eq!(p.prorate(monthly, Decimal::from(p.reference_hours())), monthly);
        }
    }
}
