//! `usage_run_rollups`: for a billing period that plan changes cut, one rollup per plan run and
//! product, kept up to date in the ingesting transaction beside the hour, day and month
//! rollups; and `usage_merged_segments` again, able to read them.
//!
//! A run starts at the period's start or at the first hour (of the account's billing offset) a
//! plan change inside the period is in force, and holds the hour buckets up to the next run's
//! start (the domain's `run_starts`). A period no change cuts has no run rows: its month rollup
//! holds it whole. A plan change that cuts a period cuts its runs again, from the hourly
//! rollups, in the changing transaction. So the billing table, the invoice preview and
//! finalization read a project whose plan changed mid-month as one row per run and product, as
//! they read any other project's month, instead of merging its days and the hours of the
//! changing day on every read.
//!
//! `sum_micros` is NULL where the run's sum is past the largest quantity (only where the month's
//! is too: usage stored before month rollups were kept).
//!
//! Existing rows are filled from the hourly rollups of every period a stored plan change cuts,
//! summed exactly (in 128 bits).

use std::collections::{BTreeMap, BTreeSet};

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};
use time::{Duration, OffsetDateTime, Time, UtcOffset};

use crate::m20261124_000009_merged_segments_function as merged_v1;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn a(name: &'static str) -> Alias {
    Alias::new(name)
}

const RUNS: &str = "usage_run_rollups";

const DROP_V1: &str = "DROP FUNCTION usage_merged_segments(integer[], text[], text[], \
     timestamptz[], timestamptz[], integer[], text[], text[], timestamptz[], timestamptz[], \
     integer[], text[], text[])";

const DROP_V2: &str = "DROP FUNCTION usage_merged_segments(integer[], text[], text[], \
     timestamptz[], timestamptz[], integer[], text[], text[], timestamptz[], timestamptz[], \
     integer[], text[], text[], integer[], text[], text[])";

/// Migration 9's function with a fourth kind of segment, the runs of a project's period (only
/// its `period`), answered one row per run and product with the run's start in `run_start`
/// (NULL for the other kinds).
const CREATE_V2: &str = r#"
CREATE FUNCTION usage_merged_segments(
    day_idx integer[], day_project text[], day_period text[],
    day_from timestamptz[], day_to timestamptz[],
    hour_idx integer[], hour_project text[], hour_period text[],
    hour_from timestamptz[], hour_to timestamptz[],
    month_idx integer[], month_project text[], month_period text[],
    run_idx integer[], run_project text[], run_period text[])
RETURNS TABLE (idx integer, product_id text, run_start timestamptz, sum_micros bigint,
               max_micros bigint, latest_micros bigint, latest_at timestamptz,
               event_count bigint)
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan
AS $function$
BEGIN
    RETURN QUERY
    SELECT s.idx, pr.product_id::text, NULL::timestamptz, m.s, m.mx, m.l, m.la, m.c FROM
        UNNEST(day_idx, day_project, day_period, day_from, day_to)
            AS s(idx, project_id, period, start_at, end_at)
    CROSS JOIN LATERAL (
        SELECT u.product_id FROM usage_monthly_rollups u
        WHERE u.project_id = s.project_id AND u.period = s.period) pr
    CROSS JOIN LATERAL (
        SELECT CAST(SUM(r.sum_micros) AS BIGINT) AS s, MAX(r.max_micros) AS mx,
            (ARRAY_AGG(r.latest_micros ORDER BY r.day_start DESC))[1] AS l,
            MAX(r.latest_at) AS la, CAST(SUM(r.event_count) AS BIGINT) AS c
        FROM usage_daily_rollups r
        WHERE r.project_id = s.project_id AND r.product_id = pr.product_id
            AND r.day_start >= s.start_at AND r.day_start < s.end_at
        HAVING COUNT(*) > 0) m
    UNION ALL
    SELECT s.idx, pr.product_id::text, NULL::timestamptz, m.s, m.mx, m.l, m.la, m.c FROM
        UNNEST(hour_idx, hour_project, hour_period, hour_from, hour_to)
            AS s(idx, project_id, period, start_at, end_at)
    CROSS JOIN LATERAL (
        SELECT u.product_id FROM usage_monthly_rollups u
        WHERE u.project_id = s.project_id AND u.period = s.period) pr
    CROSS JOIN LATERAL (
        SELECT CAST(SUM(r.sum_micros) AS BIGINT) AS s, MAX(r.max_micros) AS mx,
            (ARRAY_AGG(r.latest_micros ORDER BY r.bucket_start DESC))[1] AS l,
            MAX(r.latest_at) AS la, CAST(SUM(r.event_count) AS BIGINT) AS c
        FROM usage_rollups r
        WHERE r.project_id = s.project_id AND r.product_id = pr.product_id
            AND r.bucket_start >= s.start_at AND r.bucket_start < s.end_at
        HAVING COUNT(*) > 0) m
    UNION ALL
    SELECT s.idx, r.product_id::text, NULL::timestamptz, r.sum_micros, r.max_micros,
        r.latest_micros, r.latest_at, r.event_count
    FROM UNNEST(month_idx, month_project, month_period) AS s(idx, project_id, period)
    JOIN usage_monthly_rollups r ON r.project_id = s.project_id AND r.period = s.period
    UNION ALL
    SELECT s.idx, r.product_id::text, r.run_start, r.sum_micros, r.max_micros,
        r.latest_micros, r.latest_at, r.event_count
    FROM UNNEST(run_idx, run_project, run_period) AS s(idx, project_id, period)
    JOIN usage_run_rollups r ON r.project_id = s.project_id AND r.period = s.period;
END
$function$
"#;

/// One run being summed: exact sums, the largest maximum, the latest reading.
struct Run {
    sum: i128,
    max: i64,
    latest: (OffsetDateTime, i64),
    count: i128,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(a(RUNS))
                    .col(string_len(a("project_id"), 40))
                    // The billing period, `YYYY-MM` in the account's billing offset.
                    .col(string_len(a("period"), 7))
                    // The run's first hour bucket.
                    .col(timestamp_with_time_zone(a("run_start")))
                    .col(string_len(a("product_id"), 40))
                    // NULL: past the largest quantity (see the module's documentation).
                    .col(big_integer_null(a("sum_micros")))
                    .col(big_integer(a("max_micros")))
                    .col(big_integer(a("latest_micros")))
                    .col(timestamp_with_time_zone(a("latest_at")))
                    .col(big_integer(a("event_count")))
                    .primary_key(
                        Index::create()
                            // A project's period is one range of the key.
                            .col(a("project_id"))
                            .col(a("period"))
                            .col(a("run_start"))
                            .col(a("product_id")),
                    )
                    .to_owned(),
            )
            .await?;
        fill(manager).await?;
        let db = manager.get_connection();
        if db.get_database_backend() == DbBackend::Postgres {
            for sql in [DROP_V1, CREATE_V2] {
                db.execute(Statement::from_string(DbBackend::Postgres, sql))
                    .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if db.get_database_backend() == DbBackend::Postgres {
            db.execute(Statement::from_string(DbBackend::Postgres, DROP_V2))
                .await?;
            merged_v1::Migration.up(manager).await?;
        }
        manager
            .drop_table(Table::drop().table(a(RUNS)).to_owned())
            .await
    }
}

/// The start of the hour of `offset` at or after `instant`.
fn hour_ceil(instant: OffsetDateTime, offset: UtcOffset) -> OffsetDateTime {
    let local = instant.to_offset(offset);
    let floor = local.replace_time(Time::from_hms(local.hour(), 0, 0).unwrap_or(Time::MIDNIGHT));
    if floor == local {
        floor
    } else {
        floor + Duration::HOUR
    }
}

/// The billing period of `offset` holding `instant`: its name and `[start, end)`.
fn period_of(
    instant: OffsetDateTime,
    offset: UtcOffset,
) -> (String, OffsetDateTime, OffsetDateTime) {
    let local = instant.to_offset(offset);
    let start = local
        .replace_day(1)
        .unwrap_or(local)
        .replace_time(Time::MIDNIGHT);
    let end = start + Duration::days(32);
    let end = end.replace_day(1).unwrap_or(end);
    let name = format!("{:04}-{:02}", start.year(), u8::from(start.month()));
    (name, start, end)
}

/// Fills the runs of every period a stored plan change cuts, from its hourly rollups.
async fn fill(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let backend = db.get_database_backend();
    let changes = db
        .query_all(Statement::from_string(
            backend,
            "SELECT pp.project_id AS project_id, pp.effective_from AS effective_from, \
             a.billing_offset_minutes AS offset_minutes \
             FROM project_plans pp JOIN projects p ON p.id = pp.project_id \
             JOIN accounts a ON a.id = p.account_id",
        ))
        .await?;
    // (project, period) -> (offset, period's start and end, run starts)
    type Cut = (
        UtcOffset,
        OffsetDateTime,
        OffsetDateTime,
        BTreeSet<OffsetDateTime>,
    );
    let mut cut: BTreeMap<(String, String), Cut> = BTreeMap::new();
    for row in &changes {
        let project: String = row.try_get("", "project_id")?;
        let from: OffsetDateTime = row.try_get("", "effective_from")?;
        let minutes: i32 = row.try_get("", "offset_minutes")?;
        let offset = UtcOffset::from_whole_seconds(minutes * 60)
            .map_err(|e| DbErr::Custom(format!("offset of {project}: {e}")))?;
        let (name, start, end) = period_of(from, offset);
        let hour = hour_ceil(from, offset);
        if start < hour && hour < end {
            cut.entry((project, name))
                .or_insert_with(|| (offset, start, end, BTreeSet::from([start])))
                .3
                .insert(hour);
        }
    }
    for ((project, period), (offset, start, end, starts)) in cut {
        let select = Query::select()
            .columns(
                [
                    "product_id",
                    "bucket_start",
                    "sum_micros",
                    "max_micros",
                    "latest_micros",
                    "latest_at",
                    "event_count",
                ]
                .map(a),
            )
            .from(a("usage_rollups"))
            .and_where(Expr::col(a("project_id")).eq(project.as_str()))
            .and_where(Expr::col(a("bucket_start")).gte(start.to_offset(UtcOffset::UTC)))
            .and_where(Expr::col(a("bucket_start")).lt(end.to_offset(UtcOffset::UTC)))
            .to_owned();
        let mut runs: BTreeMap<(OffsetDateTime, String), Run> = BTreeMap::new();
        for row in db.query_all(backend.build(&select)).await? {
            let product: String = row.try_get("", "product_id")?;
            let hour: OffsetDateTime = row.try_get("", "bucket_start")?;
            let sum: i64 = row.try_get("", "sum_micros")?;
            let max: i64 = row.try_get("", "max_micros")?;
            let latest_micros: i64 = row.try_get("", "latest_micros")?;
            let latest_at: OffsetDateTime = row.try_get("", "latest_at")?;
            let count: i64 = row.try_get("", "event_count")?;
            let run = starts
                .range(..=hour.to_offset(offset))
                .next_back()
                .copied()
                .unwrap_or(start);
            let latest = (latest_at, latest_micros);
            runs.entry((run, product))
                .and_modify(|r| {
                    r.sum += i128::from(sum);
                    r.max = r.max.max(max);
                    // The latest reading by instant, and of equal instants the largest.
                    r.latest = r.latest.max(latest);
                    r.count += i128::from(count);
                })
                .or_insert(Run {
                    sum: i128::from(sum),
                    max,
                    latest,
                    count: i128::from(count),
                });
        }
        if runs.is_empty() {
            continue;
        }
        let mut insert = Query::insert();
        insert.into_table(a(RUNS)).columns(
            [
                "project_id",
                "period",
                "run_start",
                "product_id",
                "sum_micros",
                "max_micros",
                "latest_micros",
                "latest_at",
                "event_count",
            ]
            .map(a),
        );
        for ((run, product), r) in &runs {
            let count = <i64 as TryFrom<i128>>::try_from(r.count)
                .map_err(|_| DbErr::Custom(format!("event count of {project} overflows")))?;
            insert.values_panic([
                project.as_str().into(),
                period.as_str().into(),
                run.to_offset(UtcOffset::UTC).into(),
                product.as_str().into(),
                <i64 as TryFrom<i128>>::try_from(r.sum).ok().into(),
                r.max.into(),
                r.latest.1.into(),
                r.latest.0.to_offset(UtcOffset::UTC).into(),
                count.into(),
            ]);
        }
        db.execute(backend.build(&insert)).await?;
    }
    Ok(())
}
