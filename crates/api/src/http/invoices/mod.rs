//! Invoices: the preview of a period, and the billing run that finalizes ended ones.

pub mod wire;

use actix_web::{get, post, web, HttpResponse};
use billing_domain::invoices::assembly::InvoiceLineKind;
use billing_domain::invoices::groups::{GroupBy, GroupKey};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::application::accounts::Reader;
use crate::application::invoices::finalize::{self, RunReport};
use crate::application::invoices::preview::{self, Preview};
use crate::application::AppState;
use crate::http::auth::Operator;
use crate::http::extract::{AccountParam, ValidJson};
use crate::http::invoices::wire::*;
use crate::http::problem::ApiError;
use crate::http::usage::wire::RatedLineResponse;
use crate::http::wire::{AccountPath, CurrencyCode};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(preview_invoice);
}

pub fn configure_admin(cfg: &mut ServiceConfig) {
    cfg.service(start_billing_run);
}

/// Run billing
///
/// Finalizes, synchronously, every period of every account that ended at least the grace for
/// late usage (`billing.finalize_grace`, default 1 day) before `as_of`: each gets its invoice
/// with a gap-free number, computed as its preview was, and never recomputed. `as_of` (default
/// now) is a test clock for the past: one run as of two years after the first usage finalizes
/// all 24 months. Running again, or twice at once, finalizes each period once; the answer says
/// what this run did. The same run happens inside `billing serve` on a schedule and from
/// `billing run --as-of`.
#[utoipa::path(
    tag = "invoices",
    operation_id = "admin_run_billing",
    request_body(content = BillingRunRequest, example = json!({"as_of": "2026-12-05T00:00:00+09:00"})),
    responses((status = 200, description = "What the run finalized", body = BillingRunResponse)),
    security(("bearer" = ["admin"]))
)]
#[post("/admin/billing-runs")]
async fn start_billing_run(
    _operator: Operator,
    state: web::Data<AppState>,
    body: ValidJson<BillingRunRequest>,
) -> Result<HttpResponse, ApiError> {
    let as_of = body.0.as_of.unwrap_or_else(|| state.clock.now());
    let report = finalize::run(&state, as_of).await?;
    Ok(HttpResponse::Ok().json(run_response(&report)))
}

pub fn run_response(report: &RunReport) -> BillingRunResponse {
    BillingRunResponse {
        as_of: report.as_of,
        accounts_examined: report.accounts_examined,
        finalized: report
            .finalized
            .iter()
            .map(|(account, invoices)| AccountRunResponse {
                account_id: account.to_string(),
                invoices: invoices
                    .iter()
                    .map(|f| FinalizedInvoiceResponse {
                        period: f.period.to_string(),
                        invoice_id: f.invoice.to_string(),
                        number: f.number.clone(),
                        currency: CurrencyCode(f.total.currency().code().to_owned()),
                        total: f.total.to_string(),
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
/// per project and product, discounts, credit, the determined amount, tax, total, the prepaid
/// balance deducted and the payment amount, with the unpaid amount of earlier invoices. Only
/// projects on which the caller has billing permission count (owners and billing admins: all).
/// `group_by=project|product` adds the lines grouped, each group with its total time in hours,
/// average cost per hour and total cost.
#[utoipa::path(
    tag = "invoices",
    operation_id = "preview_invoice",
    params(AccountPath, InvoicePreviewQuery),
    responses((status = 200, description = "The period's invoice as it stands", body = InvoicePreviewResponse)),
    security(("bearer" = []))
)]
#[get("/accounts/{account_id}/invoices/preview")]
async fn preview_invoice(
    reader: Reader,
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
    let project_name = |id: &billing_domain::names::ProjectId| {
        p.projects.get(id).map(|project| project.name.to_string())
    };
    InvoicePreviewResponse {
        account_id: p.account.id.to_string(),
        period: p.period.to_string(),
        currency: CurrencyCode(invoice.currency.code().to_owned()),
        lines: invoice
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
                project_name: line.project.as_ref().and_then(project_name),
                rated: line.rated.as_ref().map(RatedLineResponse::from),
                reference: line.reference.clone(),
                description: line.description.clone(),
                amount: line.amount.to_string(),
            })
            .collect(),
        usage_amount: invoice.usage_amount.to_string(),
        discount: invoice.discount.to_string(),
        credit: invoice.credit.to_string(),
        determined_amount: invoice.determined_amount.to_string(),
        tax_rate: invoice.tax_rate.to_string(),
        tax: invoice.tax.to_string(),
        total: invoice.total.to_string(),
        balance_applied: invoice.balance_applied.to_string(),
        payment_amount: invoice.payment_amount.to_string(),
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
