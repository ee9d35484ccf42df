//! Wire types of accounts, members, projects and participants.

use billing_domain::accounts::access::{ProjectAccess, Role};
use billing_domain::accounts::{Account, Membership, Participant, Project};
use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use validator::Validate;

use crate::http::wire::{list_type, CurrencyCode, OFFSET_RE, TAX_RATE_RE};

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
    #[validate(custom(function = "crate::http::wire::display_name"))]
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
    #[validate(custom(function = "crate::http::wire::display_name"))]
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

/// The account's billing email: where finalized invoices are mailed; `null` removes it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct BillingEmailRequest {
    #[schema(format = Email, max_length = 254, example = "billing@acme.example")]
    pub billing_email: Option<String>,
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
    #[schema(
        pattern = r"^[A-Za-z0-9][A-Za-z0-9._~@+:|=-]{0,254}$",
        example = "alice@acme.example"
    )]
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
    #[validate(custom(function = "crate::http::wire::display_name"))]
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
    #[validate(custom(function = "crate::http::wire::display_name"))]
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
    #[schema(
        pattern = r"^[A-Za-z0-9][A-Za-z0-9._~@+:|=-]{0,254}$",
        example = "bob@acme.example"
    )]
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
