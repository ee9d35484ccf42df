//! Payments: the account's registered card (only its brand, last four digits and expiry, and
//! the gateway's token for it) and the payments of its invoices, each attempt its own row.

use billing_domain::money::{Currency, Money};
use billing_domain::names::{AccountId, InvoiceId, PaymentId, PaymentMethodId, ReceiptId};
use billing_domain::payments::{Decline, PaymentMethodKind, PaymentStatus};
use sea_orm::sea_query::{Expr, Order, Query, SimpleExpr};
use sea_orm::ConnectionTrait;
use time::OffsetDateTime;

use super::sql::{a, build, get};
use super::utc;
use crate::error::PersistenceError;
use billing_domain::page::{Page, PageRequest};
use billing_domain::payments::Card;
use billing_domain::payments::Payment;

const CARD_COLUMNS: [&str; 8] = [
    "id",
    "account_id",
    "gateway_reference",
    "brand",
    "last4",
    "exp_month",
    "exp_year",
    "created_at",
];

fn card_of(row: &sea_orm::QueryResult) -> Result<Card, PersistenceError> {
    let id = get::<String>(row, "id")?;
    let bad = PersistenceError::corrupt("payment_methods", &id);
    Ok(Card {
        id: PaymentMethodId::parse(&id).map_err(&bad)?,
        account: AccountId::parse(&get::<String>(row, "account_id")?).map_err(&bad)?,
        token: get(row, "gateway_reference")?,
        brand: get(row, "brand")?,
        last4: get(row, "last4")?,
        exp_month: u8::try_from(get::<i16>(row, "exp_month")?)
            .map_err(|_| bad(billing_domain::DomainError::InvalidId("expiry month")))?,
        exp_year: u16::try_from(get::<i16>(row, "exp_year")?)
            .map_err(|_| bad(billing_domain::DomainError::InvalidId("expiry year")))?,
        created_at: get(row, "created_at")?,
    })
}

/// The account's default card, if it has one.
pub async fn card<C: ConnectionTrait>(
    db: &C,
    account: &AccountId,
) -> Result<Option<Card>, PersistenceError> {
    let select = Query::select()
        .columns(CARD_COLUMNS.map(a))
        .from(a("payment_methods"))
        .and_where(Expr::col(a("account_id")).eq(account.as_str()))
        .and_where(Expr::col(a("removed_at")).is_null())
        .and_where(Expr::col(a("is_default")).eq(true))
        .to_owned();
    db.query_one(build(db, &select))
        .await?
        .as_ref()
        .map(card_of)
        .transpose()
}

/// A card by id, removed or not (a pending payment names the card it was started with).
pub async fn card_by_id<C: ConnectionTrait>(
    db: &C,
    id: &PaymentMethodId,
) -> Result<Option<Card>, PersistenceError> {
    let select = Query::select()
        .columns(CARD_COLUMNS.map(a))
        .from(a("payment_methods"))
        .and_where(Expr::col(a("id")).eq(id.as_str()))
        .to_owned();
    db.query_one(build(db, &select))
        .await?
        .as_ref()
        .map(card_of)
        .transpose()
}

/// Removes the account's card (it stays, marked removed, for the payments that name it).
/// Answers whether there was one.
pub async fn remove_card<C: ConnectionTrait>(
    db: &C,
    account: &AccountId,
    now: OffsetDateTime,
) -> Result<bool, PersistenceError> {
    let update = Query::update()
        .table(a("payment_methods"))
        .value(a("removed_at"), utc(now))
        .value(a("is_default"), false)
        .and_where(Expr::col(a("account_id")).eq(account.as_str()))
        .and_where(Expr::col(a("removed_at")).is_null())
        .to_owned();
    Ok(db.execute(build(db, &update)).await?.rows_affected() > 0)
}

/// Makes `card` the account's one default card, removing the one before (call with the
/// account locked).
pub async fn replace_card<C: ConnectionTrait>(db: &C, card: &Card) -> Result<(), PersistenceError> {
    remove_card(db, &card.account, card.created_at).await?;
    let insert = Query::insert()
        .into_table(a("payment_methods"))
        .columns(
            CARD_COLUMNS
                .iter()
                .copied()
                .chain(["is_default"])
                .map(a)
                .collect::<Vec<_>>(),
        )
        .values_panic([
            card.id.as_str().into(),
            card.account.as_str().into(),
            card.token.as_str().into(),
            card.brand.as_str().into(),
            card.last4.as_str().into(),
            i16::from(card.exp_month).into(),
            i16::try_from(card.exp_year)
                .map_err(|_| PersistenceError::OutOfRange)?
                .into(),
            utc(card.created_at).into(),
            true.into(),
        ])
        .to_owned();
    db.execute(build(db, &insert)).await?;
    Ok(())
}

const PAYMENT_COLUMNS: [&str; 16] = [
    "id",
    "account_id",
    "invoice_id",
    "receipt_id",
    "method",
    "payment_method_id",
    "method_label",
    "attempt",
    "gateway_key",
    "status",
    "amount_minor",
    "currency",
    "failure_code",
    "decline",
    "next_attempt_at",
    "created_at",
];

/// Every column of a payment, in the order it is written.
fn payment_columns() -> Vec<sea_orm::sea_query::Alias> {
    PAYMENT_COLUMNS
        .iter()
        .copied()
        .chain(["paid_at"])
        .map(a)
        .collect()
}

fn payment_of(row: &sea_orm::QueryResult) -> Result<Payment, PersistenceError> {
    let id = get::<String>(row, "id")?;
    let bad = PersistenceError::corrupt("payments", &id);
    let currency = Currency::parse(&get::<String>(row, "currency")?).map_err(&bad)?;
    Ok(Payment {
        id: PaymentId::parse(&id).map_err(&bad)?,
        account: AccountId::parse(&get::<String>(row, "account_id")?).map_err(&bad)?,
        invoice: InvoiceId::parse(&get::<String>(row, "invoice_id")?).map_err(&bad)?,
        receipt: ReceiptId::parse(&get::<String>(row, "receipt_id")?).map_err(&bad)?,
        method: PaymentMethodKind::parse(&get::<String>(row, "method")?).map_err(&bad)?,
        payment_method: get::<Option<String>>(row, "payment_method_id")?
            .map(|p| PaymentMethodId::parse(&p))
            .transpose()
            .map_err(&bad)?,
        method_label: get(row, "method_label")?,
        attempt: u32::try_from(get::<i32>(row, "attempt")?)
            .map_err(|_| bad(billing_domain::DomainError::InvalidId("attempt")))?,
        gateway_key: get(row, "gateway_key")?,
        status: PaymentStatus::parse(&get::<String>(row, "status")?).map_err(&bad)?,
        amount: Money::from_minor(get::<i64>(row, "amount_minor")?, currency).map_err(&bad)?,
        failure_code: get(row, "failure_code")?,
        decline: get::<Option<String>>(row, "decline")?
            .map(|d| Decline::parse(&d))
            .transpose()
            .map_err(&bad)?,
        next_attempt_at: get(row, "next_attempt_at")?,
        created_at: get(row, "created_at")?,
        paid_at: get(row, "paid_at")?,
    })
}

/// Stores a payment as it is now.
pub async fn insert<C: ConnectionTrait>(db: &C, p: &Payment) -> Result<(), PersistenceError> {
    let attempt = i32::try_from(p.attempt).map_err(|_| PersistenceError::OutOfRange)?;
    let insert = Query::insert()
        .into_table(a("payments"))
        .columns(payment_columns())
        .values_panic([
            p.id.as_str().into(),
            p.account.as_str().into(),
            p.invoice.as_str().into(),
            p.receipt.as_str().into(),
            p.method.as_str().into(),
            p.payment_method.as_ref().map(|m| m.to_string()).into(),
            p.method_label.clone().into(),
            attempt.into(),
            p.gateway_key.clone().into(),
            p.status.as_str().into(),
            p.amount
                .to_minor()
                .map_err(|_| PersistenceError::OutOfRange)?
                .into(),
            p.amount.currency().code().into(),
            p.failure_code.clone().into(),
            p.decline.map(|d| d.as_str()).into(),
            p.next_attempt_at.map(utc).into(),
            utc(p.created_at).into(),
            p.paid_at.map(utc).into(),
        ])
        .to_owned();
    db.execute(build(db, &insert))
        .await
        .map_err(crate::error::unique_or_db)?;
    Ok(())
}

/// How a pending payment ended.
pub struct Settlement<'a> {
    pub status: PaymentStatus,
    pub failure_code: Option<&'a str>,
    pub decline: Option<Decline>,
    pub next_attempt_at: Option<OffsetDateTime>,
    pub paid_at: Option<OffsetDateTime>,
}

/// Settles a pending payment. Answers whether it was still pending: of two processes settling
/// the same payment, one does.
pub async fn settle<C: ConnectionTrait>(
    db: &C,
    id: &PaymentId,
    s: &Settlement<'_>,
) -> Result<bool, PersistenceError> {
    let update = Query::update()
        .table(a("payments"))
        .value(a("status"), s.status.as_str())
        .value(a("failure_code"), s.failure_code)
        .value(a("decline"), s.decline.map(|d| d.as_str()))
        .value(a("next_attempt_at"), s.next_attempt_at.map(utc))
        .value(a("paid_at"), s.paid_at.map(utc))
        .and_where(Expr::col(a("id")).eq(id.as_str()))
        .and_where(Expr::col(a("status")).eq(PaymentStatus::Pending.as_str()))
        .to_owned();
    Ok(db.execute(build(db, &update)).await?.rows_affected() == 1)
}

async fn select_where<C: ConnectionTrait>(
    db: &C,
    conditions: Vec<SimpleExpr>,
) -> Result<Vec<Payment>, PersistenceError> {
    let mut select = Query::select();
    select
        .columns(payment_columns())
        .from(a("payments"))
        .order_by(a("id"), Order::Asc);
    for condition in conditions {
        select.and_where(condition);
    }
    db.query_all(build(db, &select))
        .await?
        .iter()
        .map(payment_of)
        .collect()
}

/// Every pending payment (of every account), oldest first: what reconciliation looks at.
pub async fn pending<C: ConnectionTrait>(db: &C) -> Result<Vec<Payment>, PersistenceError> {
    select_where(
        db,
        vec![Expr::col(a("status")).eq(PaymentStatus::Pending.as_str())],
    )
    .await
}

/// The payments of these invoices, oldest first.
pub async fn of_invoices<C: ConnectionTrait>(
    db: &C,
    invoices: &[&InvoiceId],
) -> Result<Vec<Payment>, PersistenceError> {
    if invoices.is_empty() {
        return Ok(Vec::new());
    }
    select_where(
        db,
        vec![Expr::col(a("invoice_id")).is_in(invoices.iter().map(|i| i.as_str()))],
    )
    .await
}

/// One payment of the account.
pub async fn find<C: ConnectionTrait>(
    db: &C,
    account: &AccountId,
    id: &PaymentId,
) -> Result<Option<Payment>, PersistenceError> {
    Ok(select_where(
        db,
        vec![
            Expr::col(a("account_id")).eq(account.as_str()),
            Expr::col(a("id")).eq(id.as_str()),
        ],
    )
    .await?
    .pop())
}

/// A page of the account's payments by id (the order they were made).
pub async fn list<C: ConnectionTrait>(
    db: &C,
    account: &AccountId,
    page: &PageRequest,
) -> Result<Page<Payment>, PersistenceError> {
    let mut select = Query::select();
    select
        .columns(payment_columns())
        .from(a("payments"))
        .and_where(Expr::col(a("account_id")).eq(account.as_str()))
        .order_by(a("id"), Order::Asc)
        .limit(page.limit + 1);
    if let Some(after) = &page.after {
        select.and_where(Expr::col(a("id")).gt(after.as_str()));
    }
    let rows = db.query_all(build(db, &select)).await?;
    Page::from_overfetch(rows, page.limit).try_map(|row| payment_of(&row))
}
