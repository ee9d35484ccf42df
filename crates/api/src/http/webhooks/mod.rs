//! Webhook endpoints (operators): register, change, rotate the secret, delete, and see and
//! retry deliveries.

pub mod wire;

use actix_web::{delete, get, patch, post, web, HttpResponse};
use billing_application::idempotency::{Answer, KeyScope};
use billing_application::webhooks::send::{self, Sender};
use billing_application::webhooks::{self, DeliveryView, EndpointChange, NewEndpoint};
use billing_application::{AppState, ConflictKind};
use billing_domain::names::{WebhookDeliveryId, WebhookEndpointId};
use billing_domain::webhooks::{Attempt, Delivery, Endpoint};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::http::answer::respond;
use crate::http::auth::Operator;
use crate::http::extract::{
    BodyDigest, CursorKey, Idempotency, IdempotencyKeyHeader, PageQuery, ValidJson,
};
use crate::http::problem::ApiError;
use crate::http::webhooks::wire::*;

pub fn configure_admin(cfg: &mut ServiceConfig) {
    cfg.service(create_endpoint)
        .service(list_endpoints)
        .service(get_endpoint)
        .service(update_endpoint)
        .service(delete_endpoint)
        .service(rotate_secret)
        .service(list_deliveries)
        .service(retry_delivery);
}

fn endpoint_response(e: &Endpoint, with_secret: bool) -> WebhookEndpointResponse {
    WebhookEndpointResponse {
        id: e.id.to_string(),
        url: e.url.clone(),
        description: e.description.clone(),
        account_id: e.account.as_ref().map(ToString::to_string),
        event_types: e.event_types.iter().map(|t| t.name().to_owned()).collect(),
        enabled: e.enabled,
        disabled_reason: e.disabled_reason.clone(),
        secret: with_secret.then(|| e.secret.as_str().to_owned()),
        previous_secret_expires_at: e.previous_secret.as_ref().map(|(_, until)| *until),
        created_at: e.created_at,
        updated_at: e.updated_at,
    }
}

fn attempt_response(a: &Attempt) -> WebhookAttemptResponse {
    WebhookAttemptResponse {
        number: a.number,
        started_at: a.started_at,
        duration_ms: a.duration_ms,
        status_code: a.status_code,
        outcome: if a.succeeded {
            AttemptOutcomeDto::Succeeded
        } else {
            AttemptOutcomeDto::Failed
        },
        error: a.error.clone(),
    }
}

fn delivery_response(d: &Delivery, attempts: &[Attempt]) -> WebhookDeliveryResponse {
    WebhookDeliveryResponse {
        id: d.id.to_string(),
        endpoint_id: d.endpoint.to_string(),
        event_id: d.event.to_string(),
        event_type: d.event_type.name().to_owned(),
        account_id: d.account.to_string(),
        status: if d.delivered_at.is_some() {
            DeliveryStatusDto::Delivered
        } else {
            DeliveryStatusDto::Pending
        },
        attempt_count: d.attempts,
        next_attempt_at: d.delivered_at.is_none().then_some(d.next_attempt_at),
        delivered_at: d.delivered_at,
        attempts: attempts.iter().map(attempt_response).collect(),
        created_at: d.created_at,
    }
}

fn endpoint_id(text: &str) -> Result<WebhookEndpointId, ApiError> {
    WebhookEndpointId::parse(text).map_err(|_| ApiError::NotFound)
}

/// Register a webhook endpoint
///
/// Events of the listed types are sent to the URL, signed as the Standard Webhooks
/// specification says, for every account or for one. The answer shows the signing secret
/// this once. Honours `Idempotency-Key`.
#[utoipa::path(
    tag = "webhooks",
    operation_id = "admin_create_webhook_endpoint",
    params(IdempotencyKeyHeader),
    request_body(content = WebhookEndpointRequest, example = json!({"url": "https://hooks.example.com/billing", "event_types": ["invoice.finalized", "invoice.paid"]})),
    responses((status = 201, description = "The endpoint, with its secret", body = WebhookEndpointResponse,
        links(
            ("GetWebhookEndpoint" = (operation_id = "admin_get_webhook_endpoint", parameters(("endpoint_id" = "$response.body#/id"))))
        )
    )),
    security(("bearer" = ["admin"]))
)]
#[post("/admin/webhook-endpoints")]
async fn create_endpoint(
    operator: Operator,
    state: web::Data<AppState>,
    idempotency: Idempotency,
    body: ValidJson<WebhookEndpointRequest>,
) -> Result<HttpResponse, ApiError> {
    let request = idempotency.request(KeyScope::Operator(&operator.subject), &body.1);
    let b = body.0;
    let new = NewEndpoint {
        url: b.url,
        description: b.description,
        event_types: b.event_types,
        account_id: b.account_id,
        enabled: b.enabled,
    };
    let done = webhooks::create(&state, new, request, |endpoint| {
        Answer::created(
            format!("/v1/admin/webhook-endpoints/{}", endpoint.id),
            endpoint_response(endpoint, true),
        )
    })
    .await?;
    Ok(respond(done.answer))
}

/// List webhook endpoints
#[utoipa::path(
    tag = "webhooks",
    operation_id = "admin_list_webhook_endpoints",
    params(PageQuery),
    responses((status = 200, description = "A page of endpoints, oldest first", body = WebhookEndpointList)),
    security(("bearer" = ["admin"]))
)]
#[get("/admin/webhook-endpoints")]
async fn list_endpoints(
    _operator: Operator,
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = webhooks::list(&state, &query.to_request(CursorKey::WebhookEndpoint)?).await?;
    let data: Vec<_> = page
        .items
        .iter()
        .map(|e| endpoint_response(e, false))
        .collect();
    let next_cursor =
        CursorKey::WebhookEndpoint.after(page.has_more, data.last().map(|e| e.id.as_str()));
    Ok(HttpResponse::Ok().json(WebhookEndpointList {
        data,
        has_more: page.has_more,
        next_cursor,
    }))
}

/// Get a webhook endpoint
///
/// Its settings and whether it is enabled (and why not); never its secret.
#[utoipa::path(
    tag = "webhooks",
    operation_id = "admin_get_webhook_endpoint",
    params(EndpointPath),
    responses((status = 200, description = "The endpoint", body = WebhookEndpointResponse)),
    security(("bearer" = ["admin"]))
)]
#[get("/admin/webhook-endpoints/{endpoint_id}")]
async fn get_endpoint(
    _operator: Operator,
    state: web::Data<AppState>,
    path: web::Path<EndpointPath>,
) -> Result<HttpResponse, ApiError> {
    let endpoint = webhooks::show(&state, &endpoint_id(&path.endpoint_id)?).await?;
    Ok(HttpResponse::Ok().json(endpoint_response(&endpoint, false)))
}

/// Change a webhook endpoint
///
/// Its URL, event types, description, or whether it is enabled. Enabling a disabled endpoint
/// resumes its deliveries where they stopped.
#[utoipa::path(
    tag = "webhooks",
    operation_id = "admin_update_webhook_endpoint",
    params(EndpointPath),
    request_body(content = WebhookEndpointUpdate, example = json!({"enabled": true})),
    responses((status = 200, description = "The endpoint as changed", body = WebhookEndpointResponse)),
    security(("bearer" = ["admin"]))
)]
#[patch("/admin/webhook-endpoints/{endpoint_id}")]
async fn update_endpoint(
    _operator: Operator,
    state: web::Data<AppState>,
    path: web::Path<EndpointPath>,
    body: ValidJson<WebhookEndpointUpdate>,
) -> Result<HttpResponse, ApiError> {
    let id = endpoint_id(&path.endpoint_id)?;
    let b = body.0;
    let change = EndpointChange {
        url: b.url,
        description: b.description.map(Some),
        event_types: b.event_types,
        enabled: b.enabled,
    };
    let endpoint = webhooks::update(&state, &id, change).await?;
    Ok(HttpResponse::Ok().json(endpoint_response(&endpoint, false)))
}

/// Delete a webhook endpoint
///
/// Nothing more is sent to it; its deliveries and their attempts go with it.
#[utoipa::path(
    tag = "webhooks",
    operation_id = "admin_delete_webhook_endpoint",
    params(EndpointPath),
    responses((status = 204, description = "Deleted")),
    security(("bearer" = ["admin"]))
)]
#[delete("/admin/webhook-endpoints/{endpoint_id}")]
async fn delete_endpoint(
    _operator: Operator,
    state: web::Data<AppState>,
    path: web::Path<EndpointPath>,
) -> Result<HttpResponse, ApiError> {
    webhooks::delete(&state, &endpoint_id(&path.endpoint_id)?).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Rotate a webhook endpoint's secret
///
/// A new secret signs from now on; the old one signs beside it for 24 hours, so receivers can
/// switch without missing a delivery. The answer shows the new secret this once. Honours
/// `Idempotency-Key`: a repeated request gets the first answer and rotates nothing more.
#[utoipa::path(
    tag = "webhooks",
    operation_id = "admin_rotate_webhook_secret",
    params(EndpointPath, IdempotencyKeyHeader),
    responses((status = 200, description = "The endpoint, with its new secret", body = WebhookEndpointResponse)),
    security(("bearer" = ["admin"]))
)]
#[post("/admin/webhook-endpoints/{endpoint_id}/rotate-secret")]
async fn rotate_secret(
    operator: Operator,
    state: web::Data<AppState>,
    path: web::Path<EndpointPath>,
    idempotency: Idempotency,
) -> Result<HttpResponse, ApiError> {
    let id = endpoint_id(&path.endpoint_id)?;
    let request = idempotency.request(KeyScope::Operator(&operator.subject), &BodyDigest::of(b""));
    let done = webhooks::rotate_secret(&state, &id, request, |endpoint| {
        Answer::ok(endpoint_response(endpoint, true))
    })
    .await?;
    Ok(respond(done.answer))
}

/// List a webhook endpoint's deliveries
///
/// Every event sent or to send to it, oldest first, each with its attempts: status, HTTP code,
/// duration, and when it is tried next.
#[utoipa::path(
    tag = "webhooks",
    operation_id = "admin_list_webhook_deliveries",
    params(EndpointPath, PageQuery),
    responses((status = 200, description = "A page of deliveries, oldest first", body = WebhookDeliveryList)),
    security(("bearer" = ["admin"]))
)]
#[get("/admin/webhook-endpoints/{endpoint_id}/deliveries")]
async fn list_deliveries(
    _operator: Operator,
    state: web::Data<AppState>,
    path: web::Path<EndpointPath>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.to_request(CursorKey::WebhookDelivery)?;
    let id = endpoint_id(&path.endpoint_id)?;
    let found = webhooks::deliveries(&state, &id, &page).await?;
    let data: Vec<_> = found
        .items
        .iter()
        .map(|DeliveryView { delivery, attempts }| delivery_response(delivery, attempts))
        .collect();
    let last = found.items.last().map(|v| v.delivery.seq.to_string());
    Ok(HttpResponse::Ok().json(WebhookDeliveryList {
        data,
        has_more: found.has_more,
        next_cursor: CursorKey::WebhookDelivery.after(found.has_more, last.as_deref()),
    }))
}

/// Send a delivery again
///
/// Sends it now, delivered or not, and answers how it went. A pending delivery that succeeds
/// is delivered, and the account's later deliveries to the endpoint follow. Honours
/// `Idempotency-Key`: a repeated request gets the first answer and sends nothing more.
#[utoipa::path(
    tag = "webhooks",
    operation_id = "admin_retry_webhook_delivery",
    extensions(("x-conflicts" = json!([ConflictKind::DeliveryInProgress.slug()]))),
    params(DeliveryPath, IdempotencyKeyHeader),
    responses((status = 200, description = "The delivery and the attempt just made", body = WebhookRetryResponse)),
    security(("bearer" = ["admin"]))
)]
#[post("/admin/webhook-deliveries/{delivery_id}/retry")]
async fn retry_delivery(
    operator: Operator,
    state: web::Data<AppState>,
    sender: web::Data<Sender>,
    path: web::Path<DeliveryPath>,
    idempotency: Idempotency,
) -> Result<HttpResponse, ApiError> {
    let id = WebhookDeliveryId::parse(&path.delivery_id).map_err(|_| ApiError::NotFound)?;
    let request = idempotency.request(KeyScope::Operator(&operator.subject), &BodyDigest::of(b""));
    let done = send::retry(&state, &sender, &id, request, |retried| {
        let DeliveryView { delivery, attempts } = &retried.delivery;
        Answer::ok(WebhookRetryResponse {
            delivery: delivery_response(delivery, attempts),
            attempt: attempt_response(&retried.attempt),
        })
    })
    .await?;
    Ok(respond(done.answer))
}
