//! Wire types of promotions (seed 002's promotion codes).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::http::wire::CurrencyCode;

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LastingDto {
    /// The next invoice.
    Once,
    /// The next `months` invoices.
    Months,
    /// Every invoice from now on.
    Forever,
}

/// A promotion to offer under a code.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct CreatePromotionRequest {
    /// What customers type (any case): 3 to 32 letters, digits and dashes.
    #[schema(
        min_length = 3,
        max_length = 32,
        pattern = r"^[A-Za-z0-9]([A-Za-z0-9-]{1,30})[A-Za-z0-9]$",
        example = "SPRING-20"
    )]
    pub code: String,
    /// What the customer sees on invoices.
    #[validate(custom(function = "crate::http::wire::display_name"))]
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x20\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$",
        example = "Spring 20 % off"
    )]
    pub name: String,
    /// A percentage off (more than 0, at most 100). Give this or `amount_off`.
    #[serde(default)]
    #[schema(pattern = r"^[0-9]{1,3}(\.[0-9]{1,4})?$", example = "20")]
    pub percent_off: Option<String>,
    /// A fixed amount off, in `currency`. Give this or `percent_off`.
    #[serde(default)]
    #[schema(pattern = r"^[0-9]{1,15}(\.[0-9]{1,4})?$", example = "5000")]
    pub amount_off: Option<String>,
    /// The currency of `amount_off`.
    #[serde(default)]
    pub currency: Option<CurrencyCode>,
    /// Only these products' usage is discounted; every charge when absent.
    #[serde(default)]
    pub products: Option<Vec<String>>,
    pub lasting: LastingDto,
    /// With `lasting: months`, how many invoices (1 to 120).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 120, example = 3)]
    pub months: Option<u16>,
    /// The last day the code can be applied, in the applying account's offset.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Date, example = "2027-03-31")]
    pub last_day: Option<String>,
    /// How many accounts may apply it; no limit when absent.
    #[serde(default)]
    #[schema(minimum = 1, example = 100)]
    pub redemption_limit: Option<u32>,
}

/// A promotion as offered.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PromotionResponse {
    #[schema(example = "promo_0193a4f06c1e7c529a433f6a3a1b2c4d")]
    pub id: String,
    #[schema(example = "SPRING-20")]
    pub code: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percent_off: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount_off: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<CurrencyCode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub products: Option<Vec<String>>,
    pub lasting: LastingDto,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub months: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Date)]
    pub last_day: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redemption_limit: Option<u32>,
    pub redemptions: u32,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: time::OffsetDateTime,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PromotionList {
    pub data: Vec<PromotionResponse>,
    pub has_more: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A code to apply.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct ApplyPromotionRequest {
    #[validate(length(min = 1, max = 64, message = "must be 1 to 64 characters"))]
    #[schema(min_length = 1, max_length = 64, example = "SPRING-20")]
    pub code: String,
}

/// A promotion the account applied: the promotion, and how many invoices it has left.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AppliedPromotionResponse {
    #[schema(example = "apr_0193a4f06c1e7c529a433f6a3a1b2c4d")]
    pub id: String,
    pub promotion: PromotionResponse,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub applied_at: time::OffsetDateTime,
    /// How many finalized invoices it discounted.
    pub invoices_discounted: u32,
    /// How many invoices it still discounts; absent for ever.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoices_remaining: Option<u32>,
    /// Whether it still discounts invoices.
    pub active: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AppliedPromotionList {
    pub data: Vec<AppliedPromotionResponse>,
    pub has_more: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}
