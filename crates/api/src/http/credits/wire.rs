//! Wire types of credit codes and credits (seed 000's credit codes and credit history).

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::http::wire::CurrencyCode;

/// Credit codes to issue: one, or a batch alike.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct IssueCreditCodesRequest {
    /// What the customer sees in its credit history.
    #[validate(custom(function = "crate::http::wire::display_name"))]
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x20\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$",
        example = "Welcome credit"
    )]
    pub name: String,
    /// A positive amount, at most the currency's minor-unit decimals.
    #[schema(pattern = r"^[0-9]{1,15}(\.[0-9]{1,4})?$", example = "30000")]
    pub amount: String,
    pub currency: CurrencyCode,
    /// The last day the credit counts, in the registering account's offset. Give this or
    /// `valid_days`.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Date, example = "2027-03-31")]
    pub expires_on: Option<String>,
    /// How many days after it is registered the credit counts (1 to 3650). Give this or
    /// `expires_on`.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 3650, example = 90)]
    pub valid_days: Option<u16>,
    /// How many accounts may register each code (default 1).
    #[serde(default = "one")]
    #[schema(minimum = 1, maximum = 1000000, example = 1)]
    pub max_registrations: u32,
    /// How many codes to issue (default 1, at most 1000).
    #[serde(default = "one")]
    #[schema(minimum = 1, maximum = 1000, example = 1)]
    pub count: u32,
}

fn one() -> u32 {
    1
}

/// A credit code as issued.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CreditCodeResponse {
    #[schema(example = "ccd_0193a4f06c1e7c529a433f6a3a1b2c4d")]
    pub id: String,
    /// The code, grouped for reading aloud; customers may type it in any case, with or without
    /// dashes.
    #[schema(example = "K7QX-M2PD-9HTV-A4WE-3NRC")]
    pub code: String,
    pub name: String,
    pub currency: CurrencyCode,
    pub amount: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Date)]
    pub expires_on: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_days: Option<u16>,
    pub max_registrations: u32,
    pub registrations: u32,
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none",
        default
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<time::OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: time::OffsetDateTime,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CreditCodeList {
    pub data: Vec<CreditCodeResponse>,
    pub has_more: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct CreditCodePath {
    /// Credit code id (not the code).
    #[param(pattern = r"^ccd_[0-9a-f]{32}$")]
    pub code_id: String,
}

/// A code to register.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct RegisterCreditRequest {
    #[validate(length(min = 1, max = 64, message = "must be 1 to 64 characters"))]
    #[schema(min_length = 1, max_length = 64, example = "K7QX-M2PD-9HTV-A4WE-3NRC")]
    pub code: String,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CreditStatusDto {
    /// It has something left and has not expired.
    Active,
    /// Invoices used all of it.
    UsedUp,
    /// Past its expiry: what was left no longer counts.
    Expired,
}

/// A registered credit, as the credit history shows it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CreditResponse {
    #[schema(example = "cred_0193a4f06c1e7c529a433f6a3a1b2c4d")]
    pub id: String,
    pub name: String,
    pub status: CreditStatusDto,
    /// When it stops counting, in the account's offset.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: time::OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub registered_at: time::OffsetDateTime,
    /// What the code gave.
    pub charged: String,
    /// What finalized invoices took of it.
    pub used: String,
    /// What was left when it expired.
    pub expired: String,
    /// What is left now (nothing once expired).
    pub available: String,
}

/// The credit history: the total available credit and every credit.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CreditHistoryResponse {
    pub account_id: String,
    pub currency: CurrencyCode,
    /// What all credits have left now.
    pub available_credit: String,
    pub data: Vec<CreditResponse>,
    pub has_more: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}
