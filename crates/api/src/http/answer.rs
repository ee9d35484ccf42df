//! Answers a use case gave as data, made into responses.

use actix_web::http::{header, StatusCode};
use actix_web::HttpResponse;

use billing_application::idempotency::Answer;

/// The response of an answer a use case gave as data (see [`billing_application::idempotency`]).
pub fn respond(answer: Answer) -> HttpResponse {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    let mut response = HttpResponse::build(status);
    if let Some(location) = &answer.location {
        response.insert_header((header::LOCATION, location.as_str()));
    }
    if answer.replayed {
        response.insert_header(("idempotent-replayed", "true"));
    }
    response.json(answer.body)
}

/// A PDF document to download as `name`.
pub fn pdf(name: &str, bytes: Vec<u8>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/pdf")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        ))
        .body(bytes)
}
