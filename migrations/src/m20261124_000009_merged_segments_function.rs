//! PostgreSQL only: `usage_merged_segments`, the statement that merges rollups of segments (runs
//! of days, ranges of hours, whole months of projects) for the billing table, the invoice
//! preview and finalization, as a function whose plan is kept.
//!
//! Sent as a prepared statement, PostgreSQL planned it again on every execution: with the
//! segments' arrays known, each custom plan looks cheaper than a generic one, so it never
//! switches, and planning took as long as running it (0.29 ms of 0.65 ms per billing-table read
//! of the demo). A PL/pgSQL function keeps the plan of its query for the session, and
//! `plan_cache_mode = force_generic_plan` on the function (not on the session) makes that plan
//! the generic one, made once. The plan is the same either way: every segment's buckets of each
//! product are one range of the primary key (project, product, bucket), read in a `LATERAL`
//! aggregate. The products looked for are those with usage in the segment's period: its month
//! rollups name them, so a large catalog costs nothing.
//!
//! Each segment is `idx` (the caller's index), `project_id`, the name of the billing period it
//! lies in (`period`, `YYYY-MM`), and `[start_at, end_at)` (days and hours); a whole month is
//! only its `period`. One row per segment and product with usage: sums and counts
//! added, the largest maximum, the latest reading (that of the latest bucket). A sum past the
//! largest `BIGINT` fails with `numeric_value_out_of_range`. A month past the largest quantity
//! (only months stored before month rollups were kept) has a NULL `sum_micros`.
//!
//! A change to the statement is a new migration (`CREATE OR REPLACE FUNCTION`).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

const CREATE: &str = r#"
CREATE FUNCTION usage_merged_segments(
    day_idx integer[], day_project text[], day_period text[],
    day_from timestamptz[], day_to timestamptz[],
    hour_idx integer[], hour_project text[], hour_period text[],
    hour_from timestamptz[], hour_to timestamptz[],
    month_idx integer[], month_project text[], month_period text[])
RETURNS TABLE (idx integer, product_id text, sum_micros bigint, max_micros bigint,
               latest_micros bigint, latest_at timestamptz, event_count bigint)
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan
AS $function$
BEGIN
    RETURN QUERY
    SELECT s.idx, m.* FROM
        UNNEST(day_idx, day_project, day_period, day_from, day_to)
            AS s(idx, project_id, period, start_at, end_at)
    CROSS JOIN LATERAL (
        SELECT u.product_id FROM usage_monthly_rollups u
        WHERE u.project_id = s.project_id AND u.period = s.period) pr
    CROSS JOIN LATERAL (
        SELECT pr.product_id::text, CAST(SUM(r.sum_micros) AS BIGINT), MAX(r.max_micros),
            (ARRAY_AGG(r.latest_micros ORDER BY r.day_start DESC))[1], MAX(r.latest_at),
            CAST(SUM(r.event_count) AS BIGINT)
        FROM usage_daily_rollups r
        WHERE r.project_id = s.project_id AND r.product_id = pr.product_id
            AND r.day_start >= s.start_at AND r.day_start < s.end_at
        HAVING COUNT(*) > 0) m
    UNION ALL
    SELECT s.idx, m.* FROM
        UNNEST(hour_idx, hour_project, hour_period, hour_from, hour_to)
            AS s(idx, project_id, period, start_at, end_at)
    CROSS JOIN LATERAL (
        SELECT u.product_id FROM usage_monthly_rollups u
        WHERE u.project_id = s.project_id AND u.period = s.period) pr
    CROSS JOIN LATERAL (
        SELECT pr.product_id::text, CAST(SUM(r.sum_micros) AS BIGINT), MAX(r.max_micros),
            (ARRAY_AGG(r.latest_micros ORDER BY r.bucket_start DESC))[1], MAX(r.latest_at),
            CAST(SUM(r.event_count) AS BIGINT)
        FROM usage_rollups r
        WHERE r.project_id = s.project_id AND r.product_id = pr.product_id
            AND r.bucket_start >= s.start_at AND r.bucket_start < s.end_at
        HAVING COUNT(*) > 0) m
    UNION ALL
    SELECT s.idx, m.* FROM
        UNNEST(month_idx, month_project, month_period) AS s(idx, project_id, period)
    CROSS JOIN LATERAL (
        SELECT r.product_id::text, r.sum_micros, r.max_micros, r.latest_micros, r.latest_at,
            r.event_count
        FROM usage_monthly_rollups r
        WHERE r.project_id = s.project_id AND r.period = s.period) m;
END
$function$
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if db.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        db.execute(Statement::from_string(DbBackend::Postgres, CREATE))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if db.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        db.execute(Statement::from_string(
            DbBackend::Postgres,
            "DROP FUNCTION usage_merged_segments",
        ))
        .await?;
        Ok(())
    }
}
