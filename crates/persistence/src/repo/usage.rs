//! Usage events and their hourly and daily rollups.
//!
//! Exactly-once is the primary key (account_id, event_id): events are inserted with
//! `ON CONFLICT DO NOTHING RETURNING event_id`, and only the returned ids count. Rollups are
//! upserted as increments (sum + delta, greatest max, latest by timestamp and then by value, as
//! `Rollup::merge`) in key order (hours, then days, then months), so
//! concurrent batches neither lose an update on a new row nor deadlock on existing ones. A batch
//! that reads rollups under lock first (ingestion's careful way) holds its account's row alone,
//! so no batch writing in that order runs beside it.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use billing_domain::accounts::access::Role;
use billing_domain::accounts::Account;
use billing_domain::catalog::Code;
use billing_domain::names::{AccountId, ProjectId, UserId};
use billing_domain::period::{BillingOffset, BillingPeriod};
use billing_domain::usage::{Grain, Rollup, RollupKey, RunTotal, UsageEvent};
use sea_orm::sea_query::{
    Alias, Asterisk, Condition, Expr, JoinType, LockType, OnConflict, Order, Query, Value,
};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use time::OffsetDateTime;

use super::accounts::projects::{page_statement, project_of_row, ProjectQuery};
use super::catalog::ProductRef;
use super::sql::{a, build, get};
use super::utc;
use crate::error::PersistenceError;
use billing_domain::page::{Page, PageRequest};

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
    if db.get_database_backend() == DbBackend::Postgres {
        return insert_events_unnest(db, account, events, received_at).await;
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

/// PostgreSQL: inserts a batch given as one array per column ([`unnest_values`]).
const UNNEST_INSERT: &str = "INSERT INTO usage_events \
     (account_id, event_id, project_id, product_id, quantity, occurred_at, received_at, \
      properties) \
     SELECT $1, e.event_id, e.project_id, e.product_id, e.quantity, e.occurred_at, $2, \
            NULLIF(e.properties, '') \
     FROM UNNEST($3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[], $8::text[]) \
          AS e(event_id, project_id, product_id, quantity, occurred_at, properties)";

/// The 8 parameters of an `UNNEST` insert of `events`: the account, the receiving instant, and
/// one array per column.
fn unnest_values(
    account: &AccountId,
    events: &[NewEvent<'_>],
    received_at: OffsetDateTime,
) -> Vec<Value> {
    use sea_orm::sea_query::ArrayType;
    let column = |ty: ArrayType, values: Vec<Value>| Value::Array(ty, Some(Box::new(values)));
    // Array elements cannot be NULL through the binder: no properties travel as '' (properties
    // are a JSON object's text, never empty) and become NULL again below.
    let strings = |f: &dyn Fn(&NewEvent<'_>) -> String| {
        column(
            ArrayType::String,
            events
                .iter()
                .map(|e| Value::String(Some(Box::new(f(e)))))
                .collect(),
        )
    };
    vec![
        account.as_str().into(),
        utc(received_at).into(),
        strings(&|e| e.event.id.as_str().to_owned()),
        strings(&|e| e.event.project.to_string()),
        strings(&|e| e.product_id.to_owned()),
        strings(&|e| e.event.quantity.to_string()),
        column(
            ArrayType::TimeDateTimeWithTimeZone,
            events
                .iter()
                .map(|e| Value::TimeDateTimeWithTimeZone(Some(Box::new(utc(e.event.timestamp)))))
                .collect(),
        ),
        strings(&|e| e.properties.clone().unwrap_or_default()),
    ]
}

/// PostgreSQL: the whole batch as one array per column, so the statement has 8 parameters
/// whatever the batch size (a `VALUES` list of 1,000 rows has 8,000, each planned and bound).
async fn insert_events_unnest<C: ConnectionTrait>(
    db: &C,
    account: &AccountId,
    events: &[NewEvent<'_>],
    received_at: OffsetDateTime,
) -> Result<HashSet<String>, PersistenceError> {
    let values = unnest_values(account, events, received_at);
    // The inserted ids come back as one array in one row, not a row per event.
    let sql = format!(
        "WITH inserted AS ({UNNEST_INSERT} ON CONFLICT (account_id, event_id) DO NOTHING \
         RETURNING event_id) \
         SELECT COALESCE(array_agg(event_id::text), '{{}}') AS ids FROM inserted"
    );
    let row = db
        .query_one(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            values,
        ))
        .await?;
    let ids: Vec<String> = match row {
        Some(row) => get(&row, "ids")?,
        None => Vec::new(),
    };
    Ok(ids.into_iter().collect())
}

/// PostgreSQL, when the batch is expected to be new: every event is inserted with a plain
/// `INSERT`, much cheaper per row than `ON CONFLICT`'s speculative insertion, and without first
/// reading which ids are stored (a second index descent per event). If one of them is stored
/// already, by an earlier request (a retried batch fails on its first event) or a concurrent
/// one, the unique constraint refuses the insert ([`PersistenceError::AlreadyExists`]); the
/// transaction is then void and the caller runs the batch again with [`insert_events`].
/// Returns the ids inserted: all of them.
pub async fn insert_new_events<C: ConnectionTrait>(
    db: &C,
    account: &AccountId,
    events: &[NewEvent<'_>],
    received_at: OffsetDateTime,
) -> Result<HashSet<String>, PersistenceError> {
    if db.get_database_backend() != DbBackend::Postgres {
        return insert_events(db, account, events, received_at).await;
    }
    if events.is_empty() {
        return Ok(HashSet::new());
    }
    let values = unnest_values(account, events, received_at);
    db.execute(Statement::from_sql_and_values(
        DbBackend::Postgres,
        UNNEST_INSERT,
        values,
    ))
    .await
    .map_err(crate::error::unique_or_db)?;
    Ok(events
        .iter()
        .map(|e| e.event.id.as_str().to_owned())
        .collect())
}

/// Which of these event ids the account has stored already.
pub async fn stored_event_ids<C: ConnectionTrait>(
    db: &C,
    account: &AccountId,
    ids: &[&str],
) -> Result<HashSet<String>, PersistenceError> {
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    let select = Query::select()
        .column(a("event_id"))
        .from(a("usage_events"))
        .and_where(Expr::col(a("account_id")).eq(account.as_str()))
        .and_where(Expr::col(a("event_id")).is_in(ids.iter().copied()))
        .to_owned();
    db.query_all(build(db, &select))
        .await?
        .iter()
        .map(|row| get::<String>(row, "event_id"))
        .collect()
}

/// The table and bucket column of rollups of a grain.
fn rollup_table(grain: Grain) -> (&'static str, &'static str) {
    match grain {
        Grain::Hour => ("usage_rollups", "bucket_start"),
        Grain::Day => ("usage_daily_rollups", "day_start"),
    }
}

/// The columns of a rollup table, in the order statements list them.
fn rollup_columns(bucket: &str) -> Vec<Alias> {
    ["project_id", "product_id", bucket]
        .into_iter()
        .chain(AGGREGATES)
        .map(a)
        .collect()
}

fn rollup_of(row: &sea_orm::QueryResult) -> Result<Rollup, PersistenceError> {
    Ok(Rollup {
        sum_micros: get(row, "sum_micros")?,
        max_micros: get(row, "max_micros")?,
        latest_micros: get(row, "latest_micros")?,
        latest_at: get(row, "latest_at")?,
        event_count: get(row, "event_count")?,
    })
}

/// Rows per rollup upsert statement (8 parameters each, well under both databases' limits).
const UPSERT_CHUNK: usize = 1000;

/// Adds each batch delta onto its `grain` rollup, creating it when new. Rows are written in key
/// order, so concurrent batches take row locks in the same order and cannot deadlock. Sums are
/// exact: ingestion refuses an event that would overflow its day first (against the locked day
/// rows; SQLite runs one writer at a time). On PostgreSQL an overflow that slipped past it (two
/// batches creating the same day at once) fails the statement, so the batch is retried, instead
/// of wrapping.
pub async fn add_to_rollups<C: ConnectionTrait>(
    db: &C,
    grain: Grain,
    deltas: &BTreeMap<RollupKey, Rollup>,
    products: &HashMap<Code, ProductRef>,
) -> Result<(), PersistenceError> {
    let rows: Vec<(&RollupKey, &Rollup, &ProductRef)> = deltas
        .iter()
        .filter_map(|(key, delta)| products.get(&key.product).map(|p| (key, delta, p)))
        .collect();
    let (table, bucket) = rollup_table(grain);
    for chunk in rows.chunks(UPSERT_CHUNK) {
        let chunk: Vec<_> = chunk
            .iter()
            .map(|(key, delta, product)| {
                let bucket = vec![Value::from(utc(key.bucket_start))];
                (*key, bucket, *delta, *product)
            })
            .collect();
        upsert_rollups(db, table, &[bucket], &chunk).await?;
    }
    Ok(())
}

/// Adds each batch delta onto its month rollup (keyed by the start of its billing period, see
/// `billing_domain::usage::month_bucket`), creating it when new, in key order like
/// [`add_to_rollups`]. Ingestion refuses an event that would overflow its month first (against
/// the locked month rows, [`lock_rollups`]); on PostgreSQL an overflow that slipped
/// past it fails the statement.
pub async fn add_to_monthly_rollups<C: ConnectionTrait>(
    db: &C,
    offset: BillingOffset,
    deltas: &BTreeMap<RollupKey, Rollup>,
    products: &HashMap<Code, ProductRef>,
) -> Result<(), PersistenceError> {
    add_keyed(db, MONTHLY, &["period"], deltas, products, |key| {
        Ok(vec![Value::from(period_name(key, offset)?)])
    })
    .await
}

/// Adds each batch delta onto its plan run's rollup (keyed by the start of the run, see
/// `billing_domain::usage::run_starts`), creating it when new, in key order like
/// [`add_to_rollups`]. A run is part of its month, whose overflow ingestion refuses first.
pub async fn add_to_run_rollups<C: ConnectionTrait>(
    db: &C,
    offset: BillingOffset,
    deltas: &BTreeMap<RollupKey, Rollup>,
    products: &HashMap<Code, ProductRef>,
) -> Result<(), PersistenceError> {
    add_keyed(
        db,
        RUNS,
        &["period", "run_start"],
        deltas,
        products,
        |key| {
            Ok(vec![
                Value::from(period_name(key, offset)?),
                Value::from(utc(key.bucket_start)),
            ])
        },
    )
    .await
}

/// Upserts the deltas of known products into `table`, each keyed by project, product and the
/// `keys` columns, whose values `key_values` gives.
async fn add_keyed<C: ConnectionTrait>(
    db: &C,
    table: &str,
    keys: &[&str],
    deltas: &BTreeMap<RollupKey, Rollup>,
    products: &HashMap<Code, ProductRef>,
    key_values: impl Fn(&RollupKey) -> Result<Vec<Value>, PersistenceError>,
) -> Result<(), PersistenceError> {
    let mut rows = Vec::with_capacity(deltas.len());
    for (key, delta) in deltas {
        if let Some(product) = products.get(&key.product) {
            rows.push((key, key_values(key)?, delta, product));
        }
    }
    for chunk in rows.chunks(UPSERT_CHUNK) {
        upsert_rollups(db, table, keys, chunk).await?;
    }
    Ok(())
}

/// The plan runs of one project's period (named `period`) as they now are, keyed by product
/// (its storage id) and run start: they replace whatever was stored for it. Called when a plan
/// change cuts the period, in the changing transaction. A run past the largest quantity is
/// stored with a NULL sum, read as out of range.
pub async fn replace_run_rollups<C: ConnectionTrait>(
    db: &C,
    project: &ProjectId,
    period: &str,
    runs: &BTreeMap<(String, OffsetDateTime), RunTotal>,
) -> Result<(), PersistenceError> {
    let delete = Query::delete()
        .from_table(a(RUNS))
        .and_where(Expr::col(a("project_id")).eq(project.as_str()))
        .and_where(Expr::col(a("period")).eq(period))
        .to_owned();
    db.execute(build(db, &delete)).await?;
    let runs: Vec<_> = runs.iter().collect();
    for chunk in runs.chunks(UPSERT_CHUNK) {
        let mut insert = Query::insert();
        insert.into_table(a(RUNS)).columns(
            ["project_id", "period", "run_start", "product_id"]
                .into_iter()
                .chain(AGGREGATES)
                .map(a),
        );
        for ((product_id, start), run) in chunk {
            let r = &run.rollup;
            insert.values_panic([
                project.as_str().into(),
                period.into(),
                utc(*start).into(),
                product_id.as_str().into(),
                (!run.past_largest).then_some(r.sum_micros).into(),
                r.max_micros.into(),
                r.latest_micros.into(),
                utc(r.latest_at).into(),
                r.event_count.into(),
            ]);
        }
        db.execute(build(db, &insert)).await?;
    }
    Ok(())
}

/// The table of plan-run rollups, kept for billing periods plan changes cut (migration 10).
const RUNS: &str = "usage_run_rollups";

/// The table of month rollups, keyed by the period's name (`YYYY-MM` in the account's offset).
const MONTHLY: &str = "usage_monthly_rollups";

/// The name of the billing period a month rollup key starts.
fn period_name(key: &RollupKey, offset: BillingOffset) -> Result<String, PersistenceError> {
    BillingPeriod::containing(key.bucket_start, offset)
        .map(|p| p.to_string())
        .map_err(PersistenceError::corrupt(MONTHLY, key.project.as_str()))
}

/// Which stored rollups a careful batch reads under lock: its days, or its months (kept per
/// period name in the account's offset, see [`add_to_monthly_rollups`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Locked {
    Days,
    Months(BillingOffset),
}

/// The stored day or month rollups of these keys, locked for this transaction on PostgreSQL
/// (in key order). `products` maps each product code to its stored product. A month whose sum
/// is already past the largest quantity (only usage stored before month rollups were kept) is
/// left out: its events are counted as they were before, and its reads answer out of range.
pub async fn lock_rollups<C: ConnectionTrait>(
    db: &C,
    which: Locked,
    keys: &[&RollupKey],
    products: &HashMap<Code, ProductRef>,
) -> Result<BTreeMap<RollupKey, Rollup>, PersistenceError> {
    let mut found = BTreeMap::new();
    if keys.is_empty() {
        return Ok(found);
    }
    let (table, bucket) = match which {
        Locked::Days => rollup_table(Grain::Day),
        Locked::Months(_) => (MONTHLY, "period"),
    };
    // Each key's row by project, product id and bucket: a day's start (in nanoseconds), or a
    // month's period name.
    let day = |start: OffsetDateTime| utc(start).unix_timestamp_nanos().to_string();
    let mut wanted: HashMap<(String, String, String), &RollupKey> = HashMap::new();
    for key in keys {
        if let Some(product) = products.get(&key.product) {
            let bucket_value = match which {
                Locked::Days => day(key.bucket_start),
                Locked::Months(offset) => period_name(key, offset)?,
            };
            wanted.insert(
                (key.project.to_string(), product.id.clone(), bucket_value),
                key,
            );
        }
    }
    let projects: BTreeSet<&str> = wanted.keys().map(|w| w.0.as_str()).collect();
    let product_ids: BTreeSet<&str> = wanted.keys().map(|w| w.1.as_str()).collect();
    let mut select = Query::select();
    select
        .columns(rollup_columns(bucket))
        .from(a(table))
        .and_where(Expr::col(a("project_id")).is_in(projects))
        .and_where(Expr::col(a("product_id")).is_in(product_ids));
    match which {
        Locked::Days => {
            let starts = wanted.values().map(|k| utc(k.bucket_start));
            let (from, to) = (starts.clone().min(), starts.max());
            select
                .and_where(Expr::col(a(bucket)).gte(Value::from(from)))
                .and_where(Expr::col(a(bucket)).lte(Value::from(to)));
        }
        Locked::Months(_) => {
            let periods: BTreeSet<&str> = wanted.keys().map(|w| w.2.as_str()).collect();
            select.and_where(Expr::col(a(bucket)).is_in(periods));
        }
    }
    select
        .order_by(a("project_id"), Order::Asc)
        .order_by(a("product_id"), Order::Asc)
        .order_by(a(bucket), Order::Asc);
    if db.get_database_backend() == DbBackend::Postgres {
        select.lock(LockType::Update);
    }
    for row in db.query_all(build(db, &select)).await? {
        let bucket_value = match which {
            Locked::Days => day(get::<OffsetDateTime>(&row, bucket)?),
            Locked::Months(_) => get::<String>(&row, bucket)?,
        };
        let wanted_key = (
            get::<String>(&row, "project_id")?,
            get::<String>(&row, "product_id")?,
            bucket_value,
        );
        let Some(key) = wanted.get(&wanted_key) else {
            continue;
        };
        if get::<Option<i64>>(&row, "sum_micros")?.is_none() {
            continue;
        }
        found.insert((*key).clone(), rollup_of(&row)?);
    }
    Ok(found)
}

/// Upserts rollups into `table`, each row with its value of the `bucket` column.
/// The aggregate columns of every rollup table, in the order rows are written.
const AGGREGATES: [&str; 5] = [
    "sum_micros",
    "max_micros",
    "latest_micros",
    "latest_at",
    "event_count",
];

/// Upserts rollups into `table`, keyed by project, product and the `keys` columns (each row
/// carries their values).
async fn upsert_rollups<C: ConnectionTrait>(
    db: &C,
    table: &str,
    keys: &[&str],
    rows: &[(&RollupKey, Vec<Value>, &Rollup, &ProductRef)],
) -> Result<(), PersistenceError> {
    let greatest = match db.get_database_backend() {
        DbBackend::Postgres => "GREATEST",
        _ => "MAX",
    };
    let key_columns = || keys.iter().map(|k| Alias::new(*k));
    let mut insert = Query::insert();
    insert.into_table(a(table)).columns(
        [a("project_id"), a("product_id")]
            .into_iter()
            .chain(key_columns())
            .chain(AGGREGATES.map(a)),
    );
    for (key, key_values, delta, product) in rows {
        let mut values: Vec<sea_orm::sea_query::SimpleExpr> =
            vec![key.project.as_str().into(), product.id.as_str().into()];
        values.extend(
            key_values
                .iter()
                .cloned()
                .map(sea_orm::sea_query::SimpleExpr::from),
        );
        values.extend([
            delta.sum_micros.into(),
            delta.max_micros.into(),
            delta.latest_micros.into(),
            utc(delta.latest_at).into(),
            delta.event_count.into(),
        ]);
        insert.values_panic(values);
    }
    // The latest value by timestamp, and of equal timestamps the largest (as `Rollup::merge`).
    let later = format!("excluded.latest_at > {table}.latest_at");
    let same = format!("excluded.latest_at = {table}.latest_at");
    insert.on_conflict(
        OnConflict::columns([a("project_id"), a("product_id")].into_iter().chain(key_columns()))
            .values([
                (
                    a("sum_micros"),
                    Expr::cust(format!("{table}.sum_micros + excluded.sum_micros")),
                ),
                (
                    a("max_micros"),
                    Expr::cust(format!(
                        "{greatest}({table}.max_micros, excluded.max_micros)"
                    )),
                ),
                (
                    a("latest_micros"),
                    Expr::cust(format!(
                        "CASE WHEN {later} THEN excluded.latest_micros \
                         WHEN {same} THEN {greatest}(excluded.latest_micros, {table}.latest_micros) \
                         ELSE {table}.latest_micros END"
                    )),
                ),
                (
                    a("latest_at"),
                    Expr::cust(format!(
                        "CASE WHEN {later} THEN excluded.latest_at ELSE {table}.latest_at END"
                    )),
                ),
                (
                    a("event_count"),
                    Expr::cust(format!("{table}.event_count + excluded.event_count")),
                ),
            ])
            .to_owned(),
    );
    db.execute(build(db, &insert)).await?;
    Ok(())
}

/// A stored rollup as reads see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredRollup {
    pub project: ProjectId,
    pub product_id: String,
    pub bucket_start: OffsetDateTime,
    pub rollup: Rollup,
}

/// Which rollups a read wants.
pub struct RollupQuery<'a> {
    pub grain: Grain,
    pub projects: &'a [ProjectId],
    /// Only this product (its storage id), or all.
    pub product_id: Option<&'a str>,
    /// Buckets starting in any of these `[start, end)` ranges.
    pub ranges: &'a [(OffsetDateTime, OffsetDateTime)],
}

/// The stored rollups a read wants, in key order.
pub async fn read_rollups<C: ConnectionTrait>(
    db: &C,
    query: &RollupQuery<'_>,
) -> Result<Vec<StoredRollup>, PersistenceError> {
    if query.projects.is_empty() || query.ranges.is_empty() {
        return Ok(Vec::new());
    }
    let (table, bucket) = rollup_table(query.grain);
    let mut in_ranges = Condition::any();
    for (start, end) in query.ranges {
        in_ranges = in_ranges.add(
            Expr::col(a(bucket))
                .gte(Value::from(utc(*start)))
                .and(Expr::col(a(bucket)).lt(Value::from(utc(*end)))),
        );
    }
    let mut select = Query::select();
    select
        .columns(rollup_columns(bucket))
        .from(a(table))
        .and_where(Expr::col(a("project_id")).is_in(query.projects.iter().map(|p| p.as_str())))
        .cond_where(in_ranges)
        .order_by(a("project_id"), Order::Asc)
        .order_by(a("product_id"), Order::Asc)
        .order_by(a(bucket), Order::Asc);
    if let Some(product) = query.product_id {
        select.and_where(Expr::col(a("product_id")).eq(product));
    }
    db.query_all(build(db, &select))
        .await?
        .iter()
        .map(|row| {
            let project: String = get(row, "project_id")?;
            let bad = PersistenceError::corrupt(table, &project);
            Ok(StoredRollup {
                project: ProjectId::parse(&project).map_err(&bad)?,
                product_id: get(row, "product_id")?,
                bucket_start: get(row, bucket)?,
                rollup: rollup_of(row)?,
            })
        })
        .collect()
}

/// Whether any usage event of the account is stored.
pub async fn has_usage<C: ConnectionTrait>(
    db: &C,
    account: &AccountId,
) -> Result<bool, PersistenceError> {
    let select = Query::select()
        .expr(Expr::val(1))
        .from(a("usage_events"))
        .and_where(Expr::col(a("account_id")).eq(account.as_str()))
        .limit(1)
        .to_owned();
    Ok(db.query_one(build(db, &select)).await?.is_some())
}

/// Where a segment's rollups are read: the buckets of a grain starting in `[from, to)`, the
/// month rollup of the whole period, or the rollups of the period's plan runs (one per run and
/// product, kept for periods plan changes cut).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Source {
    Days,
    Hours,
    Month,
    Runs,
}

/// A part of one project's usage to read as one merged rollup per product (per run and product
/// for [`Source::Runs`]), all in the billing period named `period`.
#[derive(Clone, Debug)]
pub struct Segment<'a> {
    pub project: &'a ProjectId,
    pub source: Source,
    /// `[from, to)`: the buckets read for [`Source::Days`] and [`Source::Hours`]; the whole
    /// period for the others.
    pub from: OffsetDateTime,
    pub to: OffsetDateTime,
    /// The name (`YYYY-MM`) of the billing period the segment lies in. On PostgreSQL, its month
    /// rollups name the products to look for (those with usage in the period).
    pub period: &'a str,
}

/// One merged rollup: of the segment at `segment` (its index in the slice asked for), of one
/// product (by storage id).
#[derive(Clone, Debug)]
pub struct MergedRollup {
    pub segment: usize,
    pub product_id: String,
    /// The start of the plan run it holds, for a segment of [`Source::Runs`].
    pub run_start: Option<OffsetDateTime>,
    pub rollup: Rollup,
}

/// Segments per statement: four parameters each, well under both databases' limits.
const SEGMENT_CHUNK: usize = 500;

/// Each segment's rollups merged in the database, per product, exactly as
/// [`Rollup::merge`](billing_domain::usage::Rollup) merges them: sums and counts added, the
/// largest maximum, the latest reading (that of the latest bucket, see [`merge_columns`]).
/// A read of a month then
/// moves one row per product and segment instead of one per day or hour. A sum past the largest
/// quantity fails with an out-of-range error ([`PersistenceError::is_out_of_range`]).
pub async fn merged_rollups<C: ConnectionTrait>(
    db: &C,
    segments: &[Segment<'_>],
) -> Result<Vec<MergedRollup>, PersistenceError> {
    let wanted: Vec<(usize, &Segment)> = segments
        .iter()
        .enumerate()
        .filter(|(_, s)| s.from < s.to)
        .collect();
    let mut merged = Vec::new();
    for chunk in wanted.chunks(SEGMENT_CHUNK) {
        merged.extend(merge_chunk(db, chunk).await?);
    }
    Ok(merged)
}

/// One statement for a chunk of segments: a part per source, joined with `UNION ALL` (on
/// PostgreSQL, one call of its function).
async fn merge_chunk<C: ConnectionTrait>(
    db: &C,
    segments: &[(usize, &Segment<'_>)],
) -> Result<Vec<MergedRollup>, PersistenceError> {
    let backend = db.get_database_backend();
    if backend == DbBackend::Postgres {
        return merge_chunk_postgres(db, segments).await;
    }
    let mut values: Vec<Value> = Vec::with_capacity(segments.len() * 4);
    let mut parts = Vec::new();
    for (grain, source) in [(Grain::Day, Source::Days), (Grain::Hour, Source::Hours)] {
        let (table, bucket) = rollup_table(grain);
        let mut rows = Vec::new();
        for (index, segment) in segments.iter().filter(|(_, s)| s.source == source) {
            rows.push("SELECT ? AS idx, ? AS project_id, ? AS start_at, ? AS end_at");
            values.push(Value::from(segment_index(*index)?));
            values.push(Value::from(segment.project.as_str()));
            values.push(Value::from(utc(segment.from)));
            values.push(Value::from(utc(segment.to)));
        }
        if rows.is_empty() {
            continue;
        }
        // `product_id IN (products)` names every product, which lets both databases search the
        // primary key (project, product, bucket) by range instead of reading every bucket of
        // the project (measured on SQLite: 46 us instead of 815 us for two split days of the
        // demo).
        let aggregates = merge_columns(backend, bucket);
        parts.push(format!(
            "SELECT s.idx AS idx, r.product_id AS product_id, NULL AS run_start, {aggregates} \
             FROM ({segments}) AS s \
             JOIN {table} AS r ON r.project_id = s.project_id \
             AND r.product_id IN (SELECT id FROM products) \
             AND r.{bucket} >= s.start_at AND r.{bucket} < s.end_at \
             GROUP BY s.idx, r.product_id",
            segments = rows.join(" UNION ALL "),
        ));
    }
    // Whole months and plan runs: stored rows, the same columns as `merge_columns`.
    for (source, table, run_start) in [
        (Source::Month, MONTHLY, "NULL"),
        (Source::Runs, RUNS, "r.run_start"),
    ] {
        let mut rows = Vec::new();
        for (index, segment) in segments.iter().filter(|(_, s)| s.source == source) {
            rows.push("SELECT ? AS idx, ? AS project_id, ? AS period");
            values.push(Value::from(segment_index(*index)?));
            values.push(Value::from(segment.project.as_str()));
            values.push(Value::from(segment.period));
        }
        if rows.is_empty() {
            continue;
        }
        parts.push(format!(
            "SELECT s.idx AS idx, r.product_id AS product_id, {run_start} AS run_start, \
             r.sum_micros AS sum_micros, r.max_micros AS max_micros, \
             '|' || r.latest_micros || '|' || r.latest_at AS latest_key, \
             r.event_count AS event_count \
             FROM ({segments}) AS s \
             JOIN {table} AS r ON r.project_id = s.project_id AND r.period = s.period",
            segments = rows.join(" UNION ALL "),
        ));
    }
    if parts.is_empty() {
        return Ok(Vec::new());
    }
    let sql = parts.join(" UNION ALL ");
    let found = db
        .query_all(Statement::from_sql_and_values(backend, sql, values))
        .await
        .map_err(|e| PersistenceError::from(e).overflow_as_out_of_range())?;
    merged_of_rows(&found, false)
}

/// The merged rollups of a merge's rows (`idx`, `product_id` and [`merge_columns`]).
fn merged_of_rows(
    rows: &[sea_orm::QueryResult],
    postgres: bool,
) -> Result<Vec<MergedRollup>, PersistenceError> {
    rows.iter()
        .map(|row| {
            let segment: i32 = get(row, "idx")?;
            let product_id: String = get(row, "product_id")?;
            let rollup = merged_rollup_of(row, postgres, "usage rollups", &product_id)?;
            Ok(MergedRollup {
                segment: usize::try_from(segment).unwrap_or(usize::MAX),
                product_id,
                run_start: get(row, "run_start")?,
                rollup,
            })
        })
        .collect()
}

/// PostgreSQL: the segments as one array per column (days, hours, months, runs), merged by the
/// `usage_merged_segments` function (migrations 9 and 10), which keeps its generic plan for the session
/// instead of being planned again on every execution. Each segment's buckets of each product
/// with usage in its period (its month rollups name them) are one range of the primary key
/// (project, product, bucket), whatever the planner's statistics say about a join (with fresh
/// statistics of a few projects it hashed every hourly rollup; with `product_id IN (products)`
/// it scanned every hour of the project).
const MERGE_POSTGRES: &str = "SELECT idx, product_id, run_start, sum_micros, max_micros, \
     latest_micros, latest_at, event_count \
     FROM usage_merged_segments($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, \
     $15, $16)";

async fn merge_chunk_postgres<C: ConnectionTrait>(
    db: &C,
    segments: &[(usize, &Segment<'_>)],
) -> Result<Vec<MergedRollup>, PersistenceError> {
    use sea_orm::sea_query::ArrayType;
    let array = |ty: ArrayType, values: Vec<Value>| Value::Array(ty, Some(Box::new(values)));
    let mut values = Vec::with_capacity(16);
    for source in [Source::Days, Source::Hours, Source::Month, Source::Runs] {
        let part: Vec<&(usize, &Segment<'_>)> = segments
            .iter()
            .filter(|(_, s)| s.source == source)
            .collect();
        let mut indexes = Vec::with_capacity(part.len());
        for (index, _) in &part {
            indexes.push(Value::Int(Some(segment_index(*index)?)));
        }
        values.push(array(ArrayType::Int, indexes));
        let strings = |f: &dyn Fn(&Segment<'_>) -> String| {
            array(
                ArrayType::String,
                part.iter()
                    .map(|(_, s)| Value::String(Some(Box::new(f(s)))))
                    .collect(),
            )
        };
        values.push(strings(&|s| s.project.to_string()));
        values.push(strings(&|s| s.period.to_owned()));
        if matches!(source, Source::Days | Source::Hours) {
            for bound in [|s: &Segment<'_>| s.from, |s: &Segment<'_>| s.to] {
                values.push(array(
                    ArrayType::TimeDateTimeWithTimeZone,
                    part.iter()
                        .map(|(_, s)| {
                            Value::TimeDateTimeWithTimeZone(Some(Box::new(utc(bound(s)))))
                        })
                        .collect(),
                ));
            }
        }
    }
    let found = db
        .query_all(Statement::from_sql_and_values(
            DbBackend::Postgres,
            MERGE_POSTGRES,
            values,
        ))
        .await
        .map_err(PersistenceError::from)?;
    merged_of_rows(&found, true)
}

/// A segment's index as the statement carries it.
fn segment_index(index: usize) -> Result<i32, PersistenceError> {
    i32::try_from(index)
        .map_err(|_| PersistenceError::Db(sea_orm::DbErr::Custom("too many segments".into())))
}

/// The aggregate columns that merge rollups of `r` (`sum_micros`, `max_micros`, `event_count`
/// and the latest value; on SQLite the latest as one `latest_key` text).
///
/// The latest value of a group is the one of its latest bucket: a rollup's `latest_at` lies in
/// its own bucket and a group's buckets are distinct, so the largest bucket holds the largest
/// `latest_at` (no ties). PostgreSQL takes it with `ARRAY_AGG ... ORDER BY`; SQLite, whose
/// buckets are fixed-width RFC 3339 text that sorts like the instants, takes the largest
/// `bucket|latest_micros|latest_at` text.
pub(crate) fn merge_columns(backend: DbBackend, bucket: &str) -> String {
    if backend == DbBackend::Postgres {
        format!(
            "CAST(SUM(r.sum_micros) AS BIGINT) AS sum_micros, MAX(r.max_micros) AS max_micros, \
             (ARRAY_AGG(r.latest_micros ORDER BY r.{bucket} DESC))[1] AS latest_micros, \
             MAX(r.latest_at) AS latest_at, CAST(SUM(r.event_count) AS BIGINT) AS event_count"
        )
    } else {
        format!(
            "SUM(r.sum_micros) AS sum_micros, MAX(r.max_micros) AS max_micros, \
             MAX(r.{bucket} || '|' || r.latest_micros || '|' || r.latest_at) AS latest_key, \
             SUM(r.event_count) AS event_count"
        )
    }
}

/// A merged rollup from the columns of [`merge_columns`].
pub(crate) fn merged_rollup_of(
    row: &sea_orm::QueryResult,
    postgres: bool,
    table: &'static str,
    key: &str,
) -> Result<Rollup, PersistenceError> {
    let (latest_micros, latest_at) = if postgres {
        (get(row, "latest_micros")?, get(row, "latest_at")?)
    } else {
        let text: String = get(row, "latest_key")?;
        latest_of_key(&text).ok_or_else(|| {
            PersistenceError::corrupt(table, key)(billing_domain::DomainError::QuantityOutOfRange)
        })?
    };
    // A month rollup past the largest quantity (see [`lock_rollups`]).
    let sum_micros = get::<Option<i64>>(row, "sum_micros")?.ok_or(PersistenceError::OutOfRange)?;
    Ok(Rollup {
        sum_micros,
        max_micros: get(row, "max_micros")?,
        latest_micros,
        latest_at,
        event_count: get(row, "event_count")?,
    })
}

/// The latest value and its instant from SQLite's `bucket|latest_micros|latest_at` key.
fn latest_of_key(key: &str) -> Option<(i64, OffsetDateTime)> {
    let mut parts = key.split('|');
    let _bucket = parts.next()?;
    let value: i64 = parts.next()?.parse().ok()?;
    let at = OffsetDateTime::parse(
        parts.next()?,
        &time::format_description::well_known::Rfc3339,
    )
    .ok()?;
    Some((value, at))
}

/// A page of an account's projects, each with the reader's participation and its month rollup
/// of the billing period named `period` (`YYYY-MM`) per product: the monthly usage read in one
/// statement, one row per project and product. A month past the largest quantity (see
/// [`lock_rollups`]) fails with an out-of-range error.
pub async fn projects_with_usage<C: ConnectionTrait>(
    db: &C,
    query: &ProjectQuery<'_>,
    page: &PageRequest,
    period: &str,
) -> Result<Page<ProjectWithUsage>, PersistenceError> {
    let select = with_usage_statement(query, page, period);
    let rows = db.query_all(build(db, &select)).await?;
    with_usage_of_rows(&rows, query, page)
}

/// The account, `member`'s role in it (`None`: an operator's read) and
/// [`projects_with_usage`], in one statement ([`super::accounts::with_rows`]). `None` when the
/// account does not exist or `member` is no member of it.
pub async fn account_with_usage<C: ConnectionTrait>(
    db: &C,
    member: Option<&UserId>,
    query: &ProjectQuery<'_>,
    page: &PageRequest,
    period: &str,
) -> Result<Option<(Account, Option<Role>, Page<ProjectWithUsage>)>, PersistenceError> {
    let inner = with_usage_statement(query, page, period);
    let found =
        super::accounts::with_rows(db, query.account, member, inner, &["id", "usage_product"])
            .await?;
    let Some((account, role, rows)) = found else {
        return Ok(None);
    };
    let projects = with_usage_of_rows(&rows, query, page)?;
    Ok(Some((account, role, projects)))
}

/// The statement of [`projects_with_usage`], ordered by project and product.
fn with_usage_statement(
    query: &ProjectQuery<'_>,
    page: &PageRequest,
    period: &str,
) -> sea_orm::sea_query::SelectStatement {
    Query::select()
        .column((a("p"), Asterisk))
        .expr(Expr::cust(
            "u.product_id AS usage_product, u.sum_micros AS sum_micros, \
             u.max_micros AS max_micros, u.latest_micros AS latest_micros, \
             u.latest_at AS latest_at, u.event_count AS event_count",
        ))
        .from_subquery(page_statement(query, page), a("p"))
        .join_as(
            JoinType::LeftJoin,
            a(MONTHLY),
            a("u"),
            Condition::all()
                .add(Expr::col((a("u"), a("project_id"))).equals((a("p"), a("id"))))
                .add(Expr::col((a("u"), a("period"))).eq(period)),
        )
        .order_by((a("p"), a("id")), Order::Asc)
        .order_by((a("u"), a("product_id")), Order::Asc)
        .to_owned()
}

/// The page of [`with_usage_statement`]'s rows, in their order; rows without a project (`id`
/// NULL: an account with none, read by [`account_with_usage`]) are skipped.
fn with_usage_of_rows(
    rows: &[sea_orm::QueryResult],
    query: &ProjectQuery<'_>,
    page: &PageRequest,
) -> Result<Page<ProjectWithUsage>, PersistenceError> {
    let mut found: Vec<ProjectWithUsage> = Vec::new();
    for row in rows {
        if get::<Option<String>>(row, "id")?.is_none() {
            continue;
        }
        let (project, participation) = project_of_row(row, query.participation_of.is_some())?;
        if found
            .last()
            .is_none_or(|last| last.project.id != project.id)
        {
            found.push(ProjectWithUsage {
                project,
                participation,
                usage: Vec::new(),
            });
        }
        let product: Option<String> = get(row, "usage_product")?;
        if let (Some(product), Some(last)) = (product, found.last_mut()) {
            if get::<Option<i64>>(row, "sum_micros")?.is_none() {
                return Err(PersistenceError::OutOfRange);
            }
            last.usage.push((product, rollup_of(row)?));
        }
    }
    Ok(Page::from_overfetch(found, page.limit))
}

/// A project of [`projects_with_usage`]: the reader's participation and, per product (by storage
/// id), its merged rollup.
#[derive(Clone, Debug)]
pub struct ProjectWithUsage {
    pub project: billing_domain::accounts::Project,
    pub participation: Option<billing_domain::accounts::access::Participation>,
    pub usage: Vec<(String, Rollup)>,
}
