//! Usage events and hourly rollups.
//!
//! Exactly-once is the primary key (account_id, event_id): events are inserted with
//! `ON CONFLICT DO NOTHING RETURNING event_id`, and only the returned ids count. Rollups are
//! upserted as increments (sum + delta, greatest max, latest by timestamp) in key order, so
//! concurrent batches neither lose an update on a new row nor deadlock on existing ones.

use std::collections::{BTreeMap, HashMap, HashSet};

use billing_domain::catalog::Code;
use billing_domain::names::{AccountId, ProjectId};
use billing_domain::usage::{Rollup, RollupKey, UsageEvent};
use sea_orm::sea_query::{
    Alias, Expr, OnConflict, PostgresQueryBuilder, Query, SqliteQueryBuilder, Value,
};
use sea_orm::{ConnectionTrait, DbBackend, Statement, TryGetable};
use time::OffsetDateTime;

use super::utc;
use crate::error::PersistenceError;

/// The columns of `usage_rollups`, in the order statements list them.
const ROLLUP_COLUMNS: [&str; 8] = [
    "project_id",
    "product_id",
    "bucket_start",
    "sum_micros",
    "max_micros",
    "latest_micros",
    "latest_at",
    "event_count",
];

fn a(name: &str) -> Alias {
    Alias::new(name)
}

fn build<S>(db: &impl ConnectionTrait, stmt: &S) -> Statement
where
    S: sea_orm::sea_query::QueryStatementWriter,
{
    let backend = db.get_database_backend();
    let (sql, values) = match backend {
        DbBackend::Postgres => stmt.build(PostgresQueryBuilder),
        _ => stmt.build(SqliteQueryBuilder),
    };
    Statement::from_sql_and_values(backend, sql, values)
}

fn get<T: TryGetable>(row: &sea_orm::QueryResult, column: &str) -> Result<T, PersistenceError> {
    row.try_get::<T>("", column).map_err(PersistenceError::Db)
}

/// An event to store: the validated event, its product's id and its raw properties (JSON text).
pub struct NewEvent<'a> {
    pub event: &'a UsageEvent,
    pub product_id: &'a str,
    pub properties: Option<String>,
}

/// Inserts events that are not stored yet; returns the ids that were inserted by this call.
pub async fn insert_events<C: ConnectionTrait>(
    db: &C,
    account: &AccountId,
    events: &[NewEvent<'_>],
    received_at: OffsetDateTime,
) -> Result<HashSet<String>, PersistenceError> {
    if events.is_empty() {
        return Ok(HashSet::new());
    }
    let mut insert = Query::insert();
    insert.into_table(a("usage_events")).columns([
        a("account_id"),
        a("event_id"),
        a("project_id"),
        a("product_id"),
        a("quantity"),
        a("occurred_at"),
        a("received_at"),
        a("properties"),
    ]);
    for e in events {
        insert.values_panic([
            account.as_str().into(),
            e.event.id.as_str().into(),
            e.event.project.as_str().into(),
            e.product_id.into(),
            e.event.quantity.to_string().into(),
            utc(e.event.timestamp).into(),
            utc(received_at).into(),
            e.properties.clone().into(),
        ]);
    }
    insert
        .on_conflict(
            OnConflict::columns([a("account_id"), a("event_id")])
                .do_nothing()
                .to_owned(),
        )
        .returning_col(a("event_id"));
    let rows = db.query_all(build(db, &insert)).await?;
    rows.iter()
        .map(|row| get::<String>(row, "event_id"))
        .collect()
}

/// Removes events of this account (those refused after insertion).
pub async fn delete_events<C: ConnectionTrait>(
    db: &C,
    account: &AccountId,
    ids: &[&str],
) -> Result<(), PersistenceError> {
    if ids.is_empty() {
        return Ok(());
    }
    let delete = Query::delete()
        .from_table(a("usage_events"))
        .and_where(Expr::col(a("account_id")).eq(account.as_str()))
        .and_where(Expr::col(a("event_id")).is_in(ids.iter().copied()))
        .to_owned();
    db.execute(build(db, &delete)).await?;
    Ok(())
}

/// The stored rollups of these keys, locked for this transaction on PostgreSQL (in key order).
/// `product_ids` maps each product code to its id.
pub async fn lock_rollups<C: ConnectionTrait>(
    db: &C,
    keys: &[&RollupKey],
    product_ids: &HashMap<Code, String>,
) -> Result<BTreeMap<RollupKey, Rollup>, PersistenceError> {
    let mut found = BTreeMap::new();
    if keys.is_empty() {
        return Ok(found);
    }
    let wanted: HashSet<(String, String, OffsetDateTime)> = keys
        .iter()
        .filter_map(|k| {
            product_ids
                .get(&k.product)
                .map(|p| (k.project.to_string(), p.clone(), utc(k.bucket_start)))
        })
        .collect();
    let projects: Vec<String> = wanted.iter().map(|w| w.0.clone()).collect();
    let products: Vec<String> = wanted.iter().map(|w| w.1.clone()).collect();
    let (from, to) = wanted.iter().fold(
        (None, None),
        |(lo, hi): (Option<OffsetDateTime>, Option<OffsetDateTime>), w| {
            (
                Some(lo.map_or(w.2, |l| l.min(w.2))),
                Some(hi.map_or(w.2, |h| h.max(w.2))),
            )
        },
    );
    let codes: HashMap<&String, &Code> = product_ids.iter().map(|(c, id)| (id, c)).collect();
    let mut select = Query::select();
    select
        .columns(ROLLUP_COLUMNS.map(a))
        .from(a("usage_rollups"))
        .and_where(Expr::col(a("project_id")).is_in(projects))
        .and_where(Expr::col(a("product_id")).is_in(products))
        .and_where(Expr::col(a("bucket_start")).gte(Value::from(from)))
        .and_where(Expr::col(a("bucket_start")).lte(Value::from(to)))
        .order_by(a("project_id"), sea_orm::sea_query::Order::Asc)
        .order_by(a("product_id"), sea_orm::sea_query::Order::Asc)
        .order_by(a("bucket_start"), sea_orm::sea_query::Order::Asc);
    if db.get_database_backend() == DbBackend::Postgres {
        select.lock(sea_orm::sea_query::LockType::Update);
    }
    for row in db.query_all(build(db, &select)).await? {
        let project: String = get(&row, "project_id")?;
        let product_id: String = get(&row, "product_id")?;
        let bucket: OffsetDateTime = get(&row, "bucket_start")?;
        if !wanted.contains(&(project.clone(), product_id.clone(), utc(bucket))) {
            continue;
        }
        let bad = PersistenceError::corrupt("usage_rollups", &project);
        let Some(code) = codes.get(&product_id) else {
            continue;
        };
        found.insert(
            RollupKey {
                project: ProjectId::parse(&project).map_err(&bad)?,
                product: (*code).clone(),
                bucket_start: utc(bucket),
            },
            Rollup {
                sum_micros: get(&row, "sum_micros")?,
                max_micros: get(&row, "max_micros")?,
                latest_micros: get(&row, "latest_micros")?,
                latest_at: get(&row, "latest_at")?,
                event_count: get(&row, "event_count")?,
            },
        );
    }
    Ok(found)
}

/// Adds each batch delta onto its rollup, creating it when new, in key order.
pub async fn add_to_rollups<C: ConnectionTrait>(
    db: &C,
    deltas: &BTreeMap<RollupKey, Rollup>,
    product_ids: &HashMap<Code, String>,
) -> Result<(), PersistenceError> {
    let greatest = match db.get_database_backend() {
        DbBackend::Postgres => "GREATEST",
        _ => "MAX",
    };
    // One statement per bucket, in key order: row locks are always taken in the same order.
    for (key, delta) in deltas {
        let Some(product_id) = product_ids.get(&key.product) else {
            continue;
        };
        let mut insert = Query::insert();
        insert
            .into_table(a("usage_rollups"))
            .columns(ROLLUP_COLUMNS.map(a))
            .values_panic([
                key.project.as_str().into(),
                product_id.as_str().into(),
                utc(key.bucket_start).into(),
                delta.sum_micros.into(),
                delta.max_micros.into(),
                delta.latest_micros.into(),
                utc(delta.latest_at).into(),
                delta.event_count.into(),
            ])
            .on_conflict(
                OnConflict::columns([a("project_id"), a("product_id"), a("bucket_start")])
                    .values([
                        (
                            a("sum_micros"),
                            Expr::cust("usage_rollups.sum_micros + excluded.sum_micros"),
                        ),
                        (
                            a("max_micros"),
                            Expr::cust(format!(
                                "{greatest}(usage_rollups.max_micros, excluded.max_micros)"
                            )),
                        ),
                        (
                            a("latest_micros"),
                            Expr::cust(
                                "CASE WHEN excluded.latest_at >= usage_rollups.latest_at \
                                 THEN excluded.latest_micros ELSE usage_rollups.latest_micros END",
                            ),
                        ),
                        (
                            a("latest_at"),
                            Expr::cust(
                                "CASE WHEN excluded.latest_at >= usage_rollups.latest_at \
                                 THEN excluded.latest_at ELSE usage_rollups.latest_at END",
                            ),
                        ),
                        (
                            a("event_count"),
                            Expr::cust("usage_rollups.event_count + excluded.event_count"),
                        ),
                    ])
                    .to_owned(),
            );
        db.execute(build(db, &insert)).await?;
    }
    Ok(())
}

/// The periods (`YYYY-MM`) of an account whose invoice is no longer open.
pub async fn closed_periods<C: ConnectionTrait>(
    db: &C,
    account: &AccountId,
) -> Result<HashSet<String>, PersistenceError> {
    let select = Query::select()
        .column(a("period"))
        .from(a("invoices"))
        .and_where(Expr::col(a("account_id")).eq(account.as_str()))
        .and_where(Expr::col(a("status")).ne("open"))
        .to_owned();
    db.query_all(build(db, &select))
        .await?
        .iter()
        .map(|row| get::<String>(row, "period"))
        .collect()
}
