//! Events: an account's (owners, billing admins, operators) and every account's (operators),
//! and the renderer that writes each event's `data` as the GETs answer their objects.

pub mod wire;

use actix_web::{get, web, HttpResponse};
use billing_application::events::reads::{self, Query};
use billing_application::events::{Occurred, Render};
use billing_application::AppState;
use billing_domain::accounts::Account;
use billing_domain::events::{Event, EventType};
use billing_domain::names::AccountId;
use time::format_description::well_known::Rfc3339;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::http::auth::{Operator, ReaderParam};
use crate::http::events::wire::*;
use crate::http::extract::{AccountParam, CursorKey, PageQuery};
use crate::http::problem::ApiError;
use crate::http::wire::AccountPath;
use billing_application::FieldError;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_account_events);
}

pub fn configure_admin(cfg: &mut ServiceConfig) {
    cfg.service(admin_list_events);
}

/// Renders events' `data` with the functions the GETs answer with.
pub struct Renderer;

fn value<T: serde::Serialize>(data: T) -> serde_json::Value {
    serde_json::to_value(data).unwrap_or(serde_json::Value::Null)
}

impl Render for Renderer {
    fn data(&self, occurred: &Occurred<'_>, account: &Account) -> serde_json::Value {
        use crate::http::balance::entry_response;
        use crate::http::credits::credit_response;
        use crate::http::invoices::invoice_response;
        use crate::http::payments::{card_response, payment_response};
        use crate::http::promotions::applied_response;
        let offset = account.billing_offset;
        match occurred {
            Occurred::InvoiceFinalized(f) | Occurred::InvoicePaid(f) => value(InvoiceEventData {
                object: invoice_response(f, offset, true),
            }),
            Occurred::InvoicePaymentFailed { invoice, payment } => {
                value(InvoicePaymentFailedData {
                    object: invoice_response(invoice, offset, true),
                    payment: payment_response(payment, offset),
                })
            }
            Occurred::PaymentSucceeded(p) | Occurred::PaymentFailed(p) => value(PaymentEventData {
                object: payment_response(p, offset),
            }),
            Occurred::CreditRegistered(c) | Occurred::CreditExpired(c) => value(CreditEventData {
                object: credit_response(c, offset),
            }),
            Occurred::PromotionApplied(a) => value(PromotionEventData {
                object: applied_response(a),
            }),
            Occurred::BalanceDeposited { entry, balance } => value(BalanceEventData {
                object: entry_response(entry, *balance),
            }),
            Occurred::PaymentMethodUpdated(card) | Occurred::PaymentMethodRemoved(card) => {
                value(PaymentMethodEventData {
                    object: card_response(card),
                })
            }
            Occurred::UsagePeriodClosedRejected(r) => value(UsageRejectionEventData {
                object: UsageRejectionResponse {
                    id: r.id.clone(),
                    reason: "period_closed".to_owned(),
                    event_ids: r.event_ids.clone(),
                    periods: r.periods.iter().map(ToString::to_string).collect(),
                },
            }),
        }
    }
}

fn event_response(event: &Event) -> Result<EventResponse, ApiError> {
    serde_json::from_str(&event.body).map_err(|e| {
        ApiError::from(billing_application::AppError::Internal(format!(
            "event {}: {e}",
            event.id
        )))
    })
}

fn instant(name: &str, text: Option<&str>) -> Result<Option<time::OffsetDateTime>, ApiError> {
    text.map(|t| {
        time::OffsetDateTime::parse(t, &Rfc3339).map_err(|_| {
            ApiError::InvalidParameters(vec![FieldError::new(
                name,
                "invalid",
                "must be an RFC 3339 instant",
            )])
        })
    })
    .transpose()
}

fn query_of(q: &EventQuery) -> Result<Query, ApiError> {
    let mut types = Vec::new();
    if let Some(list) = &q.kind {
        for name in list.split(',') {
            let kind = EventType::parse(name).map_err(|_| {
                ApiError::InvalidParameters(vec![FieldError::new(
                    "type",
                    "unknown",
                    "not an event type",
                )])
            })?;
            types.push(kind);
        }
    }
    Ok(Query {
        types,
        from: instant("created_from", q.created_from.as_deref())?,
        until: instant("created_before", q.created_before.as_deref())?,
    })
}

fn event_list(page: billing_domain::page::Page<Event>) -> Result<EventList, ApiError> {
    let data = page
        .items
        .iter()
        .map(event_response)
        .collect::<Result<Vec<_>, _>>()?;
    let last = page.items.last().map(|e| e.seq.to_string());
    Ok(EventList {
        data,
        has_more: page.has_more,
        next_cursor: CursorKey::Event.after(page.has_more, last.as_deref()),
    })
}

/// List an account's events
///
/// What happened to the account's billing, in the order it happened: the same events its
/// webhooks send, kept for `billing.events.retention` (90 days by default). Filter by type
/// and time. Owners, billing admins and operators.
#[utoipa::path(
    tag = "events",
    operation_id = "list_account_events",
    params(AccountPath, EventQuery, PageQuery),
    responses((status = 200, description = "A page of the account's events, oldest first", body = EventList)),
    security(("bearer" = []))
)]
#[get("/accounts/{account_id}/events")]
async fn list_account_events(
    ReaderParam(reader): ReaderParam,
    state: web::Data<AppState>,
    AccountParam(account): AccountParam,
    query: web::Query<EventQuery>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let filter = query_of(&query)?;
    let page = page.to_request(CursorKey::Event)?;
    let found = reads::of_account(&state, &reader, &account, &filter, &page).await?;
    Ok(HttpResponse::Ok().json(event_list(found)?))
}

/// List events
///
/// Every account's events (or one's), in the order they happened. Operators.
#[utoipa::path(
    tag = "events",
    operation_id = "admin_list_events",
    params(AdminEventQuery, EventQuery, PageQuery),
    responses((status = 200, description = "A page of events, oldest first", body = EventList)),
    security(("bearer" = ["admin"]))
)]
#[get("/admin/events")]
async fn admin_list_events(
    _operator: Operator,
    state: web::Data<AppState>,
    admin: web::Query<AdminEventQuery>,
    query: web::Query<EventQuery>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let account = admin
        .account_id
        .as_deref()
        .map(AccountId::parse)
        .transpose()
        .map_err(|_| {
            ApiError::InvalidParameters(vec![FieldError::new(
                "account_id",
                "invalid",
                "not an account id",
            )])
        })?;
    let filter = query_of(&query)?;
    let page = page.to_request(CursorKey::Event)?;
    let found = reads::all(&state, account.as_ref(), &filter, &page).await?;
    Ok(HttpResponse::Ok().json(event_list(found)?))
}
