//! The sandbox gateway's own record of its charges, by idempotency key: a charge asked for
//! twice is made once, as at a real gateway.

use sea_orm::sea_query::{Expr, OnConflict, Query};
use sea_orm::ConnectionTrait;
use time::OffsetDateTime;

use super::sql::{a, build, get};
use super::utc;
use crate::error::PersistenceError;

/// A charge the sandbox made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SandboxCharge {
    pub key: String,
    pub token: String,
    pub amount_minor: i64,
    pub currency: String,
    /// `succeeded` or `declined`.
    pub outcome: String,
    pub code: Option<String>,
    pub created_at: OffsetDateTime,
}

const COLUMNS: [&str; 7] = [
    "key",
    "token",
    "amount_minor",
    "currency",
    "outcome",
    "code",
    "created_at",
];

/// The charge made with `key`, if any.
pub async fn find<C: ConnectionTrait>(
    db: &C,
    key: &str,
) -> Result<Option<SandboxCharge>, PersistenceError> {
    let select = Query::select()
        .columns(COLUMNS.map(a))
        .from(a("sandbox_charges"))
        .and_where(Expr::col(a("key")).eq(key))
        .to_owned();
    let Some(row) = db.query_one(build(db, &select)).await? else {
        return Ok(None);
    };
    Ok(Some(SandboxCharge {
        key: get(&row, "key")?,
        token: get(&row, "token")?,
        amount_minor: get(&row, "amount_minor")?,
        currency: get(&row, "currency")?,
        outcome: get(&row, "outcome")?,
        code: get(&row, "code")?,
        created_at: get(&row, "created_at")?,
    }))
}

/// Records a charge unless one was made with its key already; answers the charge made with
/// the key (this one, or the earlier one).
pub async fn record<C: ConnectionTrait>(
    db: &C,
    charge: &SandboxCharge,
) -> Result<SandboxCharge, PersistenceError> {
    let insert = Query::insert()
        .into_table(a("sandbox_charges"))
        .columns(COLUMNS.map(a))
        .values_panic([
            charge.key.as_str().into(),
            charge.token.as_str().into(),
            charge.amount_minor.into(),
            charge.currency.as_str().into(),
            charge.outcome.as_str().into(),
            charge.code.clone().into(),
            utc(charge.created_at).into(),
        ])
        .on_conflict(OnConflict::column(a("key")).do_nothing().to_owned())
        .to_owned();
    db.execute(build(db, &insert)).await?;
    find(db, &charge.key)
        .await?
        .ok_or(PersistenceError::Corrupt {
            table: "sandbox_charges",
            key: charge.key.clone(),
            source: billing_domain::DomainError::InvalidId("sandbox charge"),
        })
}

/// How many charges with `token` were declined.
pub async fn declined_with<C: ConnectionTrait>(
    db: &C,
    token: &str,
) -> Result<i64, PersistenceError> {
    let select = Query::select()
        .expr_as(Expr::cust("CAST(COUNT(*) AS BIGINT)"), a("n"))
        .from(a("sandbox_charges"))
        .and_where(Expr::col(a("token")).eq(token))
        .and_where(Expr::col(a("outcome")).eq("declined"))
        .to_owned();
    match db.query_one(build(db, &select)).await? {
        Some(row) => get::<i64>(&row, "n"),
        None => Ok(0),
    }
}
