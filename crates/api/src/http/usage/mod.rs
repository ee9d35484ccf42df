//! Usage: ingestion of events here, the customer's reads in [`reads`], the wire types of both
//! in [`wire`].

pub mod reads;
pub mod wire;

use actix_web::{post, web, HttpResponse};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::http::auth::UsageWriter;
use crate::http::extract::{AccountParam, ValidJson};
use crate::http::problem::ApiError;
use crate::http::usage::wire::*;
use crate::http::wire::AccountPath;
use billing_application::usage::ingest::{self, EventInput, EventOutcome};
use billing_application::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(ingest_usage);
    reads::configure(cfg);
}

/// Ingest usage events
///
/// Up to 1,000 events per request, from a metering service's `usage:write` token of this account
/// (or an operator). Each event is answered `accepted`, `duplicate` (its id was counted before)
/// or `rejected` with a reason; a bad event never sinks the batch. Retrying a batch is safe.
#[utoipa::path(
    tag = "usage",
    operation_id = "ingest_usage",
    params(AccountPath),
    request_body(content = UsageBatchRequest, example = json!({"events": [
        {"id": "evt-000123", "project_id": "proj_0193a4f06c1e7c529a433f6a3a1b2c4d",
         "product": "api_calls", "quantity": "120", "timestamp": "2026-11-23T10:00:00+09:00",
         "properties": {"region": "ap-northeast-2"}}
    ]})),
    responses((status = 200, description = "One result per event", body = UsageBatchResponse)),
    security(("bearer" = ["usage:write"]))
)]
#[post("/accounts/{account_id}/usage-events")]
async fn ingest_usage(
    writer: UsageWriter,
    state: web::Data<AppState>,
    AccountParam(account): AccountParam,
    body: ValidJson<UsageBatchRequest>,
) -> Result<HttpResponse, ApiError> {
    if !writer.may_write(&account) {
        return Err(ApiError::NotFound);
    }
    let events = body.0.events;
    let ids: Vec<String> = events.iter().map(|e| e.id.clone()).collect();
    let inputs = events
        .into_iter()
        .map(|e| EventInput {
            id: e.id,
            project_id: e.project_id,
            product: e.product,
            quantity: e.quantity,
            timestamp: e.timestamp,
            properties: e
                .properties
                .map(|p| serde_json::Value::Object(p).to_string()),
        })
        .collect();
    let outcomes = ingest::ingest(&state, &account, inputs).await?;
    Ok(HttpResponse::Ok().json(batch_response(ids, outcomes)))
}

fn batch_response(ids: Vec<String>, outcomes: Vec<EventOutcome>) -> UsageBatchResponse {
    let mut response = UsageBatchResponse {
        accepted: 0,
        duplicates: 0,
        rejected: 0,
        results: Vec::with_capacity(ids.len()),
    };
    for (id, outcome) in ids.into_iter().zip(outcomes) {
        let (status, reason) = match outcome {
            EventOutcome::Accepted => {
                response.accepted += 1;
                (EventStatus::Accepted, None)
            }
            EventOutcome::Duplicate => {
                response.duplicates += 1;
                (EventStatus::Duplicate, None)
            }
            EventOutcome::Rejected(r) => {
                response.rejected += 1;
                (EventStatus::Rejected, Some(r.into()))
            }
        };
        response
            .results
            .push(UsageEventResult { id, status, reason });
    }
    response
}
