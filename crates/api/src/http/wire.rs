//! The API's own request and response types: the wire format, with their OpenAPI schemas.
//! Domain and ORM types never appear on the wire.
//!
//! Each `pattern` below is written twice: as a literal in the `#[schema]` attribute (utoipa takes
//! only literals) and as the constant the validator uses. `tests::schema_patterns_match_validation`
//! reads every pattern back out of the generated document and compares.

use std::borrow::Cow;
use std::sync::LazyLock;

use billing_domain::money::Currency;
use regex::Regex;
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{IntoParams, PartialSchema, ToSchema};

/// A display name: 1 to 200 characters, no control characters, not only spaces.
pub const NAME_PATTERN: &str =
    r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x20\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$";
/// A billing UTC offset: `Z`, or `+HH:MM` / `-HH:MM` up to 14:00.
pub const OFFSET_PATTERN: &str = r"^(Z|[+-](0[0-9]|1[0-3]):[0-5][0-9]|[+-]14:00)$";
/// A tax rate: a decimal fraction from 0 to 1 with at most 6 decimal places.
pub const TAX_RATE_PATTERN: &str = r"^(0(\.[0-9]{1,6})?|1(\.0{1,6})?)$";
/// A user id (the `sub` of its token): a letter or a digit, then up to 254 letters, digits and
/// `. _ ~ @ + : | = -` (`UserId::parse`).
pub const USER_ID_PATTERN: &str = r"^[A-Za-z0-9][A-Za-z0-9._~@+:|=-]{0,254}$";
pub const ACCOUNT_ID_PATTERN: &str = r"^acct_[0-9a-f]{32}$";
pub const PROJECT_ID_PATTERN: &str = r"^proj_[0-9a-f]{32}$";
/// A payment gateway's card token.
pub const CARD_TOKEN_PATTERN: &str = r"^tok_[A-Za-z0-9_]{1,60}$";

pub(crate) static NAME_RE: LazyLock<Regex> = LazyLock::new(|| compile(NAME_PATTERN));

/// The one check of a display name (an account's, a project's, a product's, a plan's, a
/// credit code's, a promotion's): 1 to 200 characters, none a control character, not only
/// spaces. Its schema says the same with `min_length`, `max_length` and [`NAME_PATTERN`].
pub fn display_name(text: &str) -> Result<(), validator::ValidationError> {
    text_field(text, 200)
}

/// The one check of a description (a balance entry's): as [`display_name`], up to 400
/// characters.
pub fn description(text: &str) -> Result<(), validator::ValidationError> {
    text_field(text, 400)
}

fn text_field(text: &str, max: usize) -> Result<(), validator::ValidationError> {
    let refused = |code: &'static str, message: String| {
        Err(validator::ValidationError::new(code).with_message(message.into()))
    };
    if !(1..=max).contains(&text.chars().count()) {
        return refused("length", format!("must be 1 to {max} characters"));
    }
    if !NAME_RE.is_match(text) {
        return refused(
            "regex",
            "must not be only spaces or contain control characters".to_owned(),
        );
    }
    Ok(())
}
pub(crate) static OFFSET_RE: LazyLock<Regex> = LazyLock::new(|| compile(OFFSET_PATTERN));
pub(crate) static TAX_RATE_RE: LazyLock<Regex> = LazyLock::new(|| compile(TAX_RATE_PATTERN));
pub(crate) static CARD_TOKEN_RE: LazyLock<Regex> = LazyLock::new(|| compile(CARD_TOKEN_PATTERN));

/// The patterns are constants that every test run compiles.
#[allow(clippy::expect_used)]
fn compile(pattern: &str) -> Regex {
    Regex::new(pattern).expect("a constant pattern compiles")
}

/// An ISO 4217 code of a currency the product bills in.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct CurrencyCode(pub String);

impl PartialSchema for CurrencyCode {
    fn schema() -> RefOr<Schema> {
        let codes: Vec<&'static str> = Currency::all().iter().map(|c| c.code()).collect();
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "ISO 4217 currency code. Amounts in it carry its minor units: KRW and JPY 0 \
                 decimals, USD and EUR 2.",
            ))
            .enum_values(Some(codes))
            .examples(["KRW"])
            .into()
    }
}

impl ToSchema for CurrencyCode {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("CurrencyCode")
    }
}

// --- Paths -----------------------------------------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct AccountPath {
    /// Account id.
    #[param(pattern = r"^acct_[0-9a-f]{32}$")]
    pub account_id: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ProjectPath {
    /// Project id.
    #[param(pattern = r"^proj_[0-9a-f]{32}$")]
    pub project_id: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct AccountProjectPath {
    /// Account id.
    #[param(pattern = r"^acct_[0-9a-f]{32}$")]
    pub account_id: String,
    /// Project id.
    #[param(pattern = r"^proj_[0-9a-f]{32}$")]
    pub project_id: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct AccountUserPath {
    /// Account id.
    #[param(pattern = r"^acct_[0-9a-f]{32}$")]
    pub account_id: String,
    /// User id: the `sub` of the user's tokens (docs/access.md: a letter or a digit, then
    /// letters, digits and `. _ ~ @ + : | = -`; percent-encode `|` and `+`).
    #[param(pattern = r"^[A-Za-z0-9][A-Za-z0-9._~@+:|=-]{0,254}$")]
    pub user_id: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ProjectUserPath {
    /// Project id.
    #[param(pattern = r"^proj_[0-9a-f]{32}$")]
    pub project_id: String,
    /// User id: the `sub` of the user's tokens (docs/access.md: a letter or a digit, then
    /// letters, digits and `. _ ~ @ + : | = -`; percent-encode `|` and `+`).
    #[param(pattern = r"^[A-Za-z0-9][A-Za-z0-9._~@+:|=-]{0,254}$")]
    pub user_id: String,
}

// --- Lists -----------------------------------------------------------------------------------

macro_rules! list_type {
    ($(#[$doc:meta])* $name:ident, $item:ty) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
        pub struct $name {
            pub data: Vec<$item>,
            /// Whether another page follows.
            pub has_more: bool,
            /// Pass as `starting_after` to read the next page (opaque); absent on the last page.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub next_cursor: Option<String>,
        }

        impl $name {
            /// The page; `key` says what the list is ordered by and `cursor` gives that key of
            /// an item.
            pub fn new(
                data: Vec<$item>,
                has_more: bool,
                key: $crate::http::extract::CursorKey,
                cursor: impl Fn(&$item) -> String,
            ) -> Self {
                let next_cursor = key.after(has_more, data.last().map(&cursor).as_deref());
                Self { data, has_more, next_cursor }
            }
        }
    };
}
pub(crate) use list_type;

#[cfg(test)]
mod tests {
    use super::*;
    use billing_domain::money::TaxRate;
    use billing_domain::names::{AccountName, UserId};
    use billing_domain::period::BillingOffset;
    use proptest::prelude::*;

    /// The pattern of a property of a component schema in the generated document.
    fn pattern(schema: &str, property: &str) -> String {
        let doc = serde_json::to_value(crate::http::openapi::document()).unwrap();
        doc["components"]["schemas"][schema]["properties"][property]["pattern"]
            .as_str()
            .unwrap_or_else(|| panic!("{schema}.{property} has no pattern"))
            .to_owned()
    }

    #[test]
    fn schema_patterns_match_validation() {
        for (schema, property, constant) in [
            ("CreateAccountRequest", "name", NAME_PATTERN),
            ("UpdateAccountRequest", "name", NAME_PATTERN),
            ("CreateProjectRequest", "name", NAME_PATTERN),
            ("UpdateProjectRequest", "name", NAME_PATTERN),
            ("CreateAccountRequest", "billing_utc_offset", OFFSET_PATTERN),
            ("UpdateAccountRequest", "billing_utc_offset", OFFSET_PATTERN),
            ("AccountResponse", "billing_utc_offset", OFFSET_PATTERN),
            ("CreateAccountRequest", "tax_rate", TAX_RATE_PATTERN),
            ("UpdateAccountRequest", "tax_rate", TAX_RATE_PATTERN),
            ("AccountResponse", "tax_rate", TAX_RATE_PATTERN),
            ("AccountResponse", "id", ACCOUNT_ID_PATTERN),
            ("ProjectResponse", "id", PROJECT_ID_PATTERN),
            ("MemberResponse", "user_id", USER_ID_PATTERN),
        ] {
            assert_eq!(pattern(schema, property), constant, "{schema}.{property}");
        }
    }

    proptest! {
        /// Whatever the schema's pattern admits, the domain accepts, and prints back in a form
        /// the pattern admits too (responses conform to the schema).
        #[test]
        fn offsets_admitted_by_the_pattern_parse(text in "(Z|[+-](0[0-9]|1[0-3]):[0-5][0-9]|[+-]14:00)") {
            prop_assert!(OFFSET_RE.is_match(&text));
            let offset = BillingOffset::parse(&text).unwrap();
            prop_assert!(OFFSET_RE.is_match(&offset.to_string()));
        }

        #[test]
        fn tax_rates_admitted_by_the_pattern_parse(text in "(0(\\.[0-9]{1,6})?|1(\\.0{1,6})?)") {
            let rate = TaxRate::parse(&text).unwrap();
            prop_assert!(TAX_RATE_RE.is_match(&rate.to_string()), "{} printed as {}", text, rate);
        }

        #[test]
        fn names_admitted_by_the_pattern_parse(text in "\\PC{1,200}") {
            if NAME_RE.is_match(&text) {
                prop_assert!(AccountName::parse(&text).is_ok(), "{:?}", text);
            }
        }

        #[test]
        fn user_ids_match_their_pattern_exactly(text in "[ -~]{0,300}") {
            let re = Regex::new(USER_ID_PATTERN).unwrap();
            prop_assert_eq!(re.is_match(&text), UserId::parse(&text).is_ok(), "{:?}", text);
        }
    }
}

/// Where an invoice stands (the invoices' and payments' answers both say it).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatusDto {
    /// Finalized, not paid yet: what it still owes counts in the unpaid amount.
    Finalized,
    Paid,
    /// The charge failed; it stays unpaid and is retried.
    PaymentFailed,
    Void,
}

impl From<billing_domain::invoices::status::InvoiceStatus> for InvoiceStatusDto {
    fn from(status: billing_domain::invoices::status::InvoiceStatus) -> Self {
        use billing_domain::invoices::status::InvoiceStatus;
        match status {
            InvoiceStatus::Finalized => InvoiceStatusDto::Finalized,
            InvoiceStatus::Paid => InvoiceStatusDto::Paid,
            InvoiceStatus::PaymentFailed => InvoiceStatusDto::PaymentFailed,
            InvoiceStatus::Void => InvoiceStatusDto::Void,
        }
    }
}

/// A calendar date of a request (`2027-03-31`), refused as `field` when it is not one.
pub fn date_field(field: &str, text: &str) -> Result<time::Date, crate::http::problem::ApiError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(text, &format).map_err(|_| {
        crate::http::problem::ApiError::Validation(vec![billing_application::FieldError::new(
            field,
            "invalid",
            "must be a date such as 2027-03-31",
        )])
    })
}
