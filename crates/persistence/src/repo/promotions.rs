//! Promotions: what operators offer under a code, the promotions accounts applied, and what
//! each finalized invoice was discounted.

use billing_domain::catalog::Code as ProductCode;
use billing_domain::invoices::assembly::DiscountValue;
use billing_domain::money::{Currency, Money};
use billing_domain::names::{AccountId, AppliedPromotionId, InvoiceId, PromotionId};
use billing_domain::promotions::{Lasting, PromotionCode};
use rust_decimal::Decimal;
use sea_orm::sea_query::{Expr, JoinType, Order, Query, SimpleExpr};
use sea_orm::ConnectionTrait;

use super::sql::{a, build, date, get};
use super::utc;
use crate::error::{unique_or_db, PersistenceError};
use billing_domain::page::{Page, PageRequest};
use billing_domain::promotions::Applied;
use billing_domain::promotions::Offer;

const OFFER_COLUMNS: [&str; 14] = [
    "id",
    "code",
    "name",
    "kind",
    "percent",
    "amount_minor",
    "currency",
    "products",
    "lasting",
    "months",
    "last_day",
    "redemption_limit",
    "redemptions",
    "created_at",
];

fn offer_of(row: &sea_orm::QueryResult) -> Result<Offer, PersistenceError> {
    use std::str::FromStr;
    let id = get::<String>(row, "id")?;
    let bad = PersistenceError::corrupt("promotion_codes", &id);
    let invalid = || bad(billing_domain::DomainError::InvalidDiscount);
    let value = match get::<String>(row, "kind")?.as_str() {
        "percent" => DiscountValue::Percent(
            get::<Option<String>>(row, "percent")?
                .and_then(|p| Decimal::from_str(&p).ok())
                .ok_or_else(invalid)?,
        ),
        "amount" => {
            let currency =
                Currency::parse(&get::<Option<String>>(row, "currency")?.ok_or_else(invalid)?)
                    .map_err(&bad)?;
            let minor = get::<Option<i64>>(row, "amount_minor")?.ok_or_else(invalid)?;
            DiscountValue::Amount(Money::from_minor(minor, currency).map_err(&bad)?)
        }
        _ => return Err(invalid()),
    };
    let products = get::<Option<String>>(row, "products")?
        .map(|text| {
            serde_json::from_str::<Vec<String>>(&text)
                .map_err(|_| invalid())?
                .iter()
                .map(|c| ProductCode::parse(c).map_err(&bad))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    let months = get::<Option<i32>>(row, "months")?;
    let lasting = match (get::<String>(row, "lasting")?.as_str(), months) {
        ("once", _) => Lasting::Once,
        ("forever", _) => Lasting::Forever,
        ("months", Some(n)) => u16::try_from(n)
            .map_err(|_| billing_domain::DomainError::InvalidLasting)
            .and_then(Lasting::months)
            .map_err(&bad)?,
        _ => return Err(bad(billing_domain::DomainError::InvalidLasting)),
    };
    let count = |v: i32| u32::try_from(v).map_err(|_| invalid());
    Ok(Offer {
        id: PromotionId::parse(&id).map_err(&bad)?,
        code: PromotionCode::parse(&get::<String>(row, "code")?).map_err(&bad)?,
        name: get(row, "name")?,
        value,
        products,
        lasting,
        last_day: get::<Option<String>>(row, "last_day")?
            .map(|d| date(&d).ok_or_else(invalid))
            .transpose()?,
        redemption_limit: get::<Option<i32>>(row, "redemption_limit")?
            .map(count)
            .transpose()?,
        redemptions: count(get::<i32>(row, "redemptions")?)?,
        created_at: get(row, "created_at")?,
    })
}

/// Stores a new offer; a code in use is [`PersistenceError::AlreadyExists`].
pub async fn insert_offer<C: ConnectionTrait>(db: &C, o: &Offer) -> Result<(), PersistenceError> {
    let (kind, percent, amount, currency) = match o.value {
        DiscountValue::Percent(p) => ("percent", Some(p.normalize().to_string()), None, None),
        DiscountValue::Amount(m) => (
            "amount",
            None,
            Some(m.to_minor().map_err(|_| PersistenceError::OutOfRange)?),
            Some(m.currency().code().to_owned()),
        ),
    };
    let (lasting, months) = match o.lasting {
        Lasting::Once => ("once", None),
        Lasting::Months(n) => ("months", Some(i32::from(n))),
        Lasting::Forever => ("forever", None),
    };
    let products = o
        .products
        .as_ref()
        .map(|p| serde_json::to_string(&p.iter().map(ToString::to_string).collect::<Vec<_>>()))
        .transpose()
        .map_err(|_| PersistenceError::OutOfRange)?;
    let limit = o.redemption_limit.map(i64::from);
    let insert = Query::insert()
        .into_table(a("promotion_codes"))
        .columns(OFFER_COLUMNS.map(a))
        .values_panic([
            o.id.as_str().into(),
            o.code.as_str().into(),
            o.name.as_str().into(),
            kind.into(),
            percent.into(),
            amount.into(),
            currency.into(),
            products.into(),
            lasting.into(),
            months.into(),
            o.last_day.map(|d| d.to_string()).into(),
            limit.into(),
            i64::from(o.redemptions).into(),
            utc(o.created_at).into(),
        ])
        .to_owned();
    db.execute(build(db, &insert)).await.map_err(unique_or_db)?;
    Ok(())
}

async fn offers_where<C: ConnectionTrait>(
    db: &C,
    condition: Option<SimpleExpr>,
    page: Option<&PageRequest>,
) -> Result<Vec<sea_orm::QueryResult>, PersistenceError> {
    let mut select = Query::select();
    select
        .columns(OFFER_COLUMNS.map(a))
        .from(a("promotion_codes"))
        .order_by(a("id"), Order::Asc);
    if let Some(condition) = condition {
        select.and_where(condition);
    }
    if let Some(page) = page {
        select.limit(page.limit + 1);
        if let Some(after) = &page.after {
            select.and_where(Expr::col(a("id")).gt(after.as_str()));
        }
    }
    Ok(db.query_all(build(db, &select)).await?)
}

/// The offer of a code.
pub async fn find_offer<C: ConnectionTrait>(
    db: &C,
    code: &PromotionCode,
) -> Result<Option<Offer>, PersistenceError> {
    offers_where(db, Some(Expr::col(a("code")).eq(code.as_str())), None)
        .await?
        .first()
        .map(offer_of)
        .transpose()
}

/// A page of the offers, in the order they were made.
pub async fn list_offers<C: ConnectionTrait>(
    db: &C,
    page: &PageRequest,
) -> Result<Page<Offer>, PersistenceError> {
    let rows = offers_where(db, None, Some(page)).await?;
    Page::from_overfetch(rows, page.limit).try_map(|row| offer_of(&row))
}

/// Takes one redemption of an offer, if its limit allows: of accounts applying the last one
/// at once, one gets it.
pub async fn take_redemption<C: ConnectionTrait>(
    db: &C,
    id: &PromotionId,
) -> Result<bool, PersistenceError> {
    let update = Query::update()
        .table(a("promotion_codes"))
        .value(a("redemptions"), Expr::col(a("redemptions")).add(1))
        .and_where(Expr::col(a("id")).eq(id.as_str()))
        .and_where(Expr::cust(
            "(redemption_limit IS NULL OR redemptions < redemption_limit)",
        ))
        .to_owned();
    Ok(db.execute(build(db, &update)).await?.rows_affected() == 1)
}

/// Stores an applied promotion; applying a code twice is [`PersistenceError::AlreadyExists`].
pub async fn insert_applied<C: ConnectionTrait>(
    db: &C,
    applied: &Applied,
) -> Result<(), PersistenceError> {
    let insert = Query::insert()
        .into_table(a("applied_promotions"))
        .columns(["id", "account_id", "promotion_code_id", "applied_at"].map(a))
        .values_panic([
            applied.id.as_str().into(),
            applied.account.as_str().into(),
            applied.offer.id.as_str().into(),
            utc(applied.applied_at).into(),
        ])
        .to_owned();
    db.execute(build(db, &insert)).await.map_err(unique_or_db)?;
    Ok(())
}

/// The promotions these accounts applied, oldest first, each with its offer and how many
/// invoices it discounted.
pub async fn applied_of<C: ConnectionTrait>(
    db: &C,
    accounts: &[&AccountId],
) -> Result<Vec<Applied>, PersistenceError> {
    if accounts.is_empty() {
        return Ok(Vec::new());
    }
    let condition =
        Expr::col((a("ap"), a("account_id"))).is_in(accounts.iter().map(|a| a.as_str()));
    applied_where(db, vec![condition], None).await
}

/// A page of the account's applied promotions, oldest first.
pub async fn list_applied<C: ConnectionTrait>(
    db: &C,
    account: &AccountId,
    page: &PageRequest,
) -> Result<Page<Applied>, PersistenceError> {
    let mut conditions = vec![Expr::col((a("ap"), a("account_id"))).eq(account.as_str())];
    if let Some(after) = &page.after {
        conditions.push(Expr::col((a("ap"), a("id"))).gt(after.as_str()));
    }
    let found = applied_where(db, conditions, Some(page.limit + 1)).await?;
    Ok(Page::from_overfetch(found, page.limit))
}

/// Applied promotions with their offers, in one statement: the offer's columns keep their
/// names (as [`offer_of`] reads them), the applied promotion's own are `applied_*`.
async fn applied_where<C: ConnectionTrait>(
    db: &C,
    conditions: Vec<SimpleExpr>,
    limit: Option<u64>,
) -> Result<Vec<Applied>, PersistenceError> {
    let mut select = Query::select();
    select
        .columns(OFFER_COLUMNS.map(|c| (a("o"), a(c))))
        .expr_as(Expr::col((a("ap"), a("id"))), a("applied_id"))
        .expr_as(
            Expr::col((a("ap"), a("account_id"))),
            a("applied_account_id"),
        )
        .expr_as(Expr::col((a("ap"), a("applied_at"))), a("applied_at"))
        .expr_as(
            Expr::cust(
                "(SELECT CAST(COUNT(*) AS INTEGER) FROM promotion_discounts d \
                 WHERE d.applied_promotion_id = ap.id)",
            ),
            a("discounted"),
        )
        .from_as(a("applied_promotions"), a("ap"))
        .join_as(
            JoinType::InnerJoin,
            a("promotion_codes"),
            a("o"),
            Expr::col((a("o"), a("id"))).equals((a("ap"), a("promotion_code_id"))),
        )
        .order_by((a("ap"), a("id")), Order::Asc);
    for condition in conditions {
        select.and_where(condition);
    }
    if let Some(limit) = limit {
        select.limit(limit);
    }
    let rows = db.query_all(build(db, &select)).await?;
    rows.iter()
        .map(|row| {
            let id = get::<String>(row, "applied_id")?;
            let bad = PersistenceError::corrupt("applied_promotions", &id);
            Ok(Applied {
                id: AppliedPromotionId::parse(&id).map_err(&bad)?,
                account: AccountId::parse(&get::<String>(row, "applied_account_id")?)
                    .map_err(&bad)?,
                offer: offer_of(row)?,
                applied_at: get(row, "applied_at")?,
                discounted: u32::try_from(get::<i32>(row, "discounted")?)
                    .map_err(|_| bad(billing_domain::DomainError::InvalidId("discounted")))?,
            })
        })
        .collect()
}

/// Records what a finalized invoice was discounted by an applied promotion (zero included:
/// the invoice still counts as one of the promotion's).
pub async fn record_discount<C: ConnectionTrait>(
    db: &C,
    applied: &AppliedPromotionId,
    invoice: &InvoiceId,
    amount: Money,
) -> Result<(), PersistenceError> {
    let insert = Query::insert()
        .into_table(a("promotion_discounts"))
        .columns(["applied_promotion_id", "invoice_id", "amount_minor"].map(a))
        .values_panic([
            applied.as_str().into(),
            invoice.as_str().into(),
            amount
                .to_minor()
                .map_err(|_| PersistenceError::OutOfRange)?
                .into(),
        ])
        .to_owned();
    db.execute(build(db, &insert)).await.map_err(unique_or_db)?;
    Ok(())
}
