//! The API's own request and response types: the wire format, with their OpenAPI schemas.
//! Domain and ORM types never appear on the wire.
//!
//! Each `pattern` below is written twice: as a literal in the `#[schema]` attribute (utoipa takes
//! only literals) and as the constant the validator uses. `tests::schema_patterns_match_validation`
//! reads every pattern back out of the generated document and compares.

use std::borrow::Cow;
use std::sync::LazyLock;

use billing_domain::access::{ProjectAccess, Role};
use billing_domain::account::{Account, Membership, Participant, Project};
use billing_domain::money::Currency;
use regex::Regex;
use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{IntoParams, PartialSchema, ToSchema};
use validator::Validate;

/// A display name: 1 to 200 characters, no control characters, not only spaces.
pub const NAME_PATTERN: &str =
    r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x20\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$";
/// A billing UTC offset: `Z`, or `+HH:MM` / `-HH:MM` up to 14:00.
pub const OFFSET_PATTERN: &str = r"^(Z|[+-](0[0-9]|1[0-3]):[0-5][0-9]|[+-]14:00)$";
/// A tax rate: a decimal fraction from 0 to 1 with at most 6 decimal places.
pub const TAX_RATE_PATTERN: &str = r"^(0(\.[0-9]{1,6})?|1(\.0{1,6})?)$";
/// A user id (the `sub` of its token): visible ASCII without `/`.
pub const USER_ID_PATTERN: &str = r"^[!-.0-~]{1,255}$";
pub const ACCOUNT_ID_PATTERN: &str = r"^acct_[0-9a-f]{32}$";
pub const PROJECT_ID_PATTERN: &str = r"^proj_[0-9a-f]{32}$";

pub(crate) static NAME_RE: LazyLock<Regex> = LazyLock::new(|| compile(NAME_PATTERN));
pub(crate) static OFFSET_RE: LazyLock<Regex> = LazyLock::new(|| compile(OFFSET_PATTERN));
pub(crate) static TAX_RATE_RE: LazyLock<Regex> = LazyLock::new(|| compile(TAX_RATE_PATTERN));

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

/// A user's role in an account.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoleDto {
    /// Everything, including members and billing.
    Owner,
    /// Billing: payment methods, codes, invoices, payments; sees every project's costs.
    BillingAdmin,
    /// Sees the projects it takes part in; their costs only with billing permission.
    Member,
}

impl From<Role> for RoleDto {
    fn from(role: Role) -> Self {
        match role {
            Role::Owner => RoleDto::Owner,
            Role::BillingAdmin => RoleDto::BillingAdmin,
            Role::Member => RoleDto::Member,
        }
    }
}

impl From<RoleDto> for Role {
    fn from(role: RoleDto) -> Self {
        match role {
            RoleDto::Owner => Role::Owner,
            RoleDto::BillingAdmin => Role::BillingAdmin,
            RoleDto::Member => Role::Member,
        }
    }
}

// --- Accounts --------------------------------------------------------------------------------

/// A customer account.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AccountResponse {
    #[schema(
        pattern = r"^acct_[0-9a-f]{32}$",
        example = "acct_0193a4f06c1e7c529a433f6a3a1b2c4d"
    )]
    pub id: String,
    #[schema(example = "Acme Korea")]
    pub name: String,
    pub currency: CurrencyCode,
    /// The UTC offset in which billing periods (calendar months) are cut.
    #[schema(
        pattern = r"^(Z|[+-](0[0-9]|1[0-3]):[0-5][0-9]|[+-]14:00)$",
        example = "+09:00"
    )]
    pub billing_utc_offset: String,
    /// Tax rate as a fraction: `0.1` is 10 %.
    #[schema(pattern = r"^(0(\.[0-9]{1,6})?|1(\.0{1,6})?)$", example = "0.1")]
    pub tax_rate: String,
    /// Where invoices and receipts are mailed.
    #[schema(format = Email, example = "billing@acme.example")]
    pub billing_email: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<&Account> for AccountResponse {
    fn from(a: &Account) -> Self {
        AccountResponse {
            id: a.id.to_string(),
            name: a.name.to_string(),
            currency: CurrencyCode(a.currency.code().to_owned()),
            billing_utc_offset: a.billing_offset.to_string(),
            tax_rate: a.tax_rate.to_string(),
            billing_email: a.billing_email.as_ref().map(|e| e.as_str().to_owned()),
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

/// Opens an account. The currency cannot change later.
#[derive(Clone, Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccountRequest {
    #[validate(
        length(min = 1, max = 200, message = "must be 1 to 200 characters"),
        regex(path = *NAME_RE, message = "must not be only spaces or contain control characters")
    )]
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x20\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$",
        example = "Acme Korea"
    )]
    pub name: String,
    pub currency: CurrencyCode,
    /// Defaults to the server's configured offset.
    #[validate(regex(path = *OFFSET_RE, message = "must be a UTC offset such as +09:00, between -14:00 and +14:00"))]
    #[schema(
        pattern = r"^(Z|[+-](0[0-9]|1[0-3]):[0-5][0-9]|[+-]14:00)$",
        example = "+09:00"
    )]
    pub billing_utc_offset: Option<String>,
    /// Defaults to `0`.
    #[validate(regex(path = *TAX_RATE_RE, message = "must be a fraction from 0 to 1 with at most 6 decimals, such as 0.1"))]
    #[schema(pattern = r"^(0(\.[0-9]{1,6})?|1(\.0{1,6})?)$", example = "0.1")]
    pub tax_rate: Option<String>,
    #[schema(format = Email, max_length = 254, example = "billing@acme.example")]
    pub billing_email: Option<String>,
}

/// Changes an account; absent fields keep their value. `billing_email: null` removes it.
#[derive(Clone, Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAccountRequest {
    #[validate(
        length(min = 1, max = 200, message = "must be 1 to 200 characters"),
        regex(path = *NAME_RE, message = "must not be only spaces or contain control characters")
    )]
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x20\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$",
        example = "Acme Korea Ltd."
    )]
    pub name: Option<String>,
    #[validate(regex(path = *OFFSET_RE, message = "must be a UTC offset such as +09:00, between -14:00 and +14:00"))]
    #[schema(
        pattern = r"^(Z|[+-](0[0-9]|1[0-3]):[0-5][0-9]|[+-]14:00)$",
        example = "+09:00"
    )]
    pub billing_utc_offset: Option<String>,
    #[validate(regex(path = *TAX_RATE_RE, message = "must be a fraction from 0 to 1 with at most 6 decimals, such as 0.1"))]
    #[schema(pattern = r"^(0(\.[0-9]{1,6})?|1(\.0{1,6})?)$", example = "0.1")]
    pub tax_rate: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, format = Email, max_length = 254, example = "billing@acme.example")]
    pub billing_email: Option<Option<String>>,
}

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// An account as its member sees it, with the member's role.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct MyAccountResponse {
    #[serde(flatten)]
    pub account: AccountResponse,
    pub role: RoleDto,
}

// --- Members ---------------------------------------------------------------------------------

/// A user's membership of an account.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct MemberResponse {
    #[schema(
        pattern = r"^acct_[0-9a-f]{32}$",
        example = "acct_0193a4f06c1e7c529a433f6a3a1b2c4d"
    )]
    pub account_id: String,
    #[schema(pattern = r"^[!-.0-~]{1,255}$", example = "alice@acme.example")]
    pub user_id: String,
    pub role: RoleDto,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<&Membership> for MemberResponse {
    fn from(m: &Membership) -> Self {
        MemberResponse {
            account_id: m.account_id.to_string(),
            user_id: m.user_id.to_string(),
            role: m.role.into(),
            created_at: m.created_at,
        }
    }
}

/// Adds a member or changes its role.
#[derive(Clone, Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetMemberRequest {
    pub role: RoleDto,
}

// --- Projects --------------------------------------------------------------------------------

/// A project (a channel).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ProjectResponse {
    #[schema(
        pattern = r"^proj_[0-9a-f]{32}$",
        example = "proj_0193a4f06c1e7c529a433f6a3a1b2c4d"
    )]
    pub id: String,
    #[schema(
        pattern = r"^acct_[0-9a-f]{32}$",
        example = "acct_0193a4f06c1e7c529a433f6a3a1b2c4d"
    )]
    pub account_id: String,
    #[schema(example = "Production")]
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the project was closed; usage and base fees stop there.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub closed_at: Option<OffsetDateTime>,
}

impl From<&Project> for ProjectResponse {
    fn from(p: &Project) -> Self {
        ProjectResponse {
            id: p.id.to_string(),
            account_id: p.account_id.to_string(),
            name: p.name.to_string(),
            created_at: p.created_at,
            closed_at: p.closed_at,
        }
    }
}

/// A project as a member of its account sees it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct MyProjectResponse {
    #[serde(flatten)]
    pub project: ProjectResponse,
    /// Whether the caller sees this project's costs (owners and billing admins always do).
    pub billing_permission: bool,
}

impl MyProjectResponse {
    pub fn new(project: &Project, access: ProjectAccess) -> Self {
        MyProjectResponse {
            project: project.into(),
            billing_permission: access.view_costs,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProjectRequest {
    #[validate(
        length(min = 1, max = 200, message = "must be 1 to 200 characters"),
        regex(path = *NAME_RE, message = "must not be only spaces or contain control characters")
    )]
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x20\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$",
        example = "Production"
    )]
    pub name: String,
}

/// Renames or closes a project. A closed project cannot be reopened.
#[derive(Clone, Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProjectRequest {
    #[validate(
        length(min = 1, max = 200, message = "must be 1 to 200 characters"),
        regex(path = *NAME_RE, message = "must not be only spaces or contain control characters")
    )]
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x20\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$",
        example = "Production (EU)"
    )]
    pub name: Option<String>,
    /// `true` closes the project now.
    pub closed: Option<bool>,
}

// --- Participants ----------------------------------------------------------------------------

/// A user taking part in a project.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ParticipantResponse {
    #[schema(
        pattern = r"^proj_[0-9a-f]{32}$",
        example = "proj_0193a4f06c1e7c529a433f6a3a1b2c4d"
    )]
    pub project_id: String,
    #[schema(pattern = r"^[!-.0-~]{1,255}$", example = "bob@acme.example")]
    pub user_id: String,
    /// Whether the participant sees the project's costs.
    pub billing_permission: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<&Participant> for ParticipantResponse {
    fn from(p: &Participant) -> Self {
        ParticipantResponse {
            project_id: p.project_id.to_string(),
            user_id: p.user_id.to_string(),
            billing_permission: p.billing_permission,
            created_at: p.created_at,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetParticipantRequest {
    pub billing_permission: bool,
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
    /// User id: the `sub` of the user's tokens.
    #[param(pattern = r"^[!-.0-~]{1,255}$")]
    pub user_id: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ProjectUserPath {
    /// Project id.
    #[param(pattern = r"^proj_[0-9a-f]{32}$")]
    pub project_id: String,
    /// User id: the `sub` of the user's tokens.
    #[param(pattern = r"^[!-.0-~]{1,255}$")]
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
            /// Pass as `starting_after` to read the next page; absent on the last page.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub next_cursor: Option<String>,
        }

        impl $name {
            pub fn new(data: Vec<$item>, has_more: bool, cursor: impl Fn(&$item) -> String) -> Self {
                let next_cursor = if has_more { data.last().map(cursor) } else { None };
                Self { data, has_more, next_cursor }
            }
        }
    };
}

list_type!(
    /// A page of accounts.
    AccountList,
    AccountResponse
);
list_type!(
    /// A page of the caller's accounts.
    MyAccountList,
    MyAccountResponse
);
list_type!(
    /// A page of members.
    MemberList,
    MemberResponse
);
list_type!(
    /// A page of projects.
    ProjectList,
    ProjectResponse
);
list_type!(
    /// A page of the caller's projects.
    MyProjectList,
    MyProjectResponse
);
list_type!(
    /// A page of participants.
    ParticipantList,
    ParticipantResponse
);

list_type!(
    /// A page of products.
    ProductList,
    crate::dto_catalog::ProductResponse
);
list_type!(
    /// A page of plans.
    PlanList,
    crate::dto_catalog::PlanResponse
);
list_type!(
    /// A page of a project's plan changes.
    PlanAssignmentList,
    crate::dto_catalog::PlanAssignmentResponse
);

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

#[cfg(test)]
mod tests {
    use super::*;
    use billing_domain::money::TaxRate;
    use billing_domain::names::{AccountName, UserId};
    use billing_domain::period::BillingOffset;
    use proptest::prelude::*;

    /// The pattern of a property of a component schema in the generated document.
    fn pattern(schema: &str, property: &str) -> String {
        let doc = serde_json::to_value(crate::openapi::document()).unwrap();
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
