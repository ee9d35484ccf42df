//! The rollups of plan runs (see `billing_domain::usage::run_starts`): kept by ingestion for
//! every billing period plan changes cut, and cut again when a plan change lands in a period.

use billing_domain::names::ProjectId;
use billing_domain::period::{BillingOffset, BillingPeriod};
use billing_domain::usage::{run_starts, runs_of_hours, Grain};
use billing_persistence::repo;
use billing_persistence::repo::usage::{RollupQuery, StoredRollup};
use billing_persistence::DatabaseTransaction;
use time::OffsetDateTime;

use crate::error::out_of_range;
use crate::error::AppError;

/// Cuts the plan runs of the billing period a plan change at `at` lies in again, from the
/// project's hourly rollups, after the change was stored in `txn`. The caller holds the
/// account's row alone, so no batch of its usage lands between the read and the write.
pub async fn cut_again(
    txn: &DatabaseTransaction,
    project: &ProjectId,
    offset: BillingOffset,
    at: OffsetDateTime,
) -> Result<(), AppError> {
    let period = BillingPeriod::containing(at, offset)
        .map_err(|e| AppError::Internal(format!("the period of a plan change: {e}")))?;
    let history = repo::catalog::assignments_of(txn, std::slice::from_ref(project))
        .await?
        .remove(project)
        .unwrap_or_default();
    let starts = run_starts(&period, &history);
    if starts.is_empty() {
        // No change cuts the period: its month rollup holds it, and it has no runs.
        return Ok(());
    }
    let hours = repo::usage::read_rollups(
        txn,
        &RollupQuery {
            grain: Grain::Hour,
            projects: std::slice::from_ref(project),
            product_id: None,
            ranges: &[(period.start(), period.end())],
        },
    )
    .await?;
    let hours = hours.into_iter().map(
        |StoredRollup {
             product_id,
             bucket_start,
             rollup,
             ..
         }| (product_id, bucket_start, rollup),
    );
    let runs = runs_of_hours(&starts, offset, hours).map_err(out_of_range)?;
    repo::usage::replace_run_rollups(txn, project, &period.to_string(), &runs).await?;
    Ok(())
}
