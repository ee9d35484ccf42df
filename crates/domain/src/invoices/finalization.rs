//! Which periods of an account are finalized, and when (SPEC 5): a period is finalized once it
//! has ended and a grace for late usage has passed; every period in which a project was on a plan
//! gets an invoice (a zero one included), a period in which none was gets none.

use std::collections::HashSet;

use time::{Duration, OffsetDateTime};

use crate::catalog::PlanAssignment;
use crate::error::DomainError;
use crate::period::{BillingOffset, BillingPeriod};
use crate::usage::reads::billed_spans;

/// The longest grace: the charge runs on the 5th of the month after a period (SPEC 7), so a
/// period must be finalized before then, even when the run is a day late.
pub const MAX_GRACE: Duration = Duration::days(3);

/// One project's history as finalization needs it: its plan changes and when it was closed.
pub struct ProjectHistory<'a> {
    pub assignments: &'a [PlanAssignment],
    pub closed_at: Option<OffsetDateTime>,
}

/// The periods to finalize as of `as_of`, oldest first: each that ended at least `grace` before
/// `as_of`, in which some project was on a plan, and that is not in `finalized`.
pub fn periods_due(
    projects: &[ProjectHistory<'_>],
    offset: BillingOffset,
    as_of: OffsetDateTime,
    grace: Duration,
    finalized: &HashSet<BillingPeriod>,
) -> Result<Vec<BillingPeriod>, DomainError> {
    let first = projects
        .iter()
        .flat_map(|p| p.assignments.iter())
        .map(|a| a.effective_from)
        .min();
    let Some(first) = first else {
        return Ok(Vec::new());
    };
    let mut period = BillingPeriod::containing(first, offset)?;
    let mut due = Vec::new();
    while period.end() + grace <= as_of {
        let billed = projects
            .iter()
            .any(|p| !billed_spans(&period, p.assignments, p.closed_at).is_empty());
        if billed && !finalized.contains(&period) {
            due.push(period);
        }
        period = period.next();
    }
    Ok(due)
}

/// Whether `period` can have been finalized by `now`: only once it has ended. A billing run
/// acts as of an instant that is never in the future, and whatever grace it was configured
/// with, a period that has not ended yet has no invoice. (The grace is not part of this rule:
/// a grace lengthened after a finalization must not hide the invoice.)
pub fn may_be_finalized(period: &BillingPeriod, now: OffsetDateTime) -> bool {
    period.end() <= now
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Code;
    use crate::names::ProjectId;
    use time::macros::datetime;

    fn assignment(plan: &str, from: OffsetDateTime) -> PlanAssignment {
        PlanAssignment {
            project: ProjectId::parse("proj_00000000000000000000000000000001").unwrap(),
            plan: Code::parse(plan).unwrap(),
            effective_from: from,
        }
    }

    fn seoul() -> BillingOffset {
        BillingOffset::parse("+09:00").unwrap()
    }

    fn names(periods: &[BillingPeriod]) -> Vec<String> {
        periods.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn ended_periods_after_the_grace_from_the_first_plan() {
        // On a plan from 2026-09-15 (Seoul). As of 2026-12-01 23:59 Seoul, November ended
        // 23 h 59 min ago: with a day of grace it is not due yet; September and October are.
        let history = [assignment("basic", datetime!(2026-09-15 10:00 +09:00))];
        let projects = [ProjectHistory {
            assignments: &history,
            closed_at: None,
        }];
        let due = |as_of| {
            periods_due(
                &projects,
                seoul(),
                as_of,
                Duration::days(1),
                &HashSet::new(),
            )
            .unwrap()
        };
        assert_eq!(
            names(&due(datetime!(2026-12-01 23:59 +09:00))),
            ["2026-09", "2026-10"]
        );
        // At 2026-12-02 00:00 Seoul (2026-12-01 15:00 UTC) November's grace is over.
        assert_eq!(
            names(&due(datetime!(2026-12-01 15:00 UTC))),
            ["2026-09", "2026-10", "2026-11"]
        );
    }

    #[test]
    fn finalized_periods_and_periods_without_a_plan_are_skipped() {
        // On a plan in September only: the project closed on 2026-10-01 00:00 Seoul, so
        // October has no billed time and gets no invoice. August had no plan yet.
        let history = [assignment("basic", datetime!(2026-09-01 00:00 +09:00))];
        let projects = [ProjectHistory {
            assignments: &history,
            closed_at: Some(datetime!(2026-10-01 00:00 +09:00)),
        }];
        let as_of = datetime!(2027-01-10 00:00 UTC);
        let due = periods_due(
            &projects,
            seoul(),
            as_of,
            Duration::days(1),
            &HashSet::new(),
        );
        assert_eq!(names(&due.unwrap()), ["2026-09"]);
        let done: HashSet<BillingPeriod> =
            [BillingPeriod::parse("2026-09", seoul()).unwrap()].into();
        let due = periods_due(&projects, seoul(), as_of, Duration::days(1), &done);
        assert!(due.unwrap().is_empty());
    }

    #[test]
    fn two_years_at_once() {
        // A plan from January 2025; as of 2027-01-02 12:00 UTC: all 24 months of 2025 and
        // 2026 (December 2026 ended on 2026-12-31 15:00 UTC, its day of grace is over).
        let history = [assignment("basic", datetime!(2025-01-01 00:00 +09:00))];
        let projects = [ProjectHistory {
            assignments: &history,
            closed_at: None,
        }];
        let due = periods_due(
            &projects,
            seoul(),
            datetime!(2027-01-02 12:00 UTC),
            Duration::days(1),
            &HashSet::new(),
        )
        .unwrap();
        assert_eq!(due.len(), 24);
        assert_eq!(due[0].to_string(), "2025-01");
        assert_eq!(due[23].to_string(), "2026-12");
    }

    #[test]
    fn no_plan_no_invoice() {
        let due = periods_due(
            &[],
            seoul(),
            datetime!(2027-01-02 12:00 UTC),
            Duration::days(1),
            &HashSet::new(),
        );
        assert!(due.unwrap().is_empty());
    }

    #[test]
    fn only_an_ended_period_may_have_been_finalized() {
        let offset = BillingOffset::parse("+09:00").unwrap();
        let november = BillingPeriod::new(2026, 11, offset).unwrap();
        // November in Seoul ends at 2026-11-30 15:00 UTC.
        assert!(!may_be_finalized(
            &november,
            datetime!(2026-11-30 14:59:59 UTC)
        ));
        assert!(may_be_finalized(&november, datetime!(2026-11-30 15:00 UTC)));
        assert!(may_be_finalized(&november, datetime!(2027-01-01 00:00 UTC)));
    }
}
