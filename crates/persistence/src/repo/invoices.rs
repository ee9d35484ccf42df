//! Invoices: what customers owe from finalized invoices.

use billing_domain::names::AccountId;
use sea_orm::sea_query::{Expr, Func, Query, SimpleExpr};
use sea_orm::ConnectionTrait;

use super::sql::{a, build, get};
use crate::error::PersistenceError;

/// Statuses of an invoice that still owes its payment amount (not open, paid or void).
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
