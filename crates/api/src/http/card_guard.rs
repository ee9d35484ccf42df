//! The card-number guard: one check in front of every route (SPEC: a request carrying a card
//! number is refused, and nothing of it is stored or logged).
//!
//! It looks at the path and the query, raw and percent-decoded, at the `Idempotency-Key` header
//! (stored with the answer) and at the body, whatever its declared type: the raw text, and for
//! JSON that spells characters as `\u0034` escapes, every decoded string, key and number. The
//! request-context middleware runs it before the request is logged or routed, logs a refused
//! path redacted, and answers the `card-number-refused` problem, which never repeats the value.

use actix_web::dev::ServiceRequest;
use actix_web::web::{Bytes, BytesMut};
use actix_web::HttpMessage;
use billing_domain::card::contains_card_number;
use futures_util::StreamExt;

use crate::http::extract::{JsonLimit, IDEMPOTENCY_HEADER};
use crate::http::problem::ApiError;

/// What the access log shows instead of a path that holds a card number.
pub const REDACTED_PATH: &str = "[path withheld: it holds a card number]";

/// Whether the path, the query or the `Idempotency-Key` header holds a card number.
pub fn in_target(req: &ServiceRequest) -> bool {
    let path = req.uri().path();
    let query = req.uri().query().unwrap_or_default();
    let decoded = |text: &str| {
        percent_encoding::percent_decode_str(text)
            .decode_utf8_lossy()
            .into_owned()
    };
    contains_card_number(path)
        || contains_card_number(&decoded(path))
        || contains_card_number(query)
        || form_urlencoded::parse(query.as_bytes())
            .any(|(name, value)| contains_card_number(&name) || contains_card_number(&value))
        || req
            .headers()
            .get(IDEMPOTENCY_HEADER)
            .is_some_and(|value| contains_card_number(&String::from_utf8_lossy(value.as_bytes())))
}

/// Reads the body (up to the JSON limit), checks it, and puts it back for the handler.
/// `Ok(true)`: it holds a card number. A body over the limit is refused here as it would be by
/// the handler, since it cannot be checked without being read.
pub async fn in_body(req: &mut ServiceRequest) -> Result<bool, ApiError> {
    let limit = req
        .app_data::<JsonLimit>()
        .map(|l| l.0)
        .unwrap_or(1024 * 1024);
    let mut payload = req.take_payload();
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|_| ApiError::MalformedBody("the body could not be read".to_owned()))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    let body: Bytes = body.freeze();
    let found = body_holds_card_number(&body);
    req.set_payload(body.into());
    Ok(found)
}

fn body_holds_card_number(body: &[u8]) -> bool {
    if body.is_empty() {
        return false;
    }
    if contains_card_number(&String::from_utf8_lossy(body)) {
        return true;
    }
    // Escapes can spell digits; only then is the JSON decoded to look at its text.
    if body.windows(2).any(|w| w == b"\\u") {
        if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) {
            return value_holds_card_number(&value);
        }
    }
    false
}

fn value_holds_card_number(value: &serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::String(text) => contains_card_number(text),
        Value::Number(number) => contains_card_number(&number.to_string()),
        Value::Array(items) => items.iter().any(value_holds_card_number),
        Value::Object(map) => map
            .iter()
            .any(|(key, value)| contains_card_number(key) || value_holds_card_number(value)),
        Value::Bool(_) | Value::Null => false,
    }
}

#[cfg(test)]
mod tests {
    use super::body_holds_card_number;

    #[test]
    fn bodies_are_checked_raw_and_decoded() {
        assert!(body_holds_card_number(
            br#"{"name": "4242 4242 4242 4242"}"#
        ));
        assert!(body_holds_card_number(
            br#"{"a": {"b": [1, 4242424242424242]}}"#
        ));
        // `\u0034` is "4": the raw text shows no digits, the decoded string does.
        assert!(body_holds_card_number(
            br#"{"name": "\u0034242424242424242"}"#
        ));
        assert!(body_holds_card_number(br#"{"4242-4242-4242-4242": 1}"#));
        assert!(!body_holds_card_number(br#"{"name": "Acme \u00e9 4242"}"#));
        assert!(!body_holds_card_number(b""));
    }
}
