//! Events (`events`): written in the transaction of what they tell, never changed, deleted
//! when older than the retention.

use billing_domain::events::{Event, EventType};
use billing_domain::names::{AccountId, EventId};
use billing_domain::page::Page;
use sea_orm::sea_query::{Expr, Order, Query};
use sea_orm::ConnectionTrait;
use time::OffsetDateTime;

use super::sql::{a, build, get};
use super::utc;
use crate::error::PersistenceError;

/// An event to record.
pub struct NewEvent<'a> {
    pub id: &'a EventId,
    pub kind: EventType,
    pub account: &'a AccountId,
    pub object_id: &'a str,
    pub body: &'a str,
    pub created_at: OffsetDateTime,
}

/// Records events, in this order, one statement for up to a thousand of them.
pub async fn insert_all<C: ConnectionTrait>(
    db: &C,
    events: &[NewEvent<'_>],
) -> Result<(), PersistenceError> {
    for chunk in events.chunks(1000) {
        let mut insert = Query::insert();
        insert.into_table(a("events")).columns(
            [
                "id",
                "type",
                "account_id",
                "object_id",
                "body",
                "created_at",
            ]
            .map(a),
        );
        for e in chunk {
            insert.values_panic([
                e.id.as_str().into(),
                e.kind.name().into(),
                e.account.as_str().into(),
                e.object_id.into(),
                e.body.into(),
                utc(e.created_at).into(),
            ]);
        }
        db.execute(build(db, &insert)).await?;
    }
    Ok(())
}

/// Which events a list shows.
#[derive(Clone, Debug, Default)]
pub struct Filter<'a> {
    /// Only this account's.
    pub account: Option<&'a AccountId>,
    /// Only of these types (all when empty).
    pub types: &'a [EventType],
    /// Created at or after.
    pub from: Option<OffsetDateTime>,
    /// Created before.
    pub until: Option<OffsetDateTime>,
}

const COLUMNS: [&str; 7] = [
    "seq",
    "id",
    "type",
    "account_id",
    "object_id",
    "body",
    "created_at",
];

fn event_of(row: &sea_orm::QueryResult) -> Result<Event, PersistenceError> {
    let id: String = get(row, "id")?;
    let bad = PersistenceError::corrupt("events", &id);
    Ok(Event {
        seq: get(row, "seq")?,
        id: EventId::parse(&id).map_err(&bad)?,
        kind: EventType::parse(&get::<String>(row, "type")?).map_err(&bad)?,
        account: AccountId::parse(&get::<String>(row, "account_id")?).map_err(&bad)?,
        object_id: get(row, "object_id")?,
        body: get(row, "body")?,
        created_at: get(row, "created_at")?,
    })
}

/// A page of events in the order they were recorded, after the one numbered `after` (its
/// `seq`).
pub async fn list<C: ConnectionTrait>(
    db: &C,
    filter: &Filter<'_>,
    after: Option<i64>,
    limit: u64,
) -> Result<Page<Event>, PersistenceError> {
    let mut select = Query::select();
    select
        .columns(COLUMNS.map(a))
        .from(a("events"))
        .order_by(a("seq"), Order::Asc)
        .limit(limit + 1);
    if let Some(account) = filter.account {
        select.and_where(Expr::col(a("account_id")).eq(account.as_str()));
    }
    if !filter.types.is_empty() {
        select.and_where(Expr::col(a("type")).is_in(filter.types.iter().map(|t| t.name())));
    }
    if let Some(from) = filter.from {
        select.and_where(Expr::col(a("created_at")).gte(utc(from)));
    }
    if let Some(until) = filter.until {
        select.and_where(Expr::col(a("created_at")).lt(utc(until)));
    }
    if let Some(after) = after {
        select.and_where(Expr::col(a("seq")).gt(after));
    }
    let rows = db.query_all(build(db, &select)).await?;
    Page::from_overfetch(rows, limit).try_map(|row| event_of(&row))
}

/// These events, by id (those that exist), in the order they were recorded.
pub async fn find_all<C: ConnectionTrait>(
    db: &C,
    ids: &[&EventId],
) -> Result<Vec<Event>, PersistenceError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut select = Query::select();
    select
        .columns(COLUMNS.map(a))
        .from(a("events"))
        .and_where(Expr::col(a("id")).is_in(ids.iter().map(|id| id.as_str())))
        .order_by(a("seq"), Order::Asc);
    db.query_all(build(db, &select))
        .await?
        .iter()
        .map(event_of)
        .collect()
}

/// Deletes the events created before `before`, with their deliveries and attempts, a
/// thousand events at a time; answers how many events went.
pub async fn purge_before<C: ConnectionTrait>(
    db: &C,
    before: OffsetDateTime,
) -> Result<u64, PersistenceError> {
    let old = || {
        Query::select()
            .column(a("id"))
            .from(a("events"))
            .and_where(Expr::col(a("created_at")).lt(utc(before)))
            .order_by(a("seq"), Order::Asc)
            .limit(1000)
            .to_owned()
    };
    let mut total = 0;
    loop {
        let ids: Vec<String> = db
            .query_all(build(db, &old()))
            .await?
            .iter()
            .map(|row| get::<String>(row, "id"))
            .collect::<Result<_, _>>()?;
        if ids.is_empty() {
            return Ok(total);
        }
        let deliveries = Query::select()
            .column(a("id"))
            .from(a("webhook_deliveries"))
            .and_where(Expr::col(a("event_id")).is_in(ids.iter().map(String::as_str)))
            .to_owned();
        let attempts = Query::delete()
            .from_table(a("webhook_attempts"))
            .and_where(Expr::col(a("delivery_id")).in_subquery(deliveries))
            .to_owned();
        db.execute(build(db, &attempts)).await?;
        let deliveries = Query::delete()
            .from_table(a("webhook_deliveries"))
            .and_where(Expr::col(a("event_id")).is_in(ids.iter().map(String::as_str)))
            .to_owned();
        db.execute(build(db, &deliveries)).await?;
        let events = Query::delete()
            .from_table(a("events"))
            .and_where(Expr::col(a("id")).is_in(ids.iter().map(String::as_str)))
            .to_owned();
        total += db.execute(build(db, &events)).await?.rows_affected();
    }
}
