//! Invoices: finalized invoices with their lines, the gap-free numbers they get, and what
//! customers still owe.

use std::collections::{HashMap, HashSet};

use billing_domain::invoices::assembly::{Invoice, InvoiceLineKind};
use billing_domain::names::{AccountId, InvoiceId, ProjectId};
use billing_domain::period::{BillingOffset, BillingPeriod};
use sea_orm::sea_query::{Expr, Func, Query, SimpleExpr};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use time::OffsetDateTime;

use super::sql::{a, build, get};
use super::utc;
use crate::error::{unique_or_db, PersistenceError};

/// Statuses of an invoice that still owes its payment amount (not paid or void).
const UNPAID: [&str; 2] = ["finalized", "payment_failed"];

/// The account's unpaid amount, in minor units: what its finalized invoices still owe (their
/// payment amount less what was paid).
pub async fn unpaid_minor<C: ConnectionTrait>(
    db: &C,
    account: &AccountId,
) -> Result<i64, PersistenceError> {
    let owed = SimpleExpr::from(Func::sum(
        Expr::col(a("payment_amount_minor")).sub(Expr::col(a("paid_minor"))),
    ));
    // PostgreSQL sums BIGINTs as NUMERIC: cast back to read an i64 on both databases.
    let owed = Func::cast_as(Func::coalesce([owed, Expr::val(0i64).into()]), a("BIGINT"));
    let select = Query::select()
        .expr_as(owed, a("owed"))
        .from(a("invoices"))
        .and_where(Expr::col(a("account_id")).eq(account.as_str()))
        .and_where(Expr::col(a("status")).is_in(UNPAID))
        .to_owned();
    match db.query_one(build(db, &select)).await? {
        Some(row) => get::<i64>(&row, "owed"),
        None => Ok(0),
    }
}

/// The periods of the account that have an invoice.
pub async fn invoiced_periods<C: ConnectionTrait>(
    db: &C,
    account: &AccountId,
    offset: BillingOffset,
) -> Result<HashSet<BillingPeriod>, PersistenceError> {
    let select = Query::select()
        .column(a("period"))
        .from(a("invoices"))
        .and_where(Expr::col(a("account_id")).eq(account.as_str()))
        .to_owned();
    db.query_all(build(db, &select))
        .await?
        .iter()
        .map(|row| {
            let text = get::<String>(row, "period")?;
            BillingPeriod::parse(&text, offset)
                .map_err(PersistenceError::corrupt("invoices", account.as_str()))
        })
        .collect()
}

/// Takes the next invoice number, in the caller's transaction: the counter row stays locked
/// until it commits, and a rollback gives the number back, so numbers have no gaps.
pub async fn next_number<C: ConnectionTrait>(db: &C) -> Result<i64, PersistenceError> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "UPDATE invoice_numbers SET last_number = last_number + 1 \
             WHERE series = $1 RETURNING last_number"
        }
        _ => {
            "UPDATE invoice_numbers SET last_number = last_number + 1 \
             WHERE series = ? RETURNING last_number"
        }
    };
    let row = db
        .query_one(Statement::from_sql_and_values(
            backend,
            sql,
            ["invoice".into()],
        ))
        .await?
        .ok_or(PersistenceError::Corrupt {
            table: "invoice_numbers",
            key: "invoice".into(),
            source: billing_domain::DomainError::InvalidId("invoice number series"),
        })?;
    get::<i64>(&row, "last_number")
}

/// A finalized invoice to store.
pub struct NewInvoice<'a> {
    pub id: &'a InvoiceId,
    pub account: &'a AccountId,
    pub period: &'a BillingPeriod,
    pub number: &'a str,
    pub invoice: &'a Invoice,
    /// The projects' names at finalization.
    pub project_names: &'a HashMap<ProjectId, String>,
    pub billing_date: OffsetDateTime,
    pub finalized_at: OffsetDateTime,
}

fn minor(money: billing_domain::money::Money) -> Result<i64, PersistenceError> {
    money.to_minor().map_err(|_| PersistenceError::OutOfRange)
}

fn kind_name(kind: InvoiceLineKind) -> &'static str {
    match kind {
        InvoiceLineKind::BaseFee => "base_fee",
        InvoiceLineKind::Usage => "usage",
        InvoiceLineKind::Discount => "discount",
        InvoiceLineKind::Credit => "credit",
    }
}

/// Stores a finalized invoice and its lines. A second invoice of the same account and period is
/// [`PersistenceError::AlreadyExists`] (the unique constraint): a period is finalized once.
pub async fn insert<C: ConnectionTrait>(
    db: &C,
    new: &NewInvoice<'_>,
) -> Result<(), PersistenceError> {
    let i = new.invoice;
    let insert = Query::insert()
        .into_table(a("invoices"))
        .columns(
            [
                "id",
                "account_id",
                "period",
                "number",
                "currency",
                "status",
                "usage_amount_minor",
                "discount_minor",
                "credit_minor",
                "determined_amount_minor",
                "tax_rate",
                "tax_minor",
                "total_minor",
                "balance_applied_minor",
                "payment_amount_minor",
                "paid_minor",
                "billing_date",
                "finalized_at",
            ]
            .map(a),
        )
        .values_panic([
            new.id.as_str().into(),
            new.account.as_str().into(),
            new.period.to_string().into(),
            new.number.into(),
            i.currency.code().into(),
            "finalized".into(),
            minor(i.usage_amount)?.into(),
            minor(i.discount)?.into(),
            minor(i.credit)?.into(),
            minor(i.determined_amount)?.into(),
            i.tax_rate.to_string().into(),
            minor(i.tax)?.into(),
            minor(i.total)?.into(),
            minor(i.balance_applied)?.into(),
            minor(i.payment_amount)?.into(),
            0i64.into(),
            utc(new.billing_date).into(),
            utc(new.finalized_at).into(),
        ])
        .to_owned();
    db.execute(build(db, &insert)).await.map_err(unique_or_db)?;
    if i.lines.is_empty() {
        return Ok(());
    }
    let mut lines = Query::insert();
    lines.into_table(a("invoice_lines")).columns(
        [
            "invoice_id",
            "position",
            "kind",
            "project_id",
            "project_name",
            "plan_code",
            "product_code",
            "reference",
            "description",
            "quantity",
            "free_quantity",
            "hours",
            "reference_hours",
            "exact_amount",
            "amount_minor",
        ]
        .map(a),
    );
    for (position, line) in i.lines.iter().enumerate() {
        let rated = line.rated.as_ref();
        let position = i32::try_from(position).map_err(|_| PersistenceError::OutOfRange)?;
        lines.values_panic([
            new.id.as_str().into(),
            position.into(),
            kind_name(line.kind).into(),
            line.project.as_ref().map(|p| p.to_string()).into(),
            line.project
                .as_ref()
                .and_then(|p| new.project_names.get(p).cloned())
                .into(),
            rated.map(|r| r.plan.to_string()).into(),
            rated
                .and_then(|r| r.product.as_ref().map(ToString::to_string))
                .into(),
            line.reference.clone().into(),
            line.description.clone().into(),
            rated.and_then(|r| r.quantity.map(|q| q.to_string())).into(),
            rated
                .and_then(|r| r.free_quantity.map(|q| q.to_string()))
                .into(),
            rated
                .and_then(|r| r.hours.map(|h| h.normalize().to_string()))
                .into(),
            rated.and_then(|r| r.reference_hours.map(i64::from)).into(),
            rated.map(|r| r.exact_amount.normalize().to_string()).into(),
            minor(line.amount)?.into(),
        ]);
    }
    db.execute(build(db, &lines)).await?;
    Ok(())
}
