//! `usage_monthly_rollups`: the same aggregates as the hourly and daily rollups, per project x
//! product x billing period (`YYYY-MM` in the account's billing offset), kept up to date in the
//! ingesting transaction beside the other two.
//!
//! A monthly usage read then moves one row per project and product, and needs no offset to find
//! it: the period's name is the key, so the caller's access, the projects and their usage are
//! read in the same round. An account's offset cannot change once it has usage, so a period's
//! name always means the same days.
//!
//! `sum_micros` is NULL where the month's sum is past the largest quantity. Ingestion refuses an
//! event that would take a month there, so only usage stored before this table existed can be
//! in that state (days that each fit, whose month does not); a read of such a month answers
//! usage-out-of-range, as it did before.
//!
//! Existing rows are filled from the daily rollups, summed exactly (in 128 bits).

use std::collections::BTreeMap;

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, Statement};
use time::{Duration, OffsetDateTime};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn a(name: &'static str) -> Alias {
    Alias::new(name)
}

/// The columns of a rollup table whose bucket column is `bucket`.
fn columns(bucket: &'static str) -> [Alias; 8] {
    [
        "project_id",
        "product_id",
        bucket,
        "sum_micros",
        "max_micros",
        "latest_micros",
        "latest_at",
        "event_count",
    ]
    .map(a)
}

/// Projects whose daily rollups are read per statement while filling.
const PROJECT_CHUNK: usize = 200;

/// One month being summed: exact sums, the largest maximum, the latest reading.
struct Month {
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
                    .table(a("usage_monthly_rollups"))
                    .col(string_len(a("project_id"), 40))
                    .col(string_len(a("product_id"), 40))
                    // The billing period, `YYYY-MM` in the account's billing offset.
                    .col(string_len(a("period"), 7))
                    // NULL: past the largest quantity (see the module's documentation).
                    .col(big_integer_null(a("sum_micros")))
                    .col(big_integer(a("max_micros")))
                    .col(big_integer(a("latest_micros")))
                    .col(timestamp_with_time_zone(a("latest_at")))
                    .col(big_integer(a("event_count")))
                    .primary_key(
                        Index::create()
                            // A project's month is one range of the key, whatever its
                            // products.
                            .col(a("project_id"))
                            .col(a("period"))
                            .col(a("product_id")),
                    )
                    .to_owned(),
            )
            .await?;
        fill(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(a("usage_monthly_rollups")).to_owned())
            .await
    }
}

/// Sums the stored daily rollups into months, a chunk of projects at a time.
async fn fill(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let backend = db.get_database_backend();
    let projects = db
        .query_all(Statement::from_string(
            backend,
            "SELECT p.id AS id, a.billing_offset_minutes AS offset_minutes \
             FROM projects p JOIN accounts a ON a.id = p.account_id \
             WHERE EXISTS (SELECT 1 FROM usage_daily_rollups r WHERE r.project_id = p.id) \
             ORDER BY p.id",
        ))
        .await?;
    let mut offsets = BTreeMap::new();
    for row in &projects {
        let id: String = row.try_get("", "id")?;
        let minutes: i32 = row.try_get("", "offset_minutes")?;
        offsets.insert(id, Duration::minutes(i64::from(minutes)));
    }
    let ids: Vec<&String> = offsets.keys().collect();
    for chunk in ids.chunks(PROJECT_CHUNK) {
        let select = Query::select()
            .columns(columns("day_start"))
            .from(a("usage_daily_rollups"))
            .and_where(Expr::col(a("project_id")).is_in(chunk.iter().map(|id| id.as_str())))
            .to_owned();
        let mut months: BTreeMap<(String, String, String), Month> = BTreeMap::new();
        for row in db.query_all(backend.build(&select)).await? {
            let project: String = row.try_get("", "project_id")?;
            let product: String = row.try_get("", "product_id")?;
            let day: OffsetDateTime = row.try_get("", "day_start")?;
            let sum: i64 = row.try_get("", "sum_micros")?;
            let max: i64 = row.try_get("", "max_micros")?;
            let latest_micros: i64 = row.try_get("", "latest_micros")?;
            let latest_at: OffsetDateTime = row.try_get("", "latest_at")?;
            let count: i64 = row.try_get("", "event_count")?;
            let offset = offsets.get(&project).copied().unwrap_or_default();
            // The day's date in the account's offset names its period.
            let local = (day + offset).date();
            let period = format!("{:04}-{:02}", local.year(), u8::from(local.month()));
            let latest = (latest_at, latest_micros);
            months
                .entry((project, product, period))
                .and_modify(|m| {
                    m.sum += i128::from(sum);
                    m.max = m.max.max(max);
                    // The latest reading by instant, and of equal instants the largest.
                    m.latest = m.latest.max(latest);
                    m.count += i128::from(count);
                })
                .or_insert(Month {
                    sum: i128::from(sum),
                    max,
                    latest,
                    count: i128::from(count),
                });
        }
        let rows: Vec<_> = months.into_iter().collect();
        for part in rows.chunks(500) {
            let mut insert = Query::insert();
            insert
                .into_table(a("usage_monthly_rollups"))
                .columns(columns("period"));
            for ((project, product, period), m) in part {
                let count = <i64 as TryFrom<i128>>::try_from(m.count)
                    .map_err(|_| DbErr::Custom(format!("event count of {project} overflows")))?;
                insert.values_panic([
                    project.as_str().into(),
                    product.as_str().into(),
                    period.as_str().into(),
                    <i64 as TryFrom<i128>>::try_from(m.sum).ok().into(),
                    m.max.into(),
                    m.latest.1.into(),
                    m.latest.0.to_offset(time::UtcOffset::UTC).into(),
                    count.into(),
                ]);
            }
            db.execute(backend.build(&insert)).await?;
        }
    }
    Ok(())
}
