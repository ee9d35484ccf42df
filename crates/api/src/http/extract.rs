//! Request extractors that turn every kind of bad input into a problem with field errors.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use utoipa::IntoParams;
use validator::Validate;

use crate::http::problem::{parser_message, validation_errors, ApiError, FieldError};
use billing_application::idempotency::{Idempotent, KeyScope};

/// The largest JSON body, set from configuration as app data.
#[derive(Clone, Copy, Debug)]
pub struct JsonLimit(pub usize);

/// A JSON body: `application/json` only, within the size limit, deserialized with the path of
/// any offending field, then checked with its `validator` rules. The second field is the SHA-256
/// of the raw body, which idempotency keys compare.
pub struct ValidJson<T>(pub T, pub BodyDigest);

/// Hex SHA-256 of a request body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BodyDigest(pub String);

impl BodyDigest {
    pub fn of(bytes: &[u8]) -> Self {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(bytes);
        BodyDigest(digest.iter().map(|b| format!("{b:02x}")).collect())
    }
}

impl<T> FromRequest for ValidJson<T>
where
    T: DeserializeOwned + Validate + 'static,
{
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req
            .app_data::<JsonLimit>()
            .map(|l| l.0)
            .unwrap_or(1024 * 1024);
        let content_type_ok = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|mime| {
                let mime = mime.trim().to_ascii_lowercase();
                mime == "application/json"
                    || (mime.starts_with("application/") && mime.ends_with("+json"))
            })
            .unwrap_or(false);
        let declared_length = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let mut payload = payload.take();
        Box::pin(async move {
            if !content_type_ok {
                return Err(ApiError::UnsupportedMediaType);
            }
            if declared_length.is_some_and(|len| len > limit) {
                return Err(ApiError::PayloadTooLarge { limit });
            }
            let mut body = web::BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|_| {
                    ApiError::MalformedBody("the body could not be read".to_owned())
                })?;
                if body.len() + chunk.len() > limit {
                    return Err(ApiError::PayloadTooLarge { limit });
                }
                body.extend_from_slice(&chunk);
            }
            // Every request body of this API is a JSON object; serde would also read a struct
            // from an array, which no client means.
            let first = body.iter().find(|b| !b.is_ascii_whitespace());
            if first.is_some_and(|b| *b == b'[') {
                return Err(ApiError::MalformedBody(
                    "the body must be a JSON object".into(),
                ));
            }
            // The plain parser first (it is much faster on a 1,000-event batch); only a body it
            // refuses is parsed again to name the offending field.
            let value: T = match serde_json::from_slice(&body) {
                Ok(value) => value,
                Err(plain) => return Err(json_error::<T>(&body, plain)),
            };
            value
                .validate()
                .map_err(|e| ApiError::Validation(validation_errors(&e)))?;
            Ok(ValidJson(value, BodyDigest::of(&body)))
        })
    }
}

/// The problem for a body the JSON parser refused: a field error with the field's path when
/// the body is JSON of the wrong shape, else a malformed body.
fn json_error<T: DeserializeOwned>(body: &[u8], plain: serde_json::Error) -> ApiError {
    let deserializer = &mut serde_json::Deserializer::from_slice(body);
    match serde_path_to_error::deserialize::<_, T>(deserializer) {
        // Only the plain parser's checks failed (trailing characters after the object).
        Ok(_) => ApiError::MalformedBody(parser_message(&plain.to_string())),
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let is_data_error = matches!(inner.classify(), serde_json::error::Category::Data);
            if !is_data_error || path.is_empty() || path == "." {
                // Not JSON at all, truncated, or the wrong top-level shape.
                ApiError::MalformedBody(parser_message(&inner.to_string()))
            } else {
                let message = parser_message(&inner.to_string());
                ApiError::Validation(vec![FieldError::new(path, "type", message)])
            }
        }
    }
}

/// The optional `Idempotency-Key` header: 1 to 255 visible ASCII characters.
pub struct IdempotencyKey(pub Option<String>);

pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";

impl FromRequest for IdempotencyKey {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let invalid = || {
            ApiError::InvalidParameters(vec![FieldError::new(
                "Idempotency-Key",
                "invalid",
                "an idempotency key is 1 to 255 visible ASCII characters",
            )])
        };
        let result = match req.headers().get(IDEMPOTENCY_HEADER) {
            None => Ok(IdempotencyKey(None)),
            Some(value) => value
                .to_str()
                .ok()
                .filter(|v| {
                    !v.is_empty() && v.len() <= 255 && v.bytes().all(|b| b.is_ascii_graphic())
                })
                .map(|v| IdempotencyKey(Some(v.to_owned())))
                .ok_or_else(invalid),
        };
        std::future::ready(result)
    }
}

/// The documentation of the `Idempotency-Key` header.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IdempotencyKeyHeader {
    /// Makes a retry safe: the same key with the same request answers the first result and
    /// changes nothing twice, for 24 hours; with a different request it answers 422, and while
    /// the first request with it is still running, 409. 1 to 255 visible ASCII characters, such
    /// as a UUID.
    #[param(
        rename = "Idempotency-Key",
        pattern = r"^[!-~]{1,255}$",
        example = "0193a4f0-6c1e-7c52-9a43-3f6a3a1b2c4d"
    )]
    pub idempotency_key: Option<String>,
}

/// A search of projects by name.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Only projects whose name contains this text, ignoring case (any script: `prod` finds
    /// "Production", `운영` finds "운영 서버"). 1 to 200 characters, without control characters.
    #[param(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]+$",
        example = "prod"
    )]
    pub q: Option<String>,
}

impl SearchQuery {
    pub fn text(&self) -> Result<Option<&str>, ApiError> {
        match self.q.as_deref() {
            None => Ok(None),
            // Names hold no control characters, so a search with one could match nothing (and
            // PostgreSQL text cannot even hold a NUL byte).
            Some(text)
                if (1..=200).contains(&text.chars().count())
                    && !text.chars().any(char::is_control) =>
            {
                Ok(Some(text))
            }
            Some(_) => Err(ApiError::InvalidParameters(vec![FieldError::new(
                "q",
                "invalid",
                "a search is 1 to 200 characters, without control characters",
            )])),
        }
    }
}

/// Keyset pagination parameters shared by every list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// How many items to return, 1 to 100 (default 20).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100, example = 20)]
    pub limit: Option<String>,
    /// Return the items after this cursor: the `next_cursor` of the previous page of the same
    /// list, unchanged. Cursors are opaque; anything else is a 400 problem.
    #[param(max_length = 255, pattern = r"^[A-Za-z0-9_-]{1,255}$")]
    pub starting_after: Option<String>,
}

pub const DEFAULT_PAGE_SIZE: u64 = 20;

/// What a list is ordered by. A cursor is this key of the page's last item, tagged with its
/// kind and encoded (base64url): opaque to clients, and checked on the way back, so a cursor
/// that no page of this list could have answered is a 400 problem instead of a query (where
/// PostgreSQL text cannot even hold a NUL byte).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CursorKey {
    Account,
    Project,
    User,
    /// A product's code.
    Product,
    /// A plan's code.
    Plan,
    /// The RFC 3339 instant of a plan change.
    Instant,
    Invoice,
    Payment,
    BalanceEntry,
    CreditCode,
    Credit,
    Promotion,
    AppliedPromotion,
    /// An event's place in the order events were recorded.
    Event,
    WebhookEndpoint,
    /// A webhook delivery's place in the order deliveries were written.
    WebhookDelivery,
}

impl CursorKey {
    fn tag(self) -> &'static str {
        match self {
            CursorKey::Account => "account",
            CursorKey::Project => "project",
            CursorKey::User => "user",
            CursorKey::Product => "product",
            CursorKey::Plan => "plan",
            CursorKey::Instant => "instant",
            CursorKey::Invoice => "invoice",
            CursorKey::Payment => "payment",
            CursorKey::BalanceEntry => "balance_entry",
            CursorKey::CreditCode => "credit_code",
            CursorKey::Credit => "credit",
            CursorKey::Promotion => "promotion",
            CursorKey::AppliedPromotion => "applied_promotion",
            CursorKey::Event => "event",
            CursorKey::WebhookEndpoint => "webhook_endpoint",
            CursorKey::WebhookDelivery => "webhook_delivery",
        }
    }

    fn accepts(self, key: &str) -> bool {
        use billing_domain::names::{AccountId, ProjectId, UserId};
        use time::format_description::well_known::Rfc3339;
        match self {
            CursorKey::Account => AccountId::parse(key).is_ok(),
            CursorKey::Project => ProjectId::parse(key).is_ok(),
            CursorKey::User => UserId::parse(key).is_ok(),
            CursorKey::Product | CursorKey::Plan => {
                billing_domain::catalog::Code::parse(key).is_ok()
            }
            CursorKey::Instant => time::OffsetDateTime::parse(key, &Rfc3339).is_ok(),
            CursorKey::Invoice => billing_domain::names::InvoiceId::parse(key).is_ok(),
            CursorKey::Payment => billing_domain::names::PaymentId::parse(key).is_ok(),
            CursorKey::BalanceEntry => billing_domain::names::BalanceEntryId::parse(key).is_ok(),
            CursorKey::CreditCode => billing_domain::names::CreditCodeId::parse(key).is_ok(),
            CursorKey::Credit => billing_domain::names::CreditId::parse(key).is_ok(),
            CursorKey::Promotion => billing_domain::names::PromotionId::parse(key).is_ok(),
            CursorKey::AppliedPromotion => {
                billing_domain::names::AppliedPromotionId::parse(key).is_ok()
            }
            CursorKey::Event | CursorKey::WebhookDelivery => {
                key.len() <= 19 && key.parse::<i64>().is_ok_and(|n| n > 0)
            }
            CursorKey::WebhookEndpoint => {
                billing_domain::names::WebhookEndpointId::parse(key).is_ok()
            }
        }
    }

    /// The `next_cursor` of a page: after its `last` item's key when another page follows,
    /// else none. Every list answers it this way.
    pub fn after(self, has_more: bool, last: Option<&str>) -> Option<String> {
        last.filter(|_| has_more).map(|key| self.encode(key))
    }

    /// The cursor that points after the item whose key is `key`.
    pub fn encode(self, key: &str) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{}:{key}", self.tag()))
    }

    /// The key a cursor of this list points after; `None` for anything no page answered.
    pub fn decode(self, cursor: &str) -> Option<String> {
        use base64::Engine;
        if cursor.len() > 255 {
            return None;
        }
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(cursor)
            .ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let key = text.strip_prefix(self.tag())?.strip_prefix(':')?;
        self.accepts(key).then(|| key.to_owned())
    }
}

impl PageQuery {
    /// The page asked for, its cursor decoded for the list ordered by `key`.
    pub fn to_request(
        &self,
        key: CursorKey,
    ) -> Result<billing_domain::page::PageRequest, ApiError> {
        let limit = page_limit(self.limit.as_deref())?;
        let after = match &self.starting_after {
            None => None,
            Some(cursor) => Some(key.decode(cursor).ok_or_else(|| {
                ApiError::InvalidParameters(vec![FieldError::new(
                    "starting_after",
                    "invalid",
                    "not a cursor of this list: pass the next_cursor of the previous page unchanged",
                )])
            })?),
        };
        Ok(billing_domain::page::PageRequest { limit, after })
    }
}

fn page_limit(limit: Option<&str>) -> Result<u64, ApiError> {
    let max = billing_domain::page::MAX_PAGE_SIZE;
    match limit.map(str::parse::<u64>) {
        None => Ok(DEFAULT_PAGE_SIZE),
        Some(Ok(n)) if (1..=max).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::InvalidParameters(vec![FieldError::new(
            "limit",
            "range",
            "limit must be a whole number from 1 to 100",
        )])),
    }
}

/// Error handler for actix's `Path` extractor.
pub fn path_error(err: actix_web::error::PathError, _: &HttpRequest) -> actix_web::Error {
    let message = parser_message(&err.to_string());
    ApiError::InvalidParameters(vec![FieldError::new("path", "invalid", message)]).into()
}

/// Error handler for actix's `Query` extractor.
pub fn query_error(err: actix_web::error::QueryPayloadError, _: &HttpRequest) -> actix_web::Error {
    let message = match &err {
        actix_web::error::QueryPayloadError::Deserialize(e) => parser_message(&e.to_string()),
        _ => "the query string is malformed".to_owned(),
    };
    let field = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.strip_suffix('`'))
        .unwrap_or("query")
        .to_owned();
    ApiError::InvalidParameters(vec![FieldError::new(field, "invalid", message)]).into()
}

/// Typed ids from the path. A malformed id names nothing that exists: 404, like an unknown one.
macro_rules! path_id {
    ($(#[$doc:meta])* $name:ident, $id:ty, $segment:literal) => {
        $(#[$doc])*
        pub struct $name(pub $id);

        impl FromRequest for $name {
            type Error = ApiError;
            type Future = std::future::Ready<Result<Self, ApiError>>;

            fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
                std::future::ready(
                    req.match_info()
                        .get($segment)
                        .and_then(|text| <$id>::parse(text).ok())
                        .map($name)
                        .ok_or(ApiError::NotFound),
                )
            }
        }
    };
}

path_id!(
    /// The `{account_id}` of the path.
    AccountParam,
    billing_domain::names::AccountId,
    "account_id"
);
path_id!(
    /// The `{project_id}` of the path.
    ProjectParam,
    billing_domain::names::ProjectId,
    "project_id"
);
path_id!(
    /// The `{invoice_id}` of the path.
    InvoiceParam,
    billing_domain::names::InvoiceId,
    "invoice_id"
);
path_id!(
    /// The `{payment_id}` of the path.
    PaymentParam,
    billing_domain::names::PaymentId,
    "payment_id"
);
path_id!(
    /// The `{user_id}` of the path.
    UserParam,
    billing_domain::names::UserId,
    "user_id"
);

/// What an idempotent request needs from HTTP: its `Idempotency-Key` and what makes two
/// requests the same (method, path and body).
pub struct Idempotency {
    key: Option<String>,
    method: String,
    path: String,
}

impl Idempotency {
    /// The request, for the use case, with the digest of its body.
    pub fn request(self, scope: KeyScope<'_>, body: &BodyDigest) -> Idempotent {
        let text = format!("{} {} {}", self.method, self.path, body.0);
        Idempotent::new(scope, self.key, BodyDigest::of(text.as_bytes()).0)
    }
}

impl FromRequest for Idempotency {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let key = match IdempotencyKey::from_request(req, payload).into_inner() {
            Ok(key) => key.0,
            Err(e) => return std::future::ready(Err(e)),
        };
        std::future::ready(Ok(Idempotency {
            key,
            method: req.method().as_str().to_owned(),
            path: req.path().to_owned(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::CursorKey;

    #[test]
    fn cursors_come_back_only_to_their_own_list() {
        let cursor = CursorKey::Product.encode("api_calls");
        assert_eq!(
            CursorKey::Product.decode(&cursor).as_deref(),
            Some("api_calls")
        );
        assert_eq!(CursorKey::Plan.decode(&cursor), None);
        assert_eq!(CursorKey::User.decode(&cursor), None);
        for garbage in ["garbage", "\0", "' OR 1=1 --", "", "YWNjb3VudDp4"] {
            assert_eq!(CursorKey::Account.decode(garbage), None, "{garbage:?}");
        }
        let instant = CursorKey::Instant.encode("2026-11-01T00:00:00.5Z");
        assert_eq!(
            CursorKey::Instant.decode(&instant).as_deref(),
            Some("2026-11-01T00:00:00.5Z")
        );
    }
}
