//! The request context: a request id on every request (taken from a well-formed incoming
//! `x-request-id` or made anew), the card-number guard before anything else sees the request, a
//! tracing span, an access log line, and a last guard that turns any error response that is not
//! yet problem+json into one.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, ResponseError};
use billing_domain::card::contains_card_number;
use tracing::Instrument;

use crate::http::card_guard;
use crate::http::problem::{
    problem_for_status, problem_response, ApiError, PROBLEM_CONTENT_TYPE, REQUEST_ID,
};

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

fn incoming_request_id(req: &ServiceRequest) -> Option<String> {
    let value = req.headers().get(REQUEST_ID_HEADER)?.to_str().ok()?;
    let ok = !value.is_empty()
        && value.len() <= 128
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
        && !contains_card_number(value);
    ok.then(|| value.to_owned())
}

pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let request_id = incoming_request_id(&req).unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let method = req.method().to_string();
    let card_in_target = card_guard::in_target(&req);
    let path = if card_in_target {
        card_guard::REDACTED_PATH
    } else {
        req.path()
    }
    .to_owned();
    let span =
        tracing::info_span!("request", request_id = %request_id, method = %method, path = %path);
    let started = Instant::now();

    let guarded = async move {
        let mut req = req;
        let refusal = if card_in_target {
            Some(ApiError::CardNumber)
        } else {
            match card_guard::in_body(&mut req).await {
                Ok(false) => None,
                Ok(true) => Some(ApiError::CardNumber),
                Err(error) => Some(error),
            }
        };
        match refusal {
            None => next
                .call(req)
                .await
                .map(ServiceResponse::map_into_boxed_body),
            Some(error) => Ok(req.into_response(error.error_response())),
        }
    };
    let result = REQUEST_ID
        .scope(request_id.clone(), guarded)
        .instrument(span.clone())
        .await;
    let response = match result {
        Ok(response) => response,
        Err(error) => {
            // Errors reaching this point are turned into responses by actix; log and re-raise.
            span.in_scope(|| tracing::warn!(error = %error, "request failed before a response"));
            return Err(error);
        }
    };

    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(PROBLEM_CONTENT_TYPE));
    let mut response = if (status.is_client_error() || status.is_server_error()) && !is_problem {
        let problem = REQUEST_ID.sync_scope(request_id.clone(), || problem_for_status(status));
        let allow = response.headers().get(header::ALLOW).cloned();
        let mut replaced = problem_response(status, &problem);
        if let Some(allow) = allow {
            replaced.headers_mut().insert(header::ALLOW, allow);
        }
        response.into_response(replaced.map_into_boxed_body())
    } else {
        response
    };
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    span.in_scope(|| {
        tracing::info!(
            status = status.as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "request served"
        )
    });
    Ok(response)
}
