//! Idempotent requests: a retry with the same `Idempotency-Key` gets the first answer and
//! changes nothing twice.
//!
//! [`run`] owns the transaction: it claims the key, lets the work write through the same
//! transaction, stores the answer and commits, so the effect and the stored answer land together
//! or not at all. A key reused for a different request (another path or body) is a 409.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::{header, StatusCode};
use actix_web::HttpResponse;
use billing_persistence::repo::idempotency::{self, Claim};
use billing_persistence::DatabaseTransaction;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::extract::{BodyDigest, IdempotencyKey};
use crate::state::AppState;

/// Who a key belongs to: keys of different scopes never collide.
pub enum KeyScope<'a> {
    Operator,
    Account(&'a str),
}

impl KeyScope<'_> {
    fn as_str(&self) -> &str {
        match self {
            KeyScope::Operator => "admin",
            KeyScope::Account(id) => id,
        }
    }
}

/// An answer that can be stored and replayed.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Outcome {
    #[serde(skip)]
    status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    location: Option<String>,
    body: serde_json::Value,
    #[serde(skip)]
    replayed: bool,
}

impl Outcome {
    pub fn created(location: String, body: impl Serialize) -> Result<Self, ApiError> {
        Ok(Outcome {
            status: StatusCode::CREATED.as_u16(),
            location: Some(location),
            body: serde_json::to_value(body).map_err(|e| ApiError::Internal(e.to_string()))?,
            replayed: false,
        })
    }

    pub fn into_response(self) -> HttpResponse {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::OK);
        let mut response = HttpResponse::build(status);
        if let Some(location) = &self.location {
            response.insert_header((header::LOCATION, location.as_str()));
        }
        if self.replayed {
            response.insert_header(("idempotent-replayed", "true"));
        }
        response.json(self.body)
    }
}

/// The work of an idempotent request, run inside the request's transaction.
pub type Work<'c> = Pin<Box<dyn Future<Output = Result<Outcome, ApiError>> + Send + 'c>>;

/// Runs `work` once per idempotency key (or plainly, without a key).
pub async fn run<F>(
    state: &AppState,
    scope: KeyScope<'_>,
    key: IdempotencyKey,
    request: RequestFingerprint,
    work: F,
) -> Result<Outcome, ApiError>
where
    F: for<'c> FnOnce(&'c DatabaseTransaction) -> Work<'c>,
{
    let txn = billing_persistence::db::begin_write(&state.db).await?;
    if let Some(key) = &key.0 {
        match idempotency::claim(&txn, scope.as_str(), key, &request.0, state.clock.now()).await? {
            Claim::Fresh => {}
            Claim::Completed {
                request_hash,
                status,
                body,
            } => {
                if request_hash != request.0 {
                    return Err(reused());
                }
                let mut outcome: Outcome = serde_json::from_str(&body)
                    .map_err(|e| ApiError::Internal(format!("stored answer: {e}")))?;
                outcome.status = status;
                outcome.replayed = true;
                return Ok(outcome);
            }
            Claim::InProgress { request_hash } => {
                return Err(if request_hash != request.0 {
                    reused()
                } else {
                    ApiError::Conflict {
                        kind: "idempotency-key-in-progress",
                        detail: "a request with this Idempotency-Key is still running".into(),
                    }
                });
            }
        }
    }
    let outcome = work(&txn).await?;
    if let Some(key) = &key.0 {
        let stored =
            serde_json::to_string(&outcome).map_err(|e| ApiError::Internal(e.to_string()))?;
        idempotency::complete(&txn, scope.as_str(), key, outcome.status, &stored).await?;
    }
    txn.commit().await?;
    Ok(outcome)
}

fn reused() -> ApiError {
    ApiError::Conflict {
        kind: "idempotency-key-reused",
        detail: "this Idempotency-Key was used for a different request".into(),
    }
}

/// What makes two requests the same: method, path and body (a SHA-256 of the three).
pub struct RequestFingerprint(String);

impl RequestFingerprint {
    pub fn new(method: &str, path: &str, body: &BodyDigest) -> Self {
        let text = format!("{method} {path} {}", body.0);
        RequestFingerprint(BodyDigest::of(text.as_bytes()).0)
    }
}
