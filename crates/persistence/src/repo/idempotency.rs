//! Idempotency keys: exactly-once by the primary key (scope, key).
//!
//! A request claims its key in the same transaction that does its work and stores its answer.
//! A concurrent duplicate's insert waits for that transaction (PostgreSQL row lock, SQLite write
//! lock), then finds the stored answer; if the first one rolled back, the duplicate runs fresh.

use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use time::OffsetDateTime;

use super::utc;
use crate::entities::idempotency_keys as keys;
use crate::error::PersistenceError;

/// How long a stored answer is replayed.
pub const REPLAYED_FOR: time::Duration = time::Duration::hours(24);

/// How long a claimed key whose answer never came (its process died mid-request) holds off
/// retries with it.
pub const ABANDONED_AFTER: time::Duration = time::Duration::minutes(10);

/// The keys forgotten at `now`: answered more than [`REPLAYED_FOR`] ago, or claimed more than
/// [`ABANDONED_AFTER`] ago and never answered.
fn forgotten(now: OffsetDateTime) -> sea_orm::Condition {
    sea_orm::Condition::any()
        .add(keys::Column::CreatedAt.lt(utc(now - REPLAYED_FOR)))
        .add(
            sea_orm::Condition::all()
                .add(keys::Column::ResponseStatus.is_null())
                .add(keys::Column::CreatedAt.lt(utc(now - ABANDONED_AFTER))),
        )
}

/// What claiming a key found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// The key is new: do the work, then [`complete`].
    Fresh,
    /// The key was used and answered before.
    Completed {
        request_hash: String,
        status: u16,
        body: String,
    },
    /// The key is held by work that has not stored its answer.
    InProgress { request_hash: String },
}

pub async fn claim<C: ConnectionTrait>(
    db: &C,
    scope: &str,
    key: &str,
    request_hash: &str,
    now: OffsetDateTime,
) -> Result<Claim, PersistenceError> {
    // A key answers for 24 hours; a key whose request never finished (its process died) is
    // free again after 10 minutes.
    keys::Entity::delete_many()
        .filter(keys::Column::Scope.eq(scope))
        .filter(keys::Column::Key.eq(key))
        .filter(forgotten(now))
        .exec(db)
        .await?;
    let row = keys::ActiveModel {
        scope: Set(scope.to_owned()),
        key: Set(key.to_owned()),
        request_hash: Set(request_hash.to_owned()),
        response_status: Set(None),
        response_body: Set(None),
        created_at: Set(utc(now)),
    };
    let inserted = keys::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([keys::Column::Scope, keys::Column::Key])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    if inserted == 1 {
        return Ok(Claim::Fresh);
    }
    let existing = keys::Entity::find_by_id((scope.to_owned(), key.to_owned()))
        .one(db)
        .await?
        .ok_or_else(|| {
            PersistenceError::Db(sea_orm::DbErr::RecordNotFound(
                "idempotency key vanished".into(),
            ))
        })?;
    Ok(match (existing.response_status, existing.response_body) {
        (Some(status), Some(body)) => Claim::Completed {
            request_hash: existing.request_hash,
            status: u16::try_from(status).unwrap_or(500),
            body,
        },
        _ => Claim::InProgress {
            request_hash: existing.request_hash,
        },
    })
}

/// Stores the answer of a claimed key.
pub async fn complete<C: ConnectionTrait>(
    db: &C,
    scope: &str,
    key: &str,
    status: u16,
    body: &str,
) -> Result<(), PersistenceError> {
    keys::Entity::update_many()
        .col_expr(keys::Column::ResponseStatus, i32::from(status).into())
        .col_expr(keys::Column::ResponseBody, body.into())
        .filter(keys::Column::Scope.eq(scope))
        .filter(keys::Column::Key.eq(key))
        .exec(db)
        .await?;
    Ok(())
}

/// Gives a claimed key back without an answer (its request failed before it did anything that
/// needs replaying), so a retry with it runs afresh.
pub async fn release<C: ConnectionTrait>(
    db: &C,
    scope: &str,
    key: &str,
) -> Result<(), PersistenceError> {
    keys::Entity::delete_many()
        .filter(keys::Column::Scope.eq(scope))
        .filter(keys::Column::Key.eq(key))
        .filter(keys::Column::ResponseStatus.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Forgets the keys whose answers are no longer replayed (older than [`REPLAYED_FOR`]) and the
/// abandoned claims (older than [`ABANDONED_AFTER`] without an answer). Answers how many.
pub async fn purge<C: ConnectionTrait>(
    db: &C,
    now: OffsetDateTime,
) -> Result<u64, PersistenceError> {
    let done = keys::Entity::delete_many()
        .filter(forgotten(now))
        .exec(db)
        .await?;
    Ok(done.rows_affected)
}
