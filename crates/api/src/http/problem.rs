//! The API's one error type. Every error response, including actix's own (bad JSON, bad path or
//! query, unknown route, wrong method, body too large), is an RFC 9457
//! `application/problem+json` body with a stable `type` per kind, the request id and, for bad
//! input, one entry per offending field.

use std::fmt;

use actix_web::http::{header, Method, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use billing_application::error::FieldError;
use billing_application::error::{AppError, ConflictKind};

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

tokio::task_local! {
    /// The id of the request being served, set by the request-context middleware.
    pub static REQUEST_ID: String;
}

/// The current request's id, or `unknown` outside a request.
pub fn current_request_id() -> String {
    REQUEST_ID
        .try_with(Clone::clone)
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// One offending input field (the schema of [`FieldError`]).
#[derive(ToSchema)]
#[schema(as = FieldError)]
#[allow(dead_code)]
pub struct FieldErrorSchema {
    /// Path of the field (`name`, `tax_rate`, `events[3].quantity`, `limit`).
    #[schema(example = "tax_rate")]
    field: String,
    /// Stable machine-readable reason (`length`, `pattern`, `invalid`, `required`, ...).
    #[schema(example = "invalid")]
    code: String,
    #[schema(example = "a tax rate is a fraction between 0 and 1 with at most 6 decimal places")]
    message: String,
}

/// An RFC 9457 problem details body.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "type": "/problems/validation-error",
    "title": "The request has invalid fields",
    "status": 422,
    "detail": "1 field is invalid",
    "request_id": "0193a4f0-6c1e-7c52-9a43-3f6a3a1b2c4d",
    "errors": [{"field": "currency", "code": "invalid", "message": "must be an ISO 4217 currency code with minor units"}]
}))]
pub struct Problem {
    /// Stable identifier of the error kind; branch on this.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The id of the request, also in the `x-request-id` response header.
    pub request_id: String,
    /// Per-field errors for invalid input.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<FieldErrorSchema>)]
    pub errors: Vec<FieldError>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("authentication required: {0}")]
    Unauthenticated(&'static str),
    #[error("the token does not grant this operation")]
    Forbidden,
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed(Vec<Method>),
    #[error("invalid request body: {0}")]
    MalformedBody(String),
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("request body too large")]
    PayloadTooLarge { limit: usize },
    #[error("invalid parameters")]
    InvalidParameters(Vec<FieldError>),
    #[error("invalid fields")]
    Validation(Vec<FieldError>),
    #[error("conflict: {detail}")]
    Conflict { kind: ConflictKind, detail: String },
    #[error("the request carries a card number")]
    CardNumber,
    #[error("not ready: {0}")]
    NotReady(String),
    #[error("too many attempts")]
    TooManyAttempts { retry_after_seconds: u64 },
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// The stable problem `type`, its title and status, for each kind.
    pub fn kind(&self) -> (&'static str, &'static str, StatusCode) {
        match self {
            ApiError::Unauthenticated(_) => (
                "unauthenticated",
                "A valid bearer token is required",
                StatusCode::UNAUTHORIZED,
            ),
            ApiError::Forbidden => (
                "forbidden",
                "The token does not grant this operation",
                StatusCode::FORBIDDEN,
            ),
            ApiError::NotFound => ("not-found", "No such resource", StatusCode::NOT_FOUND),
            ApiError::MethodNotAllowed(_) => (
                "method-not-allowed",
                "The resource does not support this method",
                StatusCode::METHOD_NOT_ALLOWED,
            ),
            ApiError::MalformedBody(_) => (
                "malformed-body",
                "The request body is not valid JSON of the expected shape",
                StatusCode::BAD_REQUEST,
            ),
            ApiError::UnsupportedMediaType => (
                "unsupported-media-type",
                "The request body must be application/json",
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ),
            ApiError::PayloadTooLarge { .. } => (
                "payload-too-large",
                "The request body is too large",
                StatusCode::PAYLOAD_TOO_LARGE,
            ),
            ApiError::InvalidParameters(_) => (
                "invalid-parameters",
                "The path or query has invalid parameters",
                StatusCode::BAD_REQUEST,
            ),
            ApiError::Validation(_) => (
                "validation-error",
                "The request has invalid fields",
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            ApiError::Conflict { kind, .. } if kind.is_unprocessable() => {
                (kind.slug(), kind.title(), StatusCode::UNPROCESSABLE_ENTITY)
            }
            ApiError::Conflict { kind, .. } => (kind.slug(), kind.title(), StatusCode::CONFLICT),
            ApiError::CardNumber => (
                "card-number-refused",
                "The request carries a card number",
                StatusCode::BAD_REQUEST,
            ),
            ApiError::TooManyAttempts { .. } => (
                "too-many-attempts",
                "Too many failed attempts",
                StatusCode::TOO_MANY_REQUESTS,
            ),
            ApiError::NotReady(_) => (
                "not-ready",
                "The service is not ready",
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            ApiError::Internal(_) => (
                "internal-error",
                "Internal server error",
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
        }
    }

    fn detail(&self) -> Option<String> {
        match self {
            ApiError::Unauthenticated(reason) => Some((*reason).to_owned()),
            ApiError::MalformedBody(detail) => Some(detail.clone()),
            ApiError::PayloadTooLarge { limit } => {
                Some(format!("the body exceeds the limit of {limit} bytes"))
            }
            ApiError::InvalidParameters(errors) | ApiError::Validation(errors) => Some(format!(
                "{} field{} invalid",
                errors.len(),
                if errors.len() == 1 { " is" } else { "s are" }
            )),
            ApiError::Conflict { detail, .. } => Some(detail.clone()),
            ApiError::CardNumber => Some(
                "card numbers are never accepted, in any field, path or parameter: register a \
                 card through the payment gateway and send its token. Nothing of this request \
                 was stored"
                    .to_owned(),
            ),
            ApiError::TooManyAttempts {
                retry_after_seconds,
            } => Some(format!(
                "too many failed attempts at registering a code: try again in \
                 {retry_after_seconds} s (Retry-After)"
            )),
            // Internal details go to the log, never to the client.
            ApiError::Internal(_) | ApiError::NotReady(_) => None,
            ApiError::Forbidden | ApiError::NotFound | ApiError::MethodNotAllowed(_) => None,
            ApiError::UnsupportedMediaType => None,
        }
    }

    pub fn to_problem(&self) -> Problem {
        let (kind, title, status) = self.kind();
        let errors = match self {
            ApiError::InvalidParameters(errors) | ApiError::Validation(errors) => errors.clone(),
            _ => Vec::new(),
        };
        Problem {
            kind: problem_type(kind),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: self.detail(),
            request_id: current_request_id(),
            errors,
        }
    }

    pub fn validation(field: &str, error: &billing_domain::DomainError) -> Self {
        ApiError::Validation(vec![FieldError::domain(field, error)])
    }
}

/// The `type` URI of a problem kind: a stable relative reference.
pub fn problem_type(kind: &str) -> String {
    format!("/problems/{kind}")
}

/// A problem body for a bare status code (used for responses that are not ours).
pub fn problem_for_status(status: StatusCode) -> Problem {
    let kind = match status {
        StatusCode::NOT_FOUND => "not-found",
        StatusCode::METHOD_NOT_ALLOWED => "method-not-allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload-too-large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported-media-type",
        StatusCode::UNAUTHORIZED => "unauthenticated",
        StatusCode::FORBIDDEN => "forbidden",
        s if s.is_server_error() => "internal-error",
        _ => "bad-request",
    };
    Problem {
        kind: problem_type(kind),
        title: status.canonical_reason().unwrap_or("Error").to_owned(),
        status: status.as_u16(),
        detail: None,
        request_id: current_request_id(),
        errors: Vec::new(),
    }
}

pub fn problem_response(status: StatusCode, problem: &Problem) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, PROBLEM_CONTENT_TYPE))
        .json(problem)
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.kind().2
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            tracing::error!(error = %self, request_id = %current_request_id(), "request failed");
        }
        let mut response = problem_response(status, &self.to_problem());
        let headers = response.headers_mut();
        match self {
            ApiError::Unauthenticated(_) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static(
                        "Bearer realm=\"billing\", error=\"invalid_token\"",
                    ),
                );
            }
            ApiError::TooManyAttempts {
                retry_after_seconds,
            } => {
                if let Ok(value) = header::HeaderValue::from_str(&retry_after_seconds.to_string()) {
                    headers.insert(header::RETRY_AFTER, value);
                }
            }
            ApiError::MethodNotAllowed(methods) => {
                let allow = methods
                    .iter()
                    .map(Method::as_str)
                    .collect::<Vec<_>>()
                    .join(", ");
                if let Ok(value) = header::HeaderValue::from_str(&allow) {
                    headers.insert(header::ALLOW, value);
                }
            }
            _ => {}
        }
        response
    }
}

/// The one place where the application layer's errors become HTTP problems.
impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        match error {
            AppError::NotFound => ApiError::NotFound,
            AppError::Forbidden => ApiError::Forbidden,
            AppError::InvalidParameters(errors) => ApiError::InvalidParameters(errors),
            AppError::Validation(errors) => ApiError::Validation(errors),
            AppError::Conflict { kind, detail } => ApiError::Conflict { kind, detail },
            AppError::TooManyAttempts {
                retry_after_seconds,
            } => ApiError::TooManyAttempts {
                retry_after_seconds,
            },
            AppError::Internal(detail) => ApiError::Internal(detail),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.kind, self.status)
    }
}

/// A parser's message (serde, serde_json, serde_urlencoded) without the rejected value.
///
/// serde words its errors with the value in them (`invalid type: string "abc", expected u64`,
/// `unknown variant `abc`, expected one of ...`); problems name the field and the rule, never
/// what was sent, so those parts are cut. Whatever a value holds, the genuine description of
/// what was expected comes last, after the last `, expected `.
pub fn parser_message(raw: &str) -> String {
    let message = strip_position(raw);
    let expected = |m: &str| {
        m.rsplit_once(", expected ")
            .map(|(_, expected)| expected.to_owned())
    };
    let rule = |what: &str, m: &str| match expected(m) {
        Some(expected) => format!("{what}, expected {expected}"),
        None => what.to_owned(),
    };
    if message.starts_with("invalid type: ") {
        rule("invalid type", message)
    } else if message.starts_with("invalid value: ") {
        rule("invalid value", message)
    } else if message.starts_with("unknown variant ") {
        rule("unknown value", message)
    } else if message.starts_with("unknown field ") {
        rule("unknown field", message)
    } else if (message.contains('"') || message.contains('`')) && !is_field_message(message) {
        // A custom message that quotes something: it may be the value.
        "invalid value".to_owned()
    } else {
        message.to_owned()
    }
}

/// `missing field `x`` and `duplicate field `x``: the quoted name is one of the schema's fields.
fn is_field_message(message: &str) -> bool {
    message.starts_with("missing field `") || message.starts_with("duplicate field `")
}

/// serde_json's ` at line 1 column 9` suffix.
fn strip_position(message: &str) -> &str {
    match message.rfind(" at line ") {
        Some(at)
            if message[at + " at line ".len()..]
                .split(" column ")
                .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())) =>
        {
            &message[..at]
        }
        _ => message,
    }
}

/// Turns validator's errors into field errors, with nested paths joined by `.`.
pub fn validation_errors(errors: &validator::ValidationErrors) -> Vec<FieldError> {
    fn walk(prefix: &str, errors: &validator::ValidationErrors, out: &mut Vec<FieldError>) {
        for (field, kind) in errors.errors() {
            let path = if prefix.is_empty() {
                field.to_string()
            } else {
                format!("{prefix}.{field}")
            };
            match kind {
                validator::ValidationErrorsKind::Field(list) => {
                    for e in list {
                        let message = e
                            .message
                            .as_ref()
                            .map(ToString::to_string)
                            .unwrap_or_else(|| format!("failed the `{}` rule", e.code));
                        out.push(FieldError::new(path.clone(), e.code.to_string(), message));
                    }
                }
                validator::ValidationErrorsKind::Struct(inner) => walk(&path, inner, out),
                validator::ValidationErrorsKind::List(items) => {
                    for (index, inner) in items {
                        walk(&format!("{path}[{index}]"), inner, out);
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    walk("", errors, &mut out);
    out.sort_by(|a, b| a.field.cmp(&b.field));
    out
}

#[cfg(test)]
mod tests {
    use super::parser_message;

    #[test]
    fn parser_messages_keep_the_rule_and_drop_the_value() {
        let cases = [
            (
                r#"invalid type: string "4242 4242", expected u64 at line 1 column 9"#,
                "invalid type, expected u64",
            ),
            (
                "unknown variant `s3cret, expected x`, expected one of `owner`, `member`",
                "unknown value, expected one of `owner`, `member`",
            ),
            (
                r#"invalid value: string "x", expected a date"#,
                "invalid value, expected a date",
            ),
            (
                "unknown variant `zz`, there are no variants",
                "unknown value",
            ),
            (
                "missing field `name` at line 1 column 2",
                "missing field `name`",
            ),
            ("expected value at line 1 column 1", "expected value"),
            ("the thing `abc` is wrong", "invalid value"),
            (
                "invalid digit found in string",
                "invalid digit found in string",
            ),
        ];
        for (raw, expected) in cases {
            assert_eq!(parser_message(raw), expected, "{raw}");
        }
    }
}
