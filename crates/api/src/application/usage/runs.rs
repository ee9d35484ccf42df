//! The rollups of plan runs (see `billing_domain::usage::run_starts`): kept by ingestion for
//! every billing period plan changes cut, and cut again when a plan change lands in a period.

use std::collections::BTreeMap;

use billing_domain::names::ProjectId;
use billing_domain::period::{BillingOffset, BillingPeriod};
use billing_domain::usage::{run_of, run_starts, Grain, Rollup};
use billing_persistence::repo;
use billing_persistence::repo::usage::{RollupQuery, RunRollup, StoredRollup};
use billing_persistence::DatabaseTransaction;
use time::OffsetDateTime;

use crate::application::error::AppError;

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
    let mut runs: BTreeMap<(String, OffsetDateTime), (Rollup, bool)> = BTreeMap::new();
    for StoredRollup {
        product_id,
        bucket_start,
        rollup,
        ..
    } in hours
    {
        let key = (product_id, run_of(&starts, bucket_start, offset));
        let next = match runs.get(&key) {
            None => (rollup, false),
            // A run past the largest quantity is kept as one (its sum unknown): only possible
            // where its month is too, for usage stored before month rollups were kept.
            Some((run, past)) => match run.merge(&rollup) {
                Ok(merged) => (merged, *past),
                Err(_) => (*run, true),
            },
        };
        runs.insert(key, next);
    }
    let rows: Vec<RunRollup> = runs
        .into_iter()
        .map(|((product_id, start), (rollup, past_largest))| RunRollup {
            product_id,
            start,
            rollup,
            past_largest,
        })
        .collect();
    repo::usage::replace_run_rollups(txn, project, &period.to_string(), &rows).await?;
    Ok(())
}
