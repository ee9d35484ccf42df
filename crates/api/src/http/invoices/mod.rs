//! Invoices: the preview of a period, and the billing run that finalizes ended ones.

pub mod wire;

use actix_web::{get, post, web, HttpResponse};
use billing_domain::invoices::assembly::InvoiceLineKind;
use billing_domain::invoices::groups::{GroupBy, GroupKey};
use utoipa_actix_web::service_config::ServiceConfig;

use std::collections::HashMap;

use billing_domain::invoices::assembly::Invoice;
use billing_domain::names::ProjectId;
use billing_domain::period::BillingOffset;

use crate::http::answer::respond;
use crate::http::auth::{Operator, ReaderParam};
use crate::http::extract::{
    AccountParam, CursorKey, Idempotency, IdempotencyKeyHeader, InvoiceParam, PageQuery, ValidJson,
};
use crate::http::invoices::wire::*;
use crate::http::problem::ApiError;
use crate::http::usage::wire::RatedLineResponse;
use crate::http::wire::{AccountPath, CurrencyCode};
use billing_application::billing_run::{self, BillingRun};
use billing_application::idempotency::{Answer, KeyScope};
use billing_application::invoices::history;
use billing_application::invoices::preview::{self, Preview};
use billing_application::{AppState, ConflictKind};
use billing_domain::invoices::Finalized;

pub fn configure(cfg: &mut ServiceConfig) {
    // The preview before the detail: `preview` is not an invoice id.
    cfg.service(preview_invoice)
        .service(list_invoices)
        .service(get_invoice)
        .service(get_invoice_pdf);
}

pub fn configure_admin(cfg: &mut ServiceConfig) {
    cfg.service(start_billing_run);
}

/// Run billing
///
/// Finalizes, synchronously, every period of every account that ended at least the grace for
/// late usage (`billing.finalize_grace`, default 1 day) before `as_of`: each gets its invoice
/// with a gap-free number, computed as its preview was, and never recomputed. Then it charges
/// every invoice that is due as of `as_of` (from the charge day, the 5th by default, and on the
/// retry schedule), the prepaid balance first and the card the rest, after settling payments
/// whose outcome was not recorded. `as_of` (default
/// now) is a test clock for the past: one run as of two years after the first usage finalizes
/// all 24 months. Running again, or twice at once, finalizes each period once; the answer says
/// what this run did. The same run happens inside `billing serve` on a schedule and from
/// `billing run --as-of`. It moves money, so it honours `Idempotency-Key`: a retry with the key
/// answers this run's answer again instead of running again.
#[utoipa::path(
    tag = "invoices",
    operation_id = "admin_run_billing",
    params(IdempotencyKeyHeader),
    request_body(content = BillingRunRequest, example = json!({"as_of": "2026-11-05T00:00:00+09:00"})),
    responses((status = 200, description = "What the run finalized", body = BillingRunResponse)),
    security(("bearer" = ["admin"]))
)]
#[post("/admin/billing-runs")]
async fn start_billing_run(
    operator: Operator,
    state: web::Data<AppState>,
    idempotency: Idempotency,
    body: ValidJson<BillingRunRequest>,
) -> Result<HttpResponse, ApiError> {
    let as_of = body.0.as_of.unwrap_or_else(|| state.clock.now());
    let request = idempotency.request(KeyScope::Operator(&operator.subject), &body.1);
    let done =
        billing_run::run_once(&state, as_of, request, |run| Answer::ok(run_response(run))).await?;
    Ok(respond(done.answer))
}

fn amounts_response(invoice: &Invoice) -> InvoiceAmountsResponse {
    InvoiceAmountsResponse {
        usage_amount: invoice.usage_amount.to_string(),
        discount: invoice.discount.to_string(),
        credit: invoice.credit.to_string(),
        determined_amount: invoice.determined_amount.to_string(),
        tax_rate: invoice.tax_rate.to_string(),
        tax: invoice.tax.to_string(),
        total: invoice.total.to_string(),
    }
}

fn lines_response(
    invoice: &Invoice,
    names: &HashMap<ProjectId, String>,
) -> Vec<InvoiceLineResponse> {
    invoice
        .lines
        .iter()
        .map(|line| InvoiceLineResponse {
            kind: match line.kind {
                InvoiceLineKind::BaseFee => InvoiceLineKindDto::BaseFee,
                InvoiceLineKind::Usage => InvoiceLineKindDto::Usage,
                InvoiceLineKind::Discount => InvoiceLineKindDto::Discount,
                InvoiceLineKind::Credit => InvoiceLineKindDto::Credit,
            },
            project_id: line.project.as_ref().map(ToString::to_string),
            project_name: line.project.as_ref().and_then(|p| names.get(p).cloned()),
            rated: line.rated.as_ref().map(RatedLineResponse::from),
            reference: line.reference.clone(),
            description: line.description.clone(),
            amount: line.amount.to_string(),
        })
        .collect()
}

pub(crate) fn invoice_response(
    found: &Finalized,
    offset: BillingOffset,
    with_lines: bool,
) -> InvoiceResponse {
    let stored = &found.invoice;
    let i = &stored.invoice;
    let p = &found.payment;
    let local = |instant: time::OffsetDateTime| instant.to_offset(offset.utc_offset());
    InvoiceResponse {
        id: stored.id.to_string(),
        number: stored.number.clone(),
        account_id: stored.account.to_string(),
        period: stored.period.to_string(),
        status: stored.status.into(),
        currency: CurrencyCode(i.currency.code().to_owned()),
        billing_date: local(stored.billing_date),
        finalized_at: local(stored.finalized_at),
        amounts: amounts_response(i),
        payment: InvoicePaymentResponse {
            amount_paid: p.amount_paid.to_string(),
            paid_from_balance: p.paid_from_balance.to_string(),
            paid_by_card: p.paid_by_card.to_string(),
            amount_remaining: p.amount_remaining.to_string(),
            attempt_count: p.attempt_count,
            next_payment_attempt: p.next_payment_attempt.map(local),
        },
        lines: with_lines.then(|| lines_response(i, &stored.project_names)),
    }
}

/// Billing history
///
/// The account's finalized invoices, in the order they were finalized, with status, billing
/// date and amounts, and the unpaid amount (what they still owe). For owners and billing admins
/// (and operators); a member gets 403.
#[utoipa::path(
    tag = "invoices",
    operation_id = "list_invoices",
    params(AccountPath, PageQuery),
    responses((status = 200, description = "A page of invoices", body = InvoiceListResponse)),
    security(("bearer" = []))
)]
#[get("/accounts/{account_id}/invoices")]
async fn list_invoices(
    ReaderParam(reader): ReaderParam,
    state: web::Data<AppState>,
    AccountParam(account): AccountParam,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.to_request(CursorKey::Invoice)?;
    let history = history::list(&state, &reader, &account, &page).await?;
    let offset = history.account.billing_offset;
    let data: Vec<InvoiceResponse> = history
        .invoices
        .items
        .iter()
        .map(|i| invoice_response(i, offset, false))
        .collect();
    let next_cursor = CursorKey::Invoice.after(
        history.invoices.has_more,
        data.last().map(|i| i.id.as_str()),
    );
    Ok(HttpResponse::Ok().json(InvoiceListResponse {
        currency: CurrencyCode(history.account.currency.code().to_owned()),
        unpaid_amount: history.unpaid_amount.to_string(),
        data,
        has_more: history.invoices.has_more,
        next_cursor,
    }))
}

/// Invoice detail
///
/// One finalized invoice with its lines, frozen at finalization: base fees and usage per project
/// and product (with how each was rated), discounts and credits, and every amount; and what was
/// paid of it so far, by the prepaid balance and by card, what remains, and when it is charged
/// next.
#[utoipa::path(
    tag = "invoices",
    operation_id = "get_invoice",
    params(AccountInvoicePath),
    responses((status = 200, description = "The invoice with its lines", body = InvoiceResponse)),
    security(("bearer" = []))
)]
#[get("/accounts/{account_id}/invoices/{invoice_id}")]
async fn get_invoice(
    ReaderParam(reader): ReaderParam,
    state: web::Data<AppState>,
    AccountParam(account): AccountParam,
    InvoiceParam(invoice): InvoiceParam,
) -> Result<HttpResponse, ApiError> {
    let (account, stored) = history::detail(&state, &reader, &account, &invoice).await?;
    Ok(HttpResponse::Ok().json(invoice_response(&stored, account.billing_offset, true)))
}

/// Invoice PDF
///
/// The invoice as a PDF (`application/pdf`): seller, customer, number, period, billing date,
/// every line and every total, the same data as the JSON. Hangul and Latin text is embedded.
#[utoipa::path(
    tag = "invoices",
    operation_id = "get_invoice_pdf",
    params(AccountInvoicePath),
    responses((status = 200, description = "The invoice as a PDF", content_type = "application/pdf", body = PdfDocument)),
    security(("bearer" = []))
)]
#[get("/accounts/{account_id}/invoices/{invoice_id}/pdf")]
async fn get_invoice_pdf(
    ReaderParam(reader): ReaderParam,
    state: web::Data<AppState>,
    AccountParam(account): AccountParam,
    InvoiceParam(invoice): InvoiceParam,
) -> Result<HttpResponse, ApiError> {
    let (name, bytes) = history::pdf(&state, &reader, &account, &invoice).await?;
    Ok(crate::http::answer::pdf(&name, bytes))
}

/// The answer of a billing run: its summary, the same fields `billing run` prints.
pub fn run_response(run: &BillingRun) -> BillingRunResponse {
    let summary = run.summary();
    BillingRunResponse {
        as_of: summary.as_of,
        accounts_examined: summary.accounts_examined,
        payments: summary
            .payments
            .into_iter()
            .map(|p| RunPaymentResponse {
                payment_id: p.payment_id,
                account_id: p.account_id,
                invoice_id: p.invoice_id,
                method: p.method.into(),
                status: p.status.into(),
                currency: CurrencyCode(p.currency),
                amount: p.amount,
            })
            .collect(),
        finalized: summary
            .finalized
            .into_iter()
            .map(|a| AccountRunResponse {
                account_id: a.account_id,
                invoices: a
                    .invoices
                    .into_iter()
                    .map(|f| FinalizedInvoiceResponse {
                        period: f.period,
                        invoice_id: f.invoice_id,
                        number: f.number,
                        currency: CurrencyCode(f.currency),
                        total: f.total,
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// Invoice preview
///
/// The invoice of a period as it stands (default: the current month in the account's offset),
/// computed from live usage by the same assembly that finalizes invoices: base fees and usage
/// per project and product, discounts, credit, the determined amount, tax and total, with the
/// unpaid amount of earlier invoices. To owners, billing admins and operators it also says
/// what was already paid and what the prepaid balance (`balance_applied`) and the card
/// (`payment_amount`) would pay of the rest if it were charged now, after the earlier unpaid
/// invoices take their share of the balance. Only projects on which the caller has billing
/// permission count (owners and billing admins: all).
/// `group_by=project|product` adds the lines grouped, each group with its total time in hours,
/// average cost per hour and total cost.
#[utoipa::path(
    tag = "invoices",
    operation_id = "preview_invoice",
    extensions(("x-conflicts" = json!([ConflictKind::UsageOutOfRange.slug(), ConflictKind::AmountOutOfRange.slug()]))),
    params(AccountPath, InvoicePreviewQuery),
    responses((status = 200, description = "The period's invoice as it stands", body = InvoicePreviewResponse)),
    security(("bearer" = []))
)]
#[get("/accounts/{account_id}/invoices/preview")]
async fn preview_invoice(
    ReaderParam(reader): ReaderParam,
    state: web::Data<AppState>,
    AccountParam(account): AccountParam,
    query: web::Query<InvoicePreviewQuery>,
) -> Result<HttpResponse, ApiError> {
    let group_by = query.group_by.map(|g| match g {
        GroupByDto::Project => GroupBy::Project,
        GroupByDto::Product => GroupBy::Product,
    });
    let preview =
        preview::preview(&state, &reader, &account, query.period.as_deref(), group_by).await?;
    Ok(HttpResponse::Ok().json(preview_response(&preview)))
}

fn preview_response(p: &Preview) -> InvoicePreviewResponse {
    let invoice = &p.invoice;
    let project_name = |id: &billing_domain::names::ProjectId| p.project_names.get(id).cloned();
    InvoicePreviewResponse {
        account_id: p.account.id.to_string(),
        period: p.period.to_string(),
        status: if p.finalized.is_some() {
            PreviewStatus::Finalized
        } else {
            PreviewStatus::Open
        },
        invoice_id: p.finalized.as_ref().map(|f| f.id.to_string()),
        number: p.finalized.as_ref().map(|f| f.number.clone()),
        currency: CurrencyCode(invoice.currency.code().to_owned()),
        lines: lines_response(invoice, &p.project_names),
        amounts: amounts_response(invoice),
        amount_paid: p.payment.as_ref().map(|m| m.amount_paid.to_string()),
        balance_applied: p.payment.as_ref().map(|m| m.balance_applied.to_string()),
        payment_amount: p.payment.as_ref().map(|m| m.payment_amount.to_string()),
        unpaid_amount: p.unpaid_amount.to_string(),
        groups: p.groups.as_ref().map(|groups| {
            groups
                .iter()
                .map(|g| {
                    let (project_id, product) = match &g.key {
                        GroupKey::Project(id) => (Some(id), None),
                        GroupKey::Product(code) => (None, Some(code.to_string())),
                        GroupKey::BaseFees => (None, None),
                    };
                    InvoiceGroupResponse {
                        project_id: project_id.map(ToString::to_string),
                        project_name: project_id.and_then(project_name),
                        product,
                        base_fees: g.key == GroupKey::BaseFees,
                        hours: g.hours.to_string(),
                        average_cost_per_hour: g.average_cost_per_hour.map(|m| m.to_string()),
                        total_cost: g.total.to_string(),
                    }
                })
                .collect()
        }),
    }
}
