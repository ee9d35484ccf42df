//! Invoices: finalized invoices with their lines, the gap-free numbers they get, and what
//! customers still owe.

use std::collections::{HashMap, HashSet};

use billing_domain::invoices::assembly::{Invoice, InvoiceLine, InvoiceLineKind};
use billing_domain::invoices::status::InvoiceStatus;
use billing_domain::names::{AccountId, InvoiceId, ProjectId};
use billing_domain::payments::PaymentMethodKind;
use billing_domain::period::{BillingOffset, BillingPeriod};
use sea_orm::sea_query::{Expr, Func, Query, SimpleExpr};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use time::OffsetDateTime;

use super::sql::{a, build, get};
use super::utc;
use crate::error::{unique_or_db, PersistenceError};
use billing_domain::invoices::FinalizedInvoice;

/// The account's unpaid amount, in minor units: what its finalized invoices still owe (the
/// amount each asks for less what was paid). With `before`, only what the invoices finalized
/// before that one owe (ids sort by the time they were finalized): what the charge takes the
/// balance for first.
pub async fn unpaid_minor<C: ConnectionTrait>(
    db: &C,
    account: &AccountId,
    before: Option<&InvoiceId>,
) -> Result<i64, PersistenceError> {
    let owed = SimpleExpr::from(Func::sum(
        Expr::col(a("amount_due_minor")).sub(Expr::col(a("paid_minor"))),
    ));
    // PostgreSQL sums BIGINTs as NUMERIC: cast back to read an i64 on both databases.
    let owed = Func::cast_as(Func::coalesce([owed, Expr::val(0i64).into()]), a("BIGINT"));
    let mut select = Query::select();
    select
        .expr_as(owed, a("owed"))
        .from(a("invoices"))
        .and_where(Expr::col(a("account_id")).eq(account.as_str()))
        .and_where(
            Expr::col(a("status")).is_in(
                InvoiceStatus::ALL
                    .into_iter()
                    .filter(InvoiceStatus::owes)
                    .map(|s| s.as_str()),
            ),
        );
    if let Some(before) = before {
        select.and_where(Expr::col(a("id")).lt(before.as_str()));
    }
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
    Ok(invoiced_periods_of(db, &[(account, offset)])
        .await?
        .remove(account)
        .unwrap_or_default())
}

/// The periods with an invoice of each of these accounts (a billing run's page), each period in
/// its account's offset.
pub async fn invoiced_periods_of<C: ConnectionTrait>(
    db: &C,
    accounts: &[(&AccountId, BillingOffset)],
) -> Result<HashMap<AccountId, HashSet<BillingPeriod>>, PersistenceError> {
    let mut by_account: HashMap<AccountId, HashSet<BillingPeriod>> = HashMap::new();
    if accounts.is_empty() {
        return Ok(by_account);
    }
    let offsets: HashMap<&str, (&AccountId, BillingOffset)> = accounts
        .iter()
        .map(|(id, offset)| (id.as_str(), (*id, *offset)))
        .collect();
    let select = Query::select()
        .columns([a("account_id"), a("period")])
        .from(a("invoices"))
        .and_where(Expr::col(a("account_id")).is_in(offsets.keys().copied()))
        .to_owned();
    for row in db.query_all(build(db, &select)).await? {
        let account = get::<String>(&row, "account_id")?;
        let text = get::<String>(&row, "period")?;
        let Some((id, offset)) = offsets.get(account.as_str()) else {
            continue;
        };
        let period = BillingPeriod::parse(&text, *offset)
            .map_err(PersistenceError::corrupt("invoices", &account))?;
        by_account.entry((*id).clone()).or_default().insert(period);
    }
    Ok(by_account)
}

/// Takes the next `count` invoice numbers and answers the first, in the caller's transaction:
/// the counter row stays locked until it commits, and a rollback gives the numbers back, so
/// numbers have no gaps. Take them last, just before the commit, to hold the lock briefly.
pub async fn take_numbers<C: ConnectionTrait>(db: &C, count: u32) -> Result<i64, PersistenceError> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "UPDATE invoice_numbers SET last_number = last_number + $1 \
             WHERE series = $2 RETURNING last_number"
        }
        _ => {
            "UPDATE invoice_numbers SET last_number = last_number + ? \
             WHERE series = ? RETURNING last_number"
        }
    };
    let row = db
        .query_one(Statement::from_sql_and_values(
            backend,
            sql,
            [i64::from(count).into(), "invoice".into()],
        ))
        .await?
        .ok_or(PersistenceError::Corrupt {
            table: "invoice_numbers",
            key: "invoice".into(),
            source: billing_domain::DomainError::InvalidId("invoice number series"),
        })?;
    Ok(get::<i64>(&row, "last_number")? - i64::from(count) + 1)
}

/// An invoice that still owes something, with its account and period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owing {
    pub id: InvoiceId,
    pub account: AccountId,
    pub period: BillingPeriod,
}

/// A page of the invoices that still owe something (finalized or failed, not fully paid), by
/// id, with their accounts and periods: what the charge run looks at.
pub async fn owing<C: ConnectionTrait>(
    db: &C,
    after: Option<&InvoiceId>,
    limit: u64,
) -> Result<Vec<Owing>, PersistenceError> {
    let invoices = a("invoices");
    let accounts = a("accounts");
    let mut select = Query::select();
    select
        .column((invoices.clone(), a("id")))
        .column((invoices.clone(), a("account_id")))
        .column((invoices.clone(), a("period")))
        .column((accounts.clone(), a("billing_offset_minutes")))
        .from(invoices.clone())
        .inner_join(
            accounts.clone(),
            Expr::col((accounts.clone(), a("id"))).equals((invoices.clone(), a("account_id"))),
        )
        .and_where(Expr::col((invoices.clone(), a("status"))).is_in([
            InvoiceStatus::Finalized.as_str(),
            InvoiceStatus::PaymentFailed.as_str(),
        ]))
        .and_where(
            Expr::col((invoices.clone(), a("paid_minor")))
                .lt(Expr::col((invoices.clone(), a("amount_due_minor")))),
        )
        .order_by((invoices.clone(), a("id")), sea_orm::sea_query::Order::Asc)
        .limit(limit);
    if let Some(after) = after {
        select.and_where(Expr::col((invoices, a("id"))).gt(after.as_str()));
    }
    let rows = db.query_all(build(db, &select)).await?;
    rows.iter()
        .map(|row| {
            let id = get::<String>(row, "id")?;
            let bad = PersistenceError::corrupt("invoices", &id);
            let offset = BillingOffset::from_minutes(get::<i32>(row, "billing_offset_minutes")?)
                .map_err(&bad)?;
            Ok(Owing {
                id: InvoiceId::parse(&id).map_err(&bad)?,
                account: AccountId::parse(&get::<String>(row, "account_id")?).map_err(&bad)?,
                period: BillingPeriod::parse(&get::<String>(row, "period")?, offset)
                    .map_err(&bad)?,
            })
        })
        .collect()
}

/// Records a payment of an invoice: what it paid is added (to what the balance paid too, when
/// the balance paid it), and its status set.
pub async fn record_payment<C: ConnectionTrait>(
    db: &C,
    invoice: &InvoiceId,
    amount_minor: i64,
    method: PaymentMethodKind,
    status: InvoiceStatus,
) -> Result<(), PersistenceError> {
    let mut update = Query::update();
    update
        .table(a("invoices"))
        .value(
            a("paid_minor"),
            Expr::col(a("paid_minor")).add(amount_minor),
        )
        .value(a("status"), status.as_str())
        .and_where(Expr::col(a("id")).eq(invoice.as_str()));
    if method == PaymentMethodKind::Balance {
        update.value(
            a("paid_from_balance_minor"),
            Expr::col(a("paid_from_balance_minor")).add(amount_minor),
        );
    }
    db.execute(build(db, &update)).await?;
    Ok(())
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

/// Invoice lines per statement: fifteen parameters each, well under both databases' limits.
const LINE_CHUNK: usize = 1000;

/// Stores finalized invoices and their lines, a few statements for all of them. An invoice of
/// an account and period that already has one is [`PersistenceError::AlreadyExists`] (the
/// unique constraint): a period is finalized once.
pub async fn insert_all<C: ConnectionTrait>(
    db: &C,
    invoices: &[NewInvoice<'_>],
) -> Result<(), PersistenceError> {
    // Eighteen parameters an invoice: as many invoices per statement as lines.
    for chunk in invoices.chunks(LINE_CHUNK) {
        let mut headers = Query::insert();
        headers
            .into_table(a("invoices"))
            .columns(HEADER_COLUMNS.map(a));
        for new in chunk {
            headers.values_panic(header_values(new)?);
        }
        db.execute(build(db, &headers))
            .await
            .map_err(unique_or_db)?;
    }
    let mut lines = Vec::new();
    for new in invoices {
        for (position, line) in new.invoice.lines.iter().enumerate() {
            lines.push(line_values(new, position, line)?);
        }
    }
    for chunk in lines.chunks(LINE_CHUNK) {
        let mut insert = Query::insert();
        insert
            .into_table(a("invoice_lines"))
            .columns(LINE_COLUMNS.map(a));
        for values in chunk {
            insert.values_panic(values.iter().cloned());
        }
        db.execute(build(db, &insert)).await?;
    }
    Ok(())
}

fn header_values(new: &NewInvoice<'_>) -> Result<[SimpleExpr; 18], PersistenceError> {
    let i = new.invoice;
    Ok([
        new.id.as_str().into(),
        new.account.as_str().into(),
        new.period.to_string().into(),
        new.number.into(),
        i.currency.code().into(),
        InvoiceStatus::Finalized.as_str().into(),
        minor(i.usage_amount)?.into(),
        minor(i.discount)?.into(),
        minor(i.credit)?.into(),
        minor(i.determined_amount)?.into(),
        i.tax_rate.to_string().into(),
        minor(i.tax)?.into(),
        minor(i.total)?.into(),
        // What it asks for: its total, paid by the balance and the card together.
        minor(i.total)?.into(),
        0i64.into(),
        0i64.into(),
        utc(new.billing_date).into(),
        utc(new.finalized_at).into(),
    ])
}

fn line_values(
    new: &NewInvoice<'_>,
    position: usize,
    line: &InvoiceLine,
) -> Result<[SimpleExpr; 15], PersistenceError> {
    let rated = line.rated.as_ref();
    let position = i32::try_from(position).map_err(|_| PersistenceError::OutOfRange)?;
    Ok([
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
    ])
}

/// The columns of an invoice line, in the order it is written and read.
const LINE_COLUMNS: [&str; 15] = [
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
];

/// The columns of an invoice row, in the order it is written and read.
const HEADER_COLUMNS: [&str; 18] = [
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
    "amount_due_minor",
    "paid_minor",
    "paid_from_balance_minor",
    "billing_date",
    "finalized_at",
];

/// A page of the account's invoices by id (the order they were finalized), with their lines.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    account: &AccountId,
    offset: BillingOffset,
    page: &billing_domain::page::PageRequest,
) -> Result<billing_domain::page::Page<FinalizedInvoice>, PersistenceError> {
    let mut select = Query::select();
    select
        .columns(HEADER_COLUMNS.map(a))
        .from(a("invoices"))
        .and_where(Expr::col(a("account_id")).eq(account.as_str()))
        .order_by(a("id"), sea_orm::sea_query::Order::Asc)
        .limit(page.limit + 1);
    if let Some(after) = &page.after {
        select.and_where(Expr::col(a("id")).gt(after.as_str()));
    }
    let rows = db.query_all(build(db, &select)).await?;
    let page_rows = billing_domain::page::Page::from_overfetch(rows, page.limit);
    let ids: Vec<String> = page_rows
        .items
        .iter()
        .map(|r| get::<String>(r, "id"))
        .collect::<Result<_, _>>()?;
    let mut lines = lines_of(db, &ids).await?;
    page_rows.try_map(|row| {
        let id = get::<String>(&row, "id")?;
        let rows = lines.remove(&id).unwrap_or_default();
        stored_of(&row, rows, offset)
    })
}

/// One invoice of the account, by id.
pub async fn find<C: ConnectionTrait>(
    db: &C,
    account: &AccountId,
    id: &InvoiceId,
    offset: BillingOffset,
) -> Result<Option<FinalizedInvoice>, PersistenceError> {
    find_where(db, account, Expr::col(a("id")).eq(id.as_str()), offset).await
}

/// These invoices of the account, with their lines (ids of other accounts are left out).
pub async fn find_all<C: ConnectionTrait>(
    db: &C,
    account: &AccountId,
    ids: &[&InvoiceId],
    offset: BillingOffset,
) -> Result<Vec<FinalizedInvoice>, PersistenceError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let select = Query::select()
        .columns(HEADER_COLUMNS.map(a))
        .from(a("invoices"))
        .and_where(Expr::col(a("account_id")).eq(account.as_str()))
        .and_where(Expr::col(a("id")).is_in(ids.iter().map(|i| i.as_str())))
        .to_owned();
    let rows = db.query_all(build(db, &select)).await?;
    let found: Vec<String> = rows
        .iter()
        .map(|r| get::<String>(r, "id"))
        .collect::<Result<_, _>>()?;
    let mut lines = lines_of(db, &found).await?;
    rows.iter()
        .zip(found)
        .map(|(row, id)| stored_of(row, lines.remove(&id).unwrap_or_default(), offset))
        .collect()
}

/// The account's invoice of a period, if it is finalized.
pub async fn find_by_period<C: ConnectionTrait>(
    db: &C,
    account: &AccountId,
    period: &BillingPeriod,
) -> Result<Option<FinalizedInvoice>, PersistenceError> {
    let condition = Expr::col(a("period")).eq(period.to_string());
    find_where(db, account, condition, period.offset()).await
}

async fn find_where<C: ConnectionTrait>(
    db: &C,
    account: &AccountId,
    condition: SimpleExpr,
    offset: BillingOffset,
) -> Result<Option<FinalizedInvoice>, PersistenceError> {
    let select = Query::select()
        .columns(HEADER_COLUMNS.map(a))
        .from(a("invoices"))
        .and_where(Expr::col(a("account_id")).eq(account.as_str()))
        .and_where(condition)
        .to_owned();
    let Some(row) = db.query_one(build(db, &select)).await? else {
        return Ok(None);
    };
    let id = get::<String>(&row, "id")?;
    let mut lines = lines_of(db, std::slice::from_ref(&id)).await?;
    stored_of(&row, lines.remove(&id).unwrap_or_default(), offset).map(Some)
}

/// The lines of these invoices, in position order, by invoice id.
async fn lines_of<C: ConnectionTrait>(
    db: &C,
    ids: &[String],
) -> Result<HashMap<String, Vec<sea_orm::QueryResult>>, PersistenceError> {
    let mut by_invoice: HashMap<String, Vec<sea_orm::QueryResult>> = HashMap::new();
    if ids.is_empty() {
        return Ok(by_invoice);
    }
    let select = Query::select()
        .columns(LINE_COLUMNS.map(a))
        .from(a("invoice_lines"))
        .and_where(Expr::col(a("invoice_id")).is_in(ids.iter().map(String::as_str)))
        .order_by(a("invoice_id"), sea_orm::sea_query::Order::Asc)
        .order_by(a("position"), sea_orm::sea_query::Order::Asc)
        .to_owned();
    for row in db.query_all(build(db, &select)).await? {
        let id = get::<String>(&row, "invoice_id")?;
        by_invoice.entry(id).or_default().push(row);
    }
    Ok(by_invoice)
}

fn stored_of(
    row: &sea_orm::QueryResult,
    lines: Vec<sea_orm::QueryResult>,
    offset: BillingOffset,
) -> Result<FinalizedInvoice, PersistenceError> {
    use billing_domain::catalog::rating::{Line, LineKind};
    use billing_domain::catalog::{Code, Quantity};
    use billing_domain::invoices::assembly::InvoiceLine;
    use billing_domain::money::{Currency, Money, TaxRate};
    use rust_decimal::Decimal;
    use std::str::FromStr;

    let id_text = get::<String>(row, "id")?;
    let bad = PersistenceError::corrupt("invoices", &id_text);
    let currency = Currency::parse(&get::<String>(row, "currency")?).map_err(&bad)?;
    let money = |column: &str| -> Result<Money, PersistenceError> {
        Money::from_minor(get::<i64>(row, column)?, currency).map_err(&bad)
    };
    let decimal = |text: &str| {
        Decimal::from_str(text).map_err(|_| bad(billing_domain::DomainError::MalformedDecimal))
    };
    let mut project_names = HashMap::new();
    let mut invoice_lines = Vec::with_capacity(lines.len());
    for line in &lines {
        let kind = match get::<String>(line, "kind")?.as_str() {
            "base_fee" => InvoiceLineKind::BaseFee,
            "usage" => InvoiceLineKind::Usage,
            "discount" => InvoiceLineKind::Discount,
            "credit" => InvoiceLineKind::Credit,
            _ => {
                return Err(bad(billing_domain::DomainError::InvalidId(
                    "invoice line kind",
                )))
            }
        };
        let project = get::<Option<String>>(line, "project_id")?
            .map(|p| ProjectId::parse(&p))
            .transpose()
            .map_err(&bad)?;
        if let (Some(project), Some(name)) =
            (&project, get::<Option<String>>(line, "project_name")?)
        {
            project_names.insert(project.clone(), name);
        }
        let amount =
            Money::from_minor(get::<i64>(line, "amount_minor")?, currency).map_err(&bad)?;
        let description = get::<String>(line, "description")?;
        let rated = match (kind, get::<Option<String>>(line, "plan_code")?) {
            (InvoiceLineKind::BaseFee | InvoiceLineKind::Usage, Some(plan)) => {
                let quantity = |column: &str| -> Result<Option<Quantity>, PersistenceError> {
                    get::<Option<String>>(line, column)?
                        .map(|q| Quantity::parse(&q))
                        .transpose()
                        .map_err(&bad)
                };
                Some(Line {
                    kind: if kind == InvoiceLineKind::BaseFee {
                        LineKind::BaseFee
                    } else {
                        LineKind::Usage
                    },
                    plan: Code::parse(&plan).map_err(&bad)?,
                    product: get::<Option<String>>(line, "product_code")?
                        .map(|c| Code::parse(&c))
                        .transpose()
                        .map_err(&bad)?,
                    description: description.clone(),
                    quantity: quantity("quantity")?,
                    free_quantity: quantity("free_quantity")?,
                    hours: get::<Option<String>>(line, "hours")?
                        .map(|h| decimal(&h))
                        .transpose()?,
                    reference_hours: get::<Option<i32>>(line, "reference_hours")?
                        .map(|h| {
                            u32::try_from(h)
                                .map_err(|_| bad(billing_domain::DomainError::AmountOutOfRange))
                        })
                        .transpose()?,
                    exact_amount: match get::<Option<String>>(line, "exact_amount")? {
                        Some(text) => decimal(&text)?,
                        None => amount.amount(),
                    },
                    amount,
                })
            }
            _ => None,
        };
        invoice_lines.push(InvoiceLine {
            kind,
            project,
            rated,
            reference: get::<Option<String>>(line, "reference")?,
            description,
            amount,
        });
    }
    let invoice = Invoice {
        currency,
        lines: invoice_lines,
        usage_amount: money("usage_amount_minor")?,
        discount: money("discount_minor")?,
        credit: money("credit_minor")?,
        determined_amount: money("determined_amount_minor")?,
        tax_rate: TaxRate::parse(&get::<String>(row, "tax_rate")?).map_err(&bad)?,
        tax: money("tax_minor")?,
        total: money("total_minor")?,
    };
    Ok(FinalizedInvoice {
        id: InvoiceId::parse(&id_text).map_err(&bad)?,
        account: AccountId::parse(&get::<String>(row, "account_id")?).map_err(&bad)?,
        period: BillingPeriod::parse(&get::<String>(row, "period")?, offset).map_err(&bad)?,
        number: get::<Option<String>>(row, "number")?.unwrap_or_default(),
        status: InvoiceStatus::parse(&get::<String>(row, "status")?).map_err(&bad)?,
        invoice,
        paid: money("paid_minor")?,
        paid_from_balance: money("paid_from_balance_minor")?,
        billing_date: get::<OffsetDateTime>(row, "billing_date")?,
        finalized_at: get::<OffsetDateTime>(row, "finalized_at")?,
        project_names,
    })
}
