//! Credit codes, the credits accounts registered, and their ledger.

use billing_domain::credits::{CreditCode, EntryKind, Validity};
use billing_domain::money::{Currency, Money};
use billing_domain::names::{AccountId, InvoiceId};
use sea_orm::sea_query::{Expr, Order, Query, SimpleExpr};
use sea_orm::ConnectionTrait;
use time::OffsetDateTime;

use super::sql::{a, build, date, get};
use super::utc;
use crate::error::{unique_or_db, PersistenceError};
use billing_domain::credits::Credit;
use billing_domain::credits::IssuedCode;
use billing_domain::page::{Page, PageRequest};

const CODE_COLUMNS: [&str; 10] = [
    "id",
    "code",
    "name",
    "currency",
    "amount_minor",
    "expires_on",
    "valid_days",
    "max_registrations",
    "registrations",
    "created_at",
];

fn code_of(row: &sea_orm::QueryResult) -> Result<IssuedCode, PersistenceError> {
    let id = get::<String>(row, "id")?;
    let bad = PersistenceError::corrupt("credit_codes", &id);
    let currency = Currency::parse(&get::<String>(row, "currency")?).map_err(&bad)?;
    let validity = match (
        get::<Option<String>>(row, "expires_on")?,
        get::<Option<i32>>(row, "valid_days")?,
    ) {
        (Some(text), None) => Validity::Until(
            date(&text).ok_or_else(|| bad(billing_domain::DomainError::InvalidValidity))?,
        ),
        (None, Some(days)) => u16::try_from(days)
            .map_err(|_| billing_domain::DomainError::InvalidValidity)
            .and_then(Validity::days)
            .map_err(&bad)?,
        _ => return Err(bad(billing_domain::DomainError::InvalidValidity)),
    };
    let count = |column: &str| -> Result<u32, PersistenceError> {
        u32::try_from(get::<i32>(row, column)?)
            .map_err(|_| bad(billing_domain::DomainError::InvalidId("registrations")))
    };
    Ok(IssuedCode {
        code: CreditCode::parse(&get::<String>(row, "code")?).map_err(&bad)?,
        name: get(row, "name")?,
        amount: Money::from_minor(get::<i64>(row, "amount_minor")?, currency).map_err(&bad)?,
        validity,
        max_registrations: count("max_registrations")?,
        registrations: count("registrations")?,
        revoked_at: get(row, "revoked_at")?,
        created_at: get(row, "created_at")?,
        id: id.clone(),
    })
}

fn code_columns() -> Vec<sea_orm::sea_query::Alias> {
    CODE_COLUMNS
        .iter()
        .copied()
        .chain(["revoked_at"])
        .map(a)
        .collect()
}

/// Stores newly issued codes. A code that exists already is [`PersistenceError::AlreadyExists`]
/// (100 random bits: it does not happen).
pub async fn insert_codes<C: ConnectionTrait>(
    db: &C,
    codes: &[IssuedCode],
) -> Result<(), PersistenceError> {
    for chunk in codes.chunks(1000) {
        let mut insert = Query::insert();
        insert.into_table(a("credit_codes")).columns(code_columns());
        for c in chunk {
            let (expires_on, valid_days) = match c.validity {
                Validity::Until(date) => (Some(date.to_string()), None),
                Validity::Days(days) => (None, Some(i32::from(days))),
            };
            insert.values_panic([
                c.id.as_str().into(),
                c.code.as_str().into(),
                c.name.as_str().into(),
                c.amount.currency().code().into(),
                c.amount
                    .to_minor()
                    .map_err(|_| PersistenceError::OutOfRange)?
                    .into(),
                expires_on.into(),
                valid_days.into(),
                i64::from(c.max_registrations).into(),
                i64::from(c.registrations).into(),
                utc(c.created_at).into(),
                c.revoked_at.map(utc).into(),
            ]);
        }
        db.execute(build(db, &insert)).await.map_err(unique_or_db)?;
    }
    Ok(())
}

async fn codes_where<C: ConnectionTrait>(
    db: &C,
    condition: SimpleExpr,
) -> Result<Option<IssuedCode>, PersistenceError> {
    let select = Query::select()
        .columns(code_columns())
        .from(a("credit_codes"))
        .and_where(condition)
        .to_owned();
    db.query_one(build(db, &select))
        .await?
        .as_ref()
        .map(code_of)
        .transpose()
}

/// A code by what the customer typed.
pub async fn find_code<C: ConnectionTrait>(
    db: &C,
    code: &CreditCode,
) -> Result<Option<IssuedCode>, PersistenceError> {
    codes_where(db, Expr::col(a("code")).eq(code.as_str())).await
}

/// A code by id.
pub async fn find_code_by_id<C: ConnectionTrait>(
    db: &C,
    id: &str,
) -> Result<Option<IssuedCode>, PersistenceError> {
    codes_where(db, Expr::col(a("id")).eq(id)).await
}

/// A page of the codes, by id (the order they were issued).
pub async fn list_codes<C: ConnectionTrait>(
    db: &C,
    page: &PageRequest,
) -> Result<Page<IssuedCode>, PersistenceError> {
    let mut select = Query::select();
    select
        .columns(code_columns())
        .from(a("credit_codes"))
        .order_by(a("id"), Order::Asc)
        .limit(page.limit + 1);
    if let Some(after) = &page.after {
        select.and_where(Expr::col(a("id")).gt(after.as_str()));
    }
    let rows = db.query_all(build(db, &select)).await?;
    Page::from_overfetch(rows, page.limit).try_map(|row| code_of(&row))
}

/// Revokes a code: it can no longer be registered (credits already registered stay). Answers
/// whether it was not revoked yet.
pub async fn revoke<C: ConnectionTrait>(
    db: &C,
    id: &str,
    now: OffsetDateTime,
) -> Result<bool, PersistenceError> {
    let update = Query::update()
        .table(a("credit_codes"))
        .value(a("revoked_at"), utc(now))
        .and_where(Expr::col(a("id")).eq(id))
        .and_where(Expr::col(a("revoked_at")).is_null())
        .to_owned();
    Ok(db.execute(build(db, &update)).await?.rows_affected() == 1)
}

/// Takes one registration of a code, if it has one left and is not revoked: of two accounts
/// taking the last one at once, one gets it (the second waits for the first's row lock, then
/// finds none left).
pub async fn take_registration<C: ConnectionTrait>(
    db: &C,
    id: &str,
) -> Result<bool, PersistenceError> {
    let update = Query::update()
        .table(a("credit_codes"))
        .value(a("registrations"), Expr::col(a("registrations")).add(1))
        .and_where(Expr::col(a("id")).eq(id))
        .and_where(Expr::col(a("revoked_at")).is_null())
        .and_where(Expr::col(a("registrations")).lt(Expr::col(a("max_registrations"))))
        .to_owned();
    Ok(db.execute(build(db, &update)).await?.rows_affected() == 1)
}

const CREDIT_COLUMNS: [&str; 10] = [
    "id",
    "account_id",
    "credit_code_id",
    "name",
    "currency",
    "charged_minor",
    "used_minor",
    "expired_minor",
    "registered_at",
    "expires_at",
];

fn credit_of(row: &sea_orm::QueryResult) -> Result<Credit, PersistenceError> {
    let id = get::<String>(row, "id")?;
    let bad = PersistenceError::corrupt("credits", &id);
    let currency = Currency::parse(&get::<String>(row, "currency")?).map_err(&bad)?;
    let money = |column: &str| -> Result<Money, PersistenceError> {
        Money::from_minor(get::<i64>(row, column)?, currency).map_err(&bad)
    };
    Ok(Credit {
        account: AccountId::parse(&get::<String>(row, "account_id")?).map_err(&bad)?,
        code_id: get(row, "credit_code_id")?,
        name: get(row, "name")?,
        charged: money("charged_minor")?,
        used: money("used_minor")?,
        expired: money("expired_minor")?,
        registered_at: get(row, "registered_at")?,
        expires_at: get(row, "expires_at")?,
        id: id.clone(),
    })
}

/// Whether the account registered this code already.
pub async fn registered<C: ConnectionTrait>(
    db: &C,
    account: &AccountId,
    code_id: &str,
) -> Result<bool, PersistenceError> {
    Ok(!credits_where(
        db,
        vec![
            Expr::col(a("account_id")).eq(account.as_str()),
            Expr::col(a("credit_code_id")).eq(code_id),
        ],
        None,
    )
    .await?
    .is_empty())
}

/// Stores a new credit and its `charged` entry. A second credit of the same code for the
/// account is [`PersistenceError::AlreadyExists`].
pub async fn insert_credit<C: ConnectionTrait>(
    db: &C,
    credit: &Credit,
    entry_id: &str,
) -> Result<(), PersistenceError> {
    let minor = |m: Money| m.to_minor().map_err(|_| PersistenceError::OutOfRange);
    let insert = Query::insert()
        .into_table(a("credits"))
        .columns(CREDIT_COLUMNS.map(a))
        .values_panic([
            credit.id.as_str().into(),
            credit.account.as_str().into(),
            credit.code_id.as_str().into(),
            credit.name.as_str().into(),
            credit.charged.currency().code().into(),
            minor(credit.charged)?.into(),
            minor(credit.used)?.into(),
            minor(credit.expired)?.into(),
            utc(credit.registered_at).into(),
            utc(credit.expires_at).into(),
        ])
        .to_owned();
    db.execute(build(db, &insert)).await.map_err(unique_or_db)?;
    insert_entry(
        db,
        entry_id,
        &credit.id,
        EntryKind::Charged,
        credit.charged,
        None,
        credit.registered_at,
    )
    .await
}

async fn insert_entry<C: ConnectionTrait>(
    db: &C,
    id: &str,
    credit: &str,
    kind: EntryKind,
    amount: Money,
    invoice: Option<&InvoiceId>,
    at: OffsetDateTime,
) -> Result<(), PersistenceError> {
    let insert = Query::insert()
        .into_table(a("credit_entries"))
        .columns(
            [
                "id",
                "credit_id",
                "kind",
                "amount_minor",
                "invoice_id",
                "created_at",
            ]
            .map(a),
        )
        .values_panic([
            id.into(),
            credit.into(),
            kind.as_str().into(),
            amount
                .to_minor()
                .map_err(|_| PersistenceError::OutOfRange)?
                .into(),
            invoice.map(|i| i.to_string()).into(),
            utc(at).into(),
        ])
        .to_owned();
    db.execute(build(db, &insert)).await.map_err(unique_or_db)?;
    Ok(())
}

/// Records what an invoice used of a credit, or what it lost to expiry: the entry and the
/// credit's sum, together (the database refuses a sum past what was charged).
pub async fn record<C: ConnectionTrait>(
    db: &C,
    entry_id: &str,
    credit: &str,
    kind: EntryKind,
    amount: Money,
    invoice: Option<&InvoiceId>,
    at: OffsetDateTime,
) -> Result<(), PersistenceError> {
    let column = match kind {
        EntryKind::Used => "used_minor",
        EntryKind::Expired => "expired_minor",
        EntryKind::Charged => return Err(PersistenceError::OutOfRange),
    };
    insert_entry(db, entry_id, credit, kind, amount, invoice, at).await?;
    let minor = amount
        .to_minor()
        .map_err(|_| PersistenceError::OutOfRange)?;
    let update = Query::update()
        .table(a("credits"))
        .value(a(column), Expr::col(a(column)).add(minor))
        .and_where(Expr::col(a("id")).eq(credit))
        .to_owned();
    db.execute(build(db, &update)).await?;
    Ok(())
}

async fn credits_where<C: ConnectionTrait>(
    db: &C,
    conditions: Vec<SimpleExpr>,
    limit: Option<u64>,
) -> Result<Vec<Credit>, PersistenceError> {
    let mut select = Query::select();
    select
        .columns(CREDIT_COLUMNS.map(a))
        .from(a("credits"))
        .order_by(a("id"), Order::Asc);
    if let Some(limit) = limit {
        select.limit(limit);
    }
    for condition in conditions {
        select.and_where(condition);
    }
    db.query_all(build(db, &select))
        .await?
        .iter()
        .map(credit_of)
        .collect()
}

/// Every credit of these accounts, oldest first.
pub async fn of_accounts<C: ConnectionTrait>(
    db: &C,
    accounts: &[&AccountId],
) -> Result<Vec<Credit>, PersistenceError> {
    if accounts.is_empty() {
        return Ok(Vec::new());
    }
    credits_where(
        db,
        vec![Expr::col(a("account_id")).is_in(accounts.iter().map(|a| a.as_str()))],
        None,
    )
    .await
}

/// A page of the account's credits, in the order they were registered.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    account: &AccountId,
    page: &PageRequest,
) -> Result<Page<Credit>, PersistenceError> {
    let mut conditions = vec![Expr::col(a("account_id")).eq(account.as_str())];
    if let Some(after) = &page.after {
        conditions.push(Expr::col(a("id")).gt(after.as_str()));
    }
    let rows = credits_where(db, conditions, Some(page.limit + 1)).await?;
    Ok(Page::from_overfetch(rows, page.limit))
}

/// Credits that expired by `now` with something left: what the billing run writes off.
pub async fn expiring<C: ConnectionTrait>(
    db: &C,
    now: OffsetDateTime,
) -> Result<Vec<Credit>, PersistenceError> {
    credits_where(
        db,
        vec![
            Expr::col(a("expires_at")).lte(utc(now)),
            Expr::cust("used_minor + expired_minor < charged_minor"),
        ],
        None,
    )
    .await
}

/// Records a failed registration of the account.
pub async fn record_attempt<C: ConnectionTrait>(
    db: &C,
    id: &str,
    account: &AccountId,
    at: OffsetDateTime,
) -> Result<(), PersistenceError> {
    let insert = Query::insert()
        .into_table(a("credit_attempts"))
        .columns(["id", "account_id", "attempted_at"].map(a))
        .values_panic([id.into(), account.as_str().into(), utc(at).into()])
        .to_owned();
    db.execute(build(db, &insert)).await?;
    Ok(())
}

/// The account's failed registrations since `since`, oldest first (their instants).
pub async fn attempts_since<C: ConnectionTrait>(
    db: &C,
    account: &AccountId,
    since: OffsetDateTime,
) -> Result<Vec<OffsetDateTime>, PersistenceError> {
    let select = Query::select()
        .column(a("attempted_at"))
        .from(a("credit_attempts"))
        .and_where(Expr::col(a("account_id")).eq(account.as_str()))
        .and_where(Expr::col(a("attempted_at")).gt(utc(since)))
        .order_by(a("attempted_at"), Order::Asc)
        .to_owned();
    db.query_all(build(db, &select))
        .await?
        .iter()
        .map(|row| get::<OffsetDateTime>(row, "attempted_at"))
        .collect()
}
