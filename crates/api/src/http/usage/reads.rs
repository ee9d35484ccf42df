//! Usage reads for customers: monthly usage, daily usage, metering per date, billing table.

use actix_web::{get, web, HttpResponse};
use billing_domain::accounts::Project;
use billing_domain::catalog::{FeeGroup, Product};
use billing_domain::period::BillingOffset;
use billing_domain::usage::reads::Totals;
use time::{Date, OffsetDateTime};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::http::auth::ReaderParam;
use crate::http::extract::{AccountParam, ProjectParam};
use crate::http::extract::{CursorKey, PageQuery, SearchQuery};
use crate::http::problem::{ApiError, FieldError};
use crate::http::usage::wire::*;
use crate::http::wire::{AccountPath, AccountProjectPath, CurrencyCode};
use billing_application::usage::reads::{self, Channel};
use billing_application::{AppState, ConflictKind};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(get_monthly_usage)
        .service(get_daily_usage)
        .service(get_metering)
        .service(get_billing_channels);
}

fn local(instant: OffsetDateTime, offset: BillingOffset) -> OffsetDateTime {
    instant.to_offset(offset.utc_offset())
}

/// A calendar date on the wire: `YYYY-MM-DD`, nothing else (no week or ordinal dates).
const DATE_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

fn date_text(date: Date) -> String {
    date.format(DATE_FORMAT)
        .unwrap_or_else(|_| date.to_string())
}

/// The cursor of the page after the one ending with `last`, if there is one.
fn next_cursor(has_more: bool, last: Option<&Project>) -> Option<String> {
    CursorKey::Project.after(has_more, last.map(|p| p.id.as_str()))
}

fn product_usage(product: &Product, totals: &Totals) -> ProductUsage {
    ProductUsage {
        product: product.code.to_string(),
        name: product.name.to_string(),
        unit: product.unit.to_string(),
        aggregation: product.aggregation.into(),
        quantity: totals.quantity.to_string(),
        event_count: totals.event_count,
    }
}

/// Monthly usage per project and product
///
/// Usage quantities of every project the caller takes part in (owners and billing admins: every
/// project of the account), per product, for a billing period cut at the account's midnight.
/// Quantities only: costs are in the billing table, for projects with billing permission.
#[utoipa::path(
    tag = "usage",
    operation_id = "get_monthly_usage",
    extensions(("x-conflicts" = json!([ConflictKind::UsageOutOfRange.slug()]))),
    params(AccountPath, PeriodQuery, SearchQuery, PageQuery),
    responses((status = 200, description = "Usage per project and product", body = MonthlyUsageResponse)),
    security(("bearer" = []))
)]
#[get("/accounts/{account_id}/usage")]
async fn get_monthly_usage(
    ReaderParam(reader): ReaderParam,
    state: web::Data<AppState>,
    AccountParam(account): AccountParam,
    query: web::Query<PeriodQuery>,
    search: web::Query<SearchQuery>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = page.to_request(CursorKey::Project)?;
    let period = query.period.as_deref();
    let (account, period, usage) =
        reads::monthly(&state, &reader, &account, period, search.text()?, &page).await?;
    let offset = account.billing_offset;
    let next_cursor = next_cursor(usage.has_more, usage.items.last().map(|u| &u.project));
    Ok(HttpResponse::Ok().json(MonthlyUsageResponse {
        account_id: account.id.to_string(),
        period: period.to_string(),
        starts_at: local(period.start(), offset),
        ends_at: local(period.end(), offset),
        projects: usage
            .items
            .iter()
            .map(|u| ProjectUsageResponse {
                project_id: u.project.id.to_string(),
                project_name: u.project.name.to_string(),
                billing_permission: u.access.view_costs,
                products: u
                    .products
                    .iter()
                    .map(|(p, t)| product_usage(p, t))
                    .collect(),
            })
            .collect(),
        has_more: usage.has_more,
        next_cursor,
    }))
}

/// Daily usage of a project
///
/// Every day of the billing period, cut at the account's midnight, with each product's usage
/// that day. Any project the caller takes part in.
#[utoipa::path(
    tag = "usage",
    operation_id = "get_daily_usage",
    extensions(("x-conflicts" = json!([ConflictKind::UsageOutOfRange.slug()]))),
    params(AccountProjectPath, PeriodQuery),
    responses((status = 200, description = "Usage per day", body = DailyUsageResponse)),
    security(("bearer" = []))
)]
#[get("/accounts/{account_id}/projects/{project_id}/usage/daily")]
async fn get_daily_usage(
    ReaderParam(reader): ReaderParam,
    state: web::Data<AppState>,
    AccountParam(account): AccountParam,
    ProjectParam(project): ProjectParam,
    query: web::Query<PeriodQuery>,
) -> Result<HttpResponse, ApiError> {
    let (account, period, project, days) =
        reads::daily(&state, &reader, &account, &project, query.period.as_deref()).await?;
    let offset = account.billing_offset;
    Ok(HttpResponse::Ok().json(DailyUsageResponse {
        account_id: account.id.to_string(),
        project_id: project.id.to_string(),
        project_name: project.name.to_string(),
        period: period.to_string(),
        days: days
            .iter()
            .map(|d| DayUsageResponse {
                date: date_text(d.date),
                starts_at: local(d.starts_at, offset),
                products: d
                    .products
                    .iter()
                    .map(|(p, t)| product_usage(p, t))
                    .collect(),
            })
            .collect(),
    }))
}

/// Metering information of a product
///
/// One product's usage in one project per date, each date with the hours that had usage (seed
/// 002's "Expand All"), or for one `date`. Any project the caller takes part in.
#[utoipa::path(
    tag = "usage",
    operation_id = "get_metering",
    extensions(("x-conflicts" = json!([ConflictKind::UsageOutOfRange.slug()]))),
    params(AccountProjectPath, MeteringQuery),
    responses((status = 200, description = "Usage per date and hour", body = MeteringResponse)),
    security(("bearer" = []))
)]
#[get("/accounts/{account_id}/projects/{project_id}/usage/metering")]
async fn get_metering(
    ReaderParam(reader): ReaderParam,
    state: web::Data<AppState>,
    AccountParam(account): AccountParam,
    ProjectParam(project): ProjectParam,
    query: web::Query<MeteringQuery>,
) -> Result<HttpResponse, ApiError> {
    let date = match query.date.as_deref() {
        None => None,
        Some(text) => Some(Date::parse(text, DATE_FORMAT).map_err(|_| {
            ApiError::InvalidParameters(vec![FieldError::new(
                "date",
                "invalid",
                "must be a calendar date YYYY-MM-DD",
            )])
        })?),
    };
    let m = reads::metering(
        &state,
        &reader,
        &account,
        &project,
        &query.product,
        query.period.as_deref(),
        date,
    )
    .await?;
    let offset = m.account.billing_offset;
    Ok(HttpResponse::Ok().json(MeteringResponse {
        account_id: m.account.id.to_string(),
        project_id: m.project.id.to_string(),
        period: m.period.to_string(),
        product: m.product.code.to_string(),
        name: m.product.name.to_string(),
        unit: m.product.unit.to_string(),
        aggregation: m.product.aggregation.into(),
        quantity: m.totals.map(|t| t.quantity.to_string()),
        event_count: m.totals.map_or(0, |t| t.event_count),
        dates: m
            .dates
            .iter()
            .map(|d| MeteringDateResponse {
                date: date_text(d.date),
                quantity: d.totals.quantity.to_string(),
                event_count: d.totals.event_count,
                hours: d
                    .hours
                    .iter()
                    .map(|h| MeteringHourResponse {
                        starts_at: local(h.starts_at, offset),
                        quantity: h.totals.quantity.to_string(),
                        event_count: h.totals.event_count,
                    })
                    .collect(),
            })
            .collect(),
    }))
}

fn channel_response(channel: &Channel) -> ChannelBillingResponse {
    let s = &channel.summary;
    ChannelBillingResponse {
        project_id: channel.project.id.to_string(),
        project_name: channel.project.name.to_string(),
        services: channel
            .services
            .iter()
            .map(|svc| {
                let usage = svc.totals.quantity.to_string();
                let group = svc.product.fee_group;
                ServiceBillingResponse {
                    product: svc.product.code.to_string(),
                    service: svc.product.name.to_string(),
                    unit: svc.product.unit.to_string(),
                    fee_group: group.into(),
                    api_calls: (group == FeeGroup::Api).then(|| usage.clone()),
                    disk_bytes: (group == FeeGroup::Disk).then(|| usage.clone()),
                    usage,
                    event_count: svc.totals.event_count,
                    amount: svc.amount.to_string(),
                }
            })
            .collect(),
        summary: BillingSummaryResponse {
            total_amount: s.total.to_string(),
            base_fee: s.base_fee.to_string(),
            disk_usage_fee: s.disk_usage_fee.to_string(),
            api_usage_fee: s.api_usage_fee.to_string(),
            other_usage_fee: s.other_usage_fee.to_string(),
        },
        lines: channel
            .ratings
            .iter()
            .flat_map(|r| r.lines.iter())
            .map(RatedLineResponse::from)
            .collect(),
    }
}

/// Usage charges per project
///
/// The billing table of a period: for each project whose costs the caller may see (owners and
/// billing admins: all; members: projects where they have billing permission), each service's
/// usage and charge, every rated line, and the summary (total, base fee, disk usage fee, API
/// usage fee, other usage fees). Plans changed during the period are prorated by hours.
#[utoipa::path(
    tag = "usage",
    operation_id = "get_billing_channels",
    extensions(("x-conflicts" = json!([ConflictKind::UsageOutOfRange.slug(), ConflictKind::AmountOutOfRange.slug()]))),
    params(AccountPath, PeriodQuery, PageQuery),
    responses((status = 200, description = "Charges per project", body = BillingChannelsResponse)),
    security(("bearer" = []))
)]
#[get("/accounts/{account_id}/billing/channels")]
async fn get_billing_channels(
    ReaderParam(reader): ReaderParam,
    state: web::Data<AppState>,
    AccountParam(account): AccountParam,
    query: web::Query<PeriodQuery>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = page.to_request(CursorKey::Project)?;
    let table = reads::channels(&state, &reader, &account, query.period.as_deref(), &page).await?;
    let channels = &table.channels;
    Ok(HttpResponse::Ok().json(BillingChannelsResponse {
        account_id: table.account.id.to_string(),
        period: table.period.to_string(),
        currency: CurrencyCode(table.account.currency.code().to_owned()),
        total_amount: table.total.to_string(),
        channels: channels.items.iter().map(channel_response).collect(),
        has_more: channels.has_more,
        next_cursor: next_cursor(channels.has_more, channels.items.last().map(|c| &c.project)),
    }))
}
