//! The prepaid balance's ledger: signed entries whose sum is the balance.

use billing_domain::balance::EntryKind;
use billing_domain::money::{Currency, Money};
use billing_domain::names::{AccountId, BalanceEntryId, PaymentId};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{ConnectionTrait, Statement};

use super::sql::{a, build, get};
use super::utc;
use crate::error::PersistenceError;
use billing_domain::balance::Entry;
use billing_domain::page::{Page, PageRequest};

/// The account's balance in minor units: the sum of its entries.
pub async fn total_minor<C: ConnectionTrait>(
    db: &C,
    account: &AccountId,
) -> Result<i64, PersistenceError> {
    let select = Query::select()
        .expr_as(
            Expr::cust("CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT)"),
            a("total"),
        )
        .from(a("balance_entries"))
        .and_where(Expr::col(a("account_id")).eq(account.as_str()))
        .to_owned();
    match db.query_one(build(db, &select)).await? {
        Some(row) => get::<i64>(&row, "total"),
        None => Ok(0),
    }
}

/// Adds an entry (call with the account locked, after checking the balance stays >= 0). A
/// second deduction for the same payment is [`PersistenceError::AlreadyExists`].
pub async fn insert<C: ConnectionTrait>(db: &C, e: &Entry) -> Result<(), PersistenceError> {
    let insert = Query::insert()
        .into_table(a("balance_entries"))
        .columns(
            [
                "id",
                "account_id",
                "kind",
                "amount_minor",
                "currency",
                "payment_id",
                "description",
                "created_at",
            ]
            .map(a),
        )
        .values_panic([
            e.id.as_str().into(),
            e.account.as_str().into(),
            e.kind.as_str().into(),
            e.amount
                .to_minor()
                .map_err(|_| PersistenceError::OutOfRange)?
                .into(),
            e.amount.currency().code().into(),
            e.payment.as_ref().map(|p| p.to_string()).into(),
            e.description.as_str().into(),
            utc(e.created_at).into(),
        ])
        .to_owned();
    db.execute(build(db, &insert))
        .await
        .map_err(crate::error::unique_or_db)?;
    Ok(())
}

/// A page of the account's ledger, oldest first, each entry with the balance after it.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    account: &AccountId,
    page: &PageRequest,
) -> Result<Page<(Entry, Money)>, PersistenceError> {
    let backend = db.get_database_backend();
    let (p, after) = match backend {
        sea_orm::DbBackend::Postgres => ("$1", "$2"),
        _ => ("?", "?"),
    };
    // The running balance is a window over all of the account's entries; the page is cut
    // from it.
    let sql = format!(
        "SELECT * FROM (SELECT id, account_id, kind, amount_minor, currency, payment_id, \
         description, created_at, CAST(SUM(amount_minor) OVER (ORDER BY id ROWS UNBOUNDED \
         PRECEDING) AS BIGINT) AS balance_after FROM balance_entries WHERE account_id = {p}) \
         AS ledger WHERE id > {after} ORDER BY id LIMIT {}",
        page.limit + 1
    );
    let rows = db
        .query_all(Statement::from_sql_and_values(
            backend,
            sql,
            [
                account.as_str().into(),
                page.after.clone().unwrap_or_default().into(),
            ],
        ))
        .await?;
    Page::from_overfetch(rows, page.limit).try_map(|row| {
        let id = get::<String>(&row, "id")?;
        let bad = PersistenceError::corrupt("balance_entries", &id);
        let currency = Currency::parse(&get::<String>(&row, "currency")?).map_err(&bad)?;
        let money = |minor| Money::from_minor(minor, currency).map_err(&bad);
        let entry = Entry {
            id: BalanceEntryId::parse(&id).map_err(&bad)?,
            account: AccountId::parse(&get::<String>(&row, "account_id")?).map_err(&bad)?,
            kind: EntryKind::parse(&get::<String>(&row, "kind")?).map_err(&bad)?,
            amount: money(get::<i64>(&row, "amount_minor")?)?,
            payment: get::<Option<String>>(&row, "payment_id")?
                .map(|p| PaymentId::parse(&p))
                .transpose()
                .map_err(&bad)?,
            description: get(&row, "description")?,
            created_at: get(&row, "created_at")?,
        };
        Ok((entry, money(get::<i64>(&row, "balance_after")?)?))
    })
}
