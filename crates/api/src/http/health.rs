//! Liveness and readiness.

use actix_web::{get, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::http::problem::ApiError;
use billing_application::state::AppState;

/// Liveness
///
/// Answers 200 while the process runs.
#[utoipa::path(
    tag = "health",
    operation_id = "healthz",
    responses((status = 200, description = "The process is up", body = HealthResponse,
               example = json!({"status": "ok"}))),
    security(())
)]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(HealthResponse {
        status: "ok".into(),
        database: None,
    })
}

/// Readiness
///
/// Answers 200 when the database takes queries, 503 otherwise.
#[utoipa::path(
    tag = "health",
    operation_id = "readyz",
    responses(
        (status = 200, description = "Ready to serve", body = HealthResponse,
         example = json!({"status": "ready", "database": "sqlite"})),
        (status = 503, description = "The database does not answer", body = crate::http::problem::Problem,
         content_type = "application/problem+json")
    ),
    security(())
)]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let backend = billing_application::health::ready(&state)
        .await
        .map_err(ApiError::NotReady)?;
    Ok(HttpResponse::Ok().json(HealthResponse {
        status: "ready".into(),
        database: Some(backend.into()),
    }))
}

/// Liveness and readiness.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct HealthResponse {
    #[schema(example = "ok")]
    pub status: String,
    /// The database engine, on readiness.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "sqlite")]
    pub database: Option<String>,
}
