//! Webhook endpoints, their deliveries and the attempts made (`webhook_endpoints`,
//! `webhook_deliveries`, `webhook_attempts`).
//!
//! Deliveries are written with their event, in its transaction. A sender claims the ones due
//! for a while (`claimed_until`): only each account's oldest undelivered one per endpoint, so
//! an endpoint receives an account's events in the order they happened, and never one that
//! another sender holds.

use billing_domain::events::EventType;
use billing_domain::names::{AccountId, EventId, WebhookDeliveryId, WebhookEndpointId};
use billing_domain::page::{Page, PageRequest};
use billing_domain::webhooks::{Attempt, Delivery, Endpoint, Secret};
use sea_orm::sea_query::{Expr, Func, Order, Query};
use sea_orm::{ConnectionTrait, Value};
use time::OffsetDateTime;

use super::sql::{a, build, get, numbered};
use super::utc;
use crate::error::PersistenceError;

const ENDPOINT_COLUMNS: [&str; 13] = [
    "id",
    "url",
    "description",
    "account_id",
    "event_types",
    "enabled",
    "disabled_reason",
    "failing_since",
    "secret",
    "previous_secret",
    "previous_secret_expires_at",
    "created_at",
    "updated_at",
];

fn types_text(types: &[EventType]) -> String {
    let names: Vec<String> = types.iter().map(|t| format!("\"{}\"", t.name())).collect();
    format!("[{}]", names.join(","))
}

fn types_of(text: &str) -> Option<Vec<EventType>> {
    let inner = text.trim().strip_prefix('[')?.strip_suffix(']')?;
    if inner.trim().is_empty() {
        return Some(Vec::new());
    }
    inner
        .split(',')
        .map(|name| {
            let name = name.trim().strip_prefix('"')?.strip_suffix('"')?;
            EventType::parse(name).ok()
        })
        .collect()
}

fn endpoint_of(row: &sea_orm::QueryResult) -> Result<Endpoint, PersistenceError> {
    let id: String = get(row, "id")?;
    let bad = PersistenceError::corrupt("webhook_endpoints", &id);
    let account: Option<String> = get(row, "account_id")?;
    let previous: Option<String> = get(row, "previous_secret")?;
    let previous_until: Option<OffsetDateTime> = get(row, "previous_secret_expires_at")?;
    let previous_secret = match (previous, previous_until) {
        (Some(secret), Some(until)) => Some((Secret::parse(&secret).map_err(&bad)?, until)),
        _ => None,
    };
    let types: String = get(row, "event_types")?;
    Ok(Endpoint {
        id: WebhookEndpointId::parse(&id).map_err(&bad)?,
        url: get(row, "url")?,
        description: get(row, "description")?,
        account: account
            .map(|a| AccountId::parse(&a))
            .transpose()
            .map_err(&bad)?,
        event_types: types_of(&types)
            .ok_or(billing_domain::DomainError::InvalidId("event type"))
            .map_err(&bad)?,
        enabled: get(row, "enabled")?,
        disabled_reason: get(row, "disabled_reason")?,
        failing_since: get(row, "failing_since")?,
        secret: Secret::parse(&get::<String>(row, "secret")?).map_err(&bad)?,
        previous_secret,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
    })
}

fn endpoint_values(e: &Endpoint) -> [(&'static str, Value); 12] {
    [
        ("url", e.url.clone().into()),
        ("description", e.description.clone().into()),
        (
            "account_id",
            e.account.as_ref().map(|a| a.as_str().to_owned()).into(),
        ),
        ("event_types", types_text(&e.event_types).into()),
        ("enabled", e.enabled.into()),
        ("disabled_reason", e.disabled_reason.clone().into()),
        ("failing_since", e.failing_since.map(utc).into()),
        ("secret", e.secret.as_str().to_owned().into()),
        (
            "previous_secret",
            e.previous_secret
                .as_ref()
                .map(|(s, _)| s.as_str().to_owned())
                .into(),
        ),
        (
            "previous_secret_expires_at",
            e.previous_secret
                .as_ref()
                .map(|(_, until)| utc(*until))
                .into(),
        ),
        ("created_at", utc(e.created_at).into()),
        ("updated_at", utc(e.updated_at).into()),
    ]
}

pub async fn insert_endpoint<C: ConnectionTrait>(
    db: &C,
    endpoint: &Endpoint,
) -> Result<(), PersistenceError> {
    let values = endpoint_values(endpoint);
    let mut insert = Query::insert();
    insert
        .into_table(a("webhook_endpoints"))
        .columns(std::iter::once(a("id")).chain(values.iter().map(|(c, _)| a(c))));
    insert.values_panic(
        std::iter::once(endpoint.id.as_str().into())
            .chain(values.into_iter().map(|(_, v)| v.into())),
    );
    db.execute(build(db, &insert)).await?;
    Ok(())
}

/// Writes every field of the endpoint back.
pub async fn save_endpoint<C: ConnectionTrait>(
    db: &C,
    endpoint: &Endpoint,
) -> Result<(), PersistenceError> {
    let mut update = Query::update();
    update
        .table(a("webhook_endpoints"))
        .and_where(Expr::col(a("id")).eq(endpoint.id.as_str()));
    for (column, value) in endpoint_values(endpoint) {
        update.value(a(column), value);
    }
    db.execute(build(db, &update)).await?;
    Ok(())
}

pub async fn find_endpoint<C: ConnectionTrait>(
    db: &C,
    id: &WebhookEndpointId,
) -> Result<Option<Endpoint>, PersistenceError> {
    let select = Query::select()
        .columns(ENDPOINT_COLUMNS.map(a))
        .from(a("webhook_endpoints"))
        .and_where(Expr::col(a("id")).eq(id.as_str()))
        .to_owned();
    db.query_one(build(db, &select))
        .await?
        .map(|row| endpoint_of(&row))
        .transpose()
}

/// These endpoints, by id (those that exist).
pub async fn find_endpoints<C: ConnectionTrait>(
    db: &C,
    ids: &[&WebhookEndpointId],
) -> Result<Vec<Endpoint>, PersistenceError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let select = Query::select()
        .columns(ENDPOINT_COLUMNS.map(a))
        .from(a("webhook_endpoints"))
        .and_where(Expr::col(a("id")).is_in(ids.iter().map(|id| id.as_str())))
        .to_owned();
    db.query_all(build(db, &select))
        .await?
        .iter()
        .map(endpoint_of)
        .collect()
}

/// A page of endpoints, oldest first.
pub async fn list_endpoints<C: ConnectionTrait>(
    db: &C,
    page: &PageRequest,
) -> Result<Page<Endpoint>, PersistenceError> {
    let mut select = Query::select();
    select
        .columns(ENDPOINT_COLUMNS.map(a))
        .from(a("webhook_endpoints"))
        .order_by(a("id"), Order::Asc)
        .limit(page.limit + 1);
    if let Some(after) = &page.after {
        select.and_where(Expr::col(a("id")).gt(after.as_str()));
    }
    let rows = db.query_all(build(db, &select)).await?;
    Page::from_overfetch(rows, page.limit).try_map(|row| endpoint_of(&row))
}

/// Every endpoint (there are few): recording events picks those that want each.
pub async fn all_endpoints<C: ConnectionTrait>(db: &C) -> Result<Vec<Endpoint>, PersistenceError> {
    let select = Query::select()
        .columns(ENDPOINT_COLUMNS.map(a))
        .from(a("webhook_endpoints"))
        .order_by(a("id"), Order::Asc)
        .to_owned();
    db.query_all(build(db, &select))
        .await?
        .iter()
        .map(endpoint_of)
        .collect()
}

/// Deletes an endpoint with its deliveries and their attempts; whether it existed.
pub async fn delete_endpoint<C: ConnectionTrait>(
    db: &C,
    id: &WebhookEndpointId,
) -> Result<bool, PersistenceError> {
    let deliveries = Query::select()
        .column(a("id"))
        .from(a("webhook_deliveries"))
        .and_where(Expr::col(a("endpoint_id")).eq(id.as_str()))
        .to_owned();
    let attempts = Query::delete()
        .from_table(a("webhook_attempts"))
        .and_where(Expr::col(a("delivery_id")).in_subquery(deliveries))
        .to_owned();
    db.execute(build(db, &attempts)).await?;
    let deliveries = Query::delete()
        .from_table(a("webhook_deliveries"))
        .and_where(Expr::col(a("endpoint_id")).eq(id.as_str()))
        .to_owned();
    db.execute(build(db, &deliveries)).await?;
    let endpoint = Query::delete()
        .from_table(a("webhook_endpoints"))
        .and_where(Expr::col(a("id")).eq(id.as_str()))
        .to_owned();
    Ok(db.execute(build(db, &endpoint)).await?.rows_affected() == 1)
}

/// A delivery to write with its event.
pub struct NewDelivery<'a> {
    pub id: &'a WebhookDeliveryId,
    pub endpoint: &'a WebhookEndpointId,
    pub event: &'a EventId,
    pub event_type: EventType,
    pub account: &'a AccountId,
    pub created_at: OffsetDateTime,
}

/// Writes deliveries, in this order (their `seq` follows it), due at once.
pub async fn insert_deliveries<C: ConnectionTrait>(
    db: &C,
    deliveries: &[NewDelivery<'_>],
) -> Result<(), PersistenceError> {
    for chunk in deliveries.chunks(1000) {
        let mut insert = Query::insert();
        insert.into_table(a("webhook_deliveries")).columns(
            [
                "id",
                "endpoint_id",
                "event_id",
                "event_type",
                "account_id",
                "attempts",
                "next_attempt_at",
                "created_at",
            ]
            .map(a),
        );
        for d in chunk {
            insert.values_panic([
                d.id.as_str().into(),
                d.endpoint.as_str().into(),
                d.event.as_str().into(),
                d.event_type.name().into(),
                d.account.as_str().into(),
                0i32.into(),
                utc(d.created_at).into(),
                utc(d.created_at).into(),
            ]);
        }
        db.execute(build(db, &insert)).await?;
    }
    Ok(())
}

const DELIVERY_COLUMNS: &str = "seq, id, endpoint_id, event_id, event_type, account_id, attempts, \
     next_attempt_at, delivered_at, last_status_code, last_error, created_at";

fn delivery_of(row: &sea_orm::QueryResult) -> Result<Delivery, PersistenceError> {
    let id: String = get(row, "id")?;
    let bad = PersistenceError::corrupt("webhook_deliveries", &id);
    let status: Option<i32> = get(row, "last_status_code")?;
    Ok(Delivery {
        seq: get(row, "seq")?,
        id: WebhookDeliveryId::parse(&id).map_err(&bad)?,
        endpoint: WebhookEndpointId::parse(&get::<String>(row, "endpoint_id")?).map_err(&bad)?,
        event: EventId::parse(&get::<String>(row, "event_id")?).map_err(&bad)?,
        event_type: EventType::parse(&get::<String>(row, "event_type")?).map_err(&bad)?,
        account: AccountId::parse(&get::<String>(row, "account_id")?).map_err(&bad)?,
        attempts: u32::try_from(get::<i32>(row, "attempts")?).unwrap_or(0),
        next_attempt_at: get(row, "next_attempt_at")?,
        delivered_at: get(row, "delivered_at")?,
        last_status_code: status.and_then(|s| u16::try_from(s).ok()),
        last_error: get(row, "last_error")?,
        created_at: get(row, "created_at")?,
    })
}

/// Claims up to `limit` deliveries due at `now` until `lease_until`: of each account and
/// endpoint (enabled) only the oldest undelivered delivery, and only if no sender holds it.
/// Two senders at once never claim the same one: the update checks the claim again on the
/// row it locks.
pub async fn claim_due<C: ConnectionTrait>(
    db: &C,
    now: OffsetDateTime,
    lease_until: OffsetDateTime,
    limit: u64,
) -> Result<Vec<Delivery>, PersistenceError> {
    let now = utc(now);
    let sql = format!(
        "UPDATE webhook_deliveries SET claimed_until = ? \
         WHERE seq IN (\
           SELECT d.seq FROM webhook_deliveries d \
           JOIN webhook_endpoints e ON e.id = d.endpoint_id \
           WHERE d.delivered_at IS NULL AND e.enabled = ? AND d.next_attempt_at <= ? \
             AND (d.claimed_until IS NULL OR d.claimed_until <= ?) \
             AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p \
               WHERE p.endpoint_id = d.endpoint_id AND p.account_id = d.account_id \
                 AND p.delivered_at IS NULL AND p.seq < d.seq) \
           ORDER BY d.next_attempt_at, d.seq LIMIT ?) \
         AND delivered_at IS NULL AND (claimed_until IS NULL OR claimed_until <= ?) \
         RETURNING {DELIVERY_COLUMNS}"
    );
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let values = vec![
        utc(lease_until).into(),
        true.into(),
        now.into(),
        now.into(),
        limit.into(),
        now.into(),
    ];
    let mut claimed: Vec<Delivery> = db
        .query_all(numbered(db, &sql, values))
        .await?
        .iter()
        .map(delivery_of)
        .collect::<Result<_, _>>()?;
    claimed.sort_by_key(|d| d.seq);
    Ok(claimed)
}

/// Claims one delivery, due or not, delivered or not, unless a sender holds it.
pub async fn claim_one<C: ConnectionTrait>(
    db: &C,
    id: &WebhookDeliveryId,
    now: OffsetDateTime,
    lease_until: OffsetDateTime,
) -> Result<Option<Delivery>, PersistenceError> {
    let sql = format!(
        "UPDATE webhook_deliveries SET claimed_until = ? \
         WHERE id = ? AND (claimed_until IS NULL OR claimed_until <= ?) \
         RETURNING {DELIVERY_COLUMNS}"
    );
    let values = vec![utc(lease_until).into(), id.as_str().into(), utc(now).into()];
    db.query_one(numbered(db, &sql, values))
        .await?
        .map(|row| delivery_of(&row))
        .transpose()
}

pub async fn find_delivery<C: ConnectionTrait>(
    db: &C,
    id: &WebhookDeliveryId,
) -> Result<Option<Delivery>, PersistenceError> {
    let sql = format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = ?");
    db.query_one(numbered(db, &sql, vec![id.as_str().into()]))
        .await?
        .map(|row| delivery_of(&row))
        .transpose()
}

/// A page of an endpoint's deliveries, newest last.
pub async fn list_deliveries<C: ConnectionTrait>(
    db: &C,
    endpoint: &WebhookEndpointId,
    after: Option<i64>,
    limit: u64,
) -> Result<Page<Delivery>, PersistenceError> {
    let sql = format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries \
         WHERE endpoint_id = ? AND seq > ? ORDER BY seq LIMIT ?"
    );
    let values = vec![
        endpoint.as_str().into(),
        after.unwrap_or(0).into(),
        i64::try_from(limit + 1).unwrap_or(i64::MAX).into(),
    ];
    let rows = db.query_all(numbered(db, &sql, values)).await?;
    Page::from_overfetch(rows, limit).try_map(|row| delivery_of(&row))
}

/// The attempts of these deliveries, in order, by delivery id.
pub async fn attempts_of<C: ConnectionTrait>(
    db: &C,
    deliveries: &[&WebhookDeliveryId],
) -> Result<Vec<(WebhookDeliveryId, Attempt)>, PersistenceError> {
    if deliveries.is_empty() {
        return Ok(Vec::new());
    }
    let select = Query::select()
        .columns(
            [
                "delivery_id",
                "number",
                "started_at",
                "duration_ms",
                "status_code",
                "outcome",
                "error",
            ]
            .map(a),
        )
        .from(a("webhook_attempts"))
        .and_where(Expr::col(a("delivery_id")).is_in(deliveries.iter().map(|d| d.as_str())))
        .order_by(a("delivery_id"), Order::Asc)
        .order_by(a("number"), Order::Asc)
        .to_owned();
    db.query_all(build(db, &select))
        .await?
        .iter()
        .map(|row| {
            let id: String = get(row, "delivery_id")?;
            let bad = PersistenceError::corrupt("webhook_attempts", &id);
            let status: Option<i32> = get(row, "status_code")?;
            Ok((
                WebhookDeliveryId::parse(&id).map_err(&bad)?,
                Attempt {
                    number: u32::try_from(get::<i32>(row, "number")?).unwrap_or(0),
                    started_at: get(row, "started_at")?,
                    duration_ms: u64::try_from(get::<i64>(row, "duration_ms")?).unwrap_or(0),
                    status_code: status.and_then(|s| u16::try_from(s).ok()),
                    succeeded: get::<String>(row, "outcome")? == "succeeded",
                    error: get(row, "error")?,
                },
            ))
        })
        .collect()
}

/// What became of a claimed delivery after an attempt.
pub struct Outcome<'a> {
    pub delivery: &'a WebhookDeliveryId,
    pub attempt: &'a Attempt,
    /// Delivered now (the attempt succeeded).
    pub delivered_at: Option<OffsetDateTime>,
    /// When it is tried next, if not delivered.
    pub next_attempt_at: OffsetDateTime,
}

/// Records attempts and what became of their deliveries, releasing the claims. A delivery
/// delivered before (sent again by hand) stays delivered at its first time.
pub async fn record<C: ConnectionTrait>(
    db: &C,
    outcomes: &[Outcome<'_>],
) -> Result<(), PersistenceError> {
    for chunk in outcomes.chunks(500) {
        let mut insert = Query::insert();
        insert.into_table(a("webhook_attempts")).columns(
            [
                "id",
                "delivery_id",
                "number",
                "started_at",
                "duration_ms",
                "status_code",
                "outcome",
                "error",
            ]
            .map(a),
        );
        for o in chunk {
            let attempt = o.attempt;
            insert.values_panic([
                format!("wha_{}", uuid::Uuid::now_v7().simple()).into(),
                o.delivery.as_str().into(),
                i32::try_from(attempt.number).unwrap_or(i32::MAX).into(),
                utc(attempt.started_at).into(),
                i64::try_from(attempt.duration_ms)
                    .unwrap_or(i64::MAX)
                    .into(),
                attempt.status_code.map(i32::from).into(),
                if attempt.succeeded {
                    "succeeded"
                } else {
                    "failed"
                }
                .into(),
                attempt.error.clone().into(),
            ]);
        }
        db.execute(build(db, &insert)).await?;
    }
    // The delivered ones: one statement per status code they answered (all 2xx).
    let mut delivered: Vec<&Outcome<'_>> = outcomes
        .iter()
        .filter(|o| o.delivered_at.is_some())
        .collect();
    delivered.sort_by_key(|o| o.attempt.status_code);
    for same in delivered.chunk_by(|x, y| x.attempt.status_code == y.attempt.status_code) {
        let at = same[0].delivered_at.map(utc);
        let update = Query::update()
            .table(a("webhook_deliveries"))
            .value(a("attempts"), Expr::col(a("attempts")).add(1))
            .value(a("claimed_until"), Option::<OffsetDateTime>::None)
            .value(
                a("delivered_at"),
                Func::coalesce([Expr::col(a("delivered_at")).into(), Expr::val(at).into()]),
            )
            .value(
                a("last_status_code"),
                same[0].attempt.status_code.map(i32::from),
            )
            .value(a("last_error"), Option::<String>::None)
            .and_where(Expr::col(a("id")).is_in(same.iter().map(|o| o.delivery.as_str())))
            .to_owned();
        db.execute(build(db, &update)).await?;
    }
    for o in outcomes.iter().filter(|o| o.delivered_at.is_none()) {
        let error: Option<String> = o
            .attempt
            .error
            .as_ref()
            .map(|e| e.chars().take(500).collect());
        let update = Query::update()
            .table(a("webhook_deliveries"))
            .value(a("attempts"), Expr::col(a("attempts")).add(1))
            .value(a("claimed_until"), Option::<OffsetDateTime>::None)
            .value(a("next_attempt_at"), utc(o.next_attempt_at))
            .value(a("last_status_code"), o.attempt.status_code.map(i32::from))
            .value(a("last_error"), error)
            .and_where(Expr::col(a("id")).eq(o.delivery.as_str()))
            .to_owned();
        db.execute(build(db, &update)).await?;
    }
    Ok(())
}

/// Notes that these endpoints answered well: they are no longer failing.
pub async fn note_success<C: ConnectionTrait>(
    db: &C,
    endpoints: &[&WebhookEndpointId],
) -> Result<(), PersistenceError> {
    if endpoints.is_empty() {
        return Ok(());
    }
    let update = Query::update()
        .table(a("webhook_endpoints"))
        .value(a("failing_since"), Option::<OffsetDateTime>::None)
        .and_where(Expr::col(a("id")).is_in(endpoints.iter().map(|e| e.as_str())))
        .and_where(Expr::col(a("failing_since")).is_not_null())
        .to_owned();
    db.execute(build(db, &update)).await?;
    Ok(())
}

/// Notes that an endpoint failed at `now`; answers since when it has been failing.
pub async fn note_failure<C: ConnectionTrait>(
    db: &C,
    endpoint: &WebhookEndpointId,
    now: OffsetDateTime,
) -> Result<OffsetDateTime, PersistenceError> {
    let update = Query::update()
        .table(a("webhook_endpoints"))
        .value(
            a("failing_since"),
            Func::coalesce([
                Expr::col(a("failing_since")).into(),
                Expr::val(utc(now)).into(),
            ]),
        )
        .and_where(Expr::col(a("id")).eq(endpoint.as_str()))
        .to_owned();
    db.execute(build(db, &update)).await?;
    let select = Query::select()
        .column(a("failing_since"))
        .from(a("webhook_endpoints"))
        .and_where(Expr::col(a("id")).eq(endpoint.as_str()))
        .to_owned();
    let since: Option<OffsetDateTime> = match db.query_one(build(db, &select)).await? {
        Some(row) => get(&row, "failing_since")?,
        None => None,
    };
    Ok(since.unwrap_or(now))
}

/// Disables an endpoint, saying why, if it is enabled.
pub async fn disable<C: ConnectionTrait>(
    db: &C,
    endpoint: &WebhookEndpointId,
    reason: &str,
    now: OffsetDateTime,
) -> Result<(), PersistenceError> {
    let update = Query::update()
        .table(a("webhook_endpoints"))
        .value(a("enabled"), false)
        .value(a("disabled_reason"), reason)
        .value(a("updated_at"), utc(now))
        .and_where(Expr::col(a("id")).eq(endpoint.as_str()))
        .and_where(Expr::col(a("enabled")).eq(true))
        .to_owned();
    db.execute(build(db, &update)).await?;
    Ok(())
}
