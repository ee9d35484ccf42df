//! Wire types of the catalog: products, plans and their prices, plan assignments.
//!
//! Everything the schema admits is a valid price: tiers are given as widths (`units` each, then
//! `beyond`), so their bounds always increase; prices are keyed by product code, so no product is
//! priced twice. What the schema cannot know (an unknown product or plan, a taken code) answers 409.

use std::collections::BTreeMap;

use billing_domain::catalog::{
    tiers_from_widths, Aggregation, Code, FeeGroup, Price, PriceModel, Product, Quantity, Tier,
    Unit,
};
use billing_domain::money::UnitPrice;
use billing_domain::names::CatalogName;
use billing_domain::DomainError;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use validator::Validate;

use crate::http::problem::ApiError;
use crate::http::wire::{list_type, CurrencyCode};

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AggregationDto {
    /// The sum of every event in the period (API calls, hours).
    Sum,
    /// The largest value reported in the period (peak disk bytes).
    Max,
    /// The last value reported in the period (a gauge).
    Latest,
}

impl From<AggregationDto> for Aggregation {
    fn from(a: AggregationDto) -> Self {
        match a {
            AggregationDto::Sum => Aggregation::Sum,
            AggregationDto::Max => Aggregation::Max,
            AggregationDto::Latest => Aggregation::Latest,
        }
    }
}

impl From<Aggregation> for AggregationDto {
    fn from(a: Aggregation) -> Self {
        match a {
            Aggregation::Sum => AggregationDto::Sum,
            Aggregation::Max => AggregationDto::Max,
            Aggregation::Latest => AggregationDto::Latest,
        }
    }
}

/// Which fee of a project's billing summary a product's charges fall under.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FeeGroupDto {
    /// The API usage fee.
    Api,
    /// The disk usage fee.
    Disk,
    /// Other usage fees (monitored hours, seats, ...).
    #[default]
    Other,
}

impl From<FeeGroupDto> for FeeGroup {
    fn from(g: FeeGroupDto) -> Self {
        match g {
            FeeGroupDto::Api => FeeGroup::Api,
            FeeGroupDto::Disk => FeeGroup::Disk,
            FeeGroupDto::Other => FeeGroup::Other,
        }
    }
}

impl From<FeeGroup> for FeeGroupDto {
    fn from(g: FeeGroup) -> Self {
        match g {
            FeeGroup::Api => FeeGroupDto::Api,
            FeeGroup::Disk => FeeGroupDto::Disk,
            FeeGroup::Other => FeeGroupDto::Other,
        }
    }
}

/// A metered product (a service).
#[derive(Clone, Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductRequest {
    /// Stable identifier used by usage events and plans.
    #[schema(pattern = r"^[a-z0-9][a-z0-9_.-]{0,63}$", example = "api_calls")]
    pub code: String,
    #[validate(custom(function = "crate::http::wire::display_name"))]
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x20\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$",
        example = "API calls"
    )]
    pub name: String,
    /// The unit of a quantity: `call`, `byte`, `hour`, ...
    #[schema(pattern = r"^[a-z][a-z0-9_]{0,31}$", example = "call")]
    pub unit: String,
    pub aggregation: AggregationDto,
    /// Which fee of the billing summary its charges fall under. Default `other`.
    #[serde(default)]
    pub fee_group: FeeGroupDto,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ProductResponse {
    #[schema(pattern = r"^[a-z0-9][a-z0-9_.-]{0,63}$", example = "api_calls")]
    pub code: String,
    pub name: String,
    #[schema(example = "call")]
    pub unit: String,
    pub aggregation: AggregationDto,
    pub fee_group: FeeGroupDto,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// One tier of a graduated or volume price: the next `units` units.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TierSpec {
    /// How many units this tier covers, after the previous tiers.
    #[serde(deserialize_with = "whole_number")]
    #[schema(minimum = 1, maximum = 1_000_000_000_000_i64, example = 10000)]
    pub units: u64,
    #[schema(pattern = r"^[0-9]{1,15}(\.[0-9]{1,12})?$", example = "0.5")]
    pub unit_price: String,
    /// Charged once when the quantity reaches this tier. Default `0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = r"^[0-9]{1,15}(\.[0-9]{1,12})?$", example = "0")]
    pub flat_fee: Option<String>,
}

/// The price of every unit past the last tier.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BeyondSpec {
    #[schema(pattern = r"^[0-9]{1,15}(\.[0-9]{1,12})?$", example = "0.1")]
    pub unit_price: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = r"^[0-9]{1,15}(\.[0-9]{1,12})?$", example = "0")]
    pub flat_fee: Option<String>,
}

/// How one product is priced. `free_quantity` units (hours, for `hourly`) are free each period.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(tag = "model", rename_all = "snake_case", deny_unknown_fields)]
pub enum PriceSpec {
    /// quantity x unit_price.
    PerUnit {
        #[schema(pattern = r"^[0-9]{1,15}(\.[0-9]{1,12})?$", example = "0.002")]
        unit_price: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(pattern = r"^[0-9]{1,12}(\.[0-9]{1,6})?$", example = "1000")]
        free_quantity: Option<String>,
    },
    /// package_price per started package of package_size units (the remainder rounds up).
    Package {
        #[serde(deserialize_with = "whole_number")]
        #[schema(minimum = 1, maximum = 1_000_000_000_000_i64, example = 1000)]
        package_size: u64,
        #[schema(pattern = r"^[0-9]{1,15}(\.[0-9]{1,12})?$", example = "500")]
        package_price: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(pattern = r"^[0-9]{1,12}(\.[0-9]{1,6})?$", example = "0")]
        free_quantity: Option<String>,
    },
    /// Each unit at its tier's price, plus each reached tier's flat fee.
    Graduated {
        #[schema(max_items = 20)]
        tiers: Vec<TierSpec>,
        beyond: BeyondSpec,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(pattern = r"^[0-9]{1,12}(\.[0-9]{1,6})?$", example = "0")]
        free_quantity: Option<String>,
    },
    /// Every unit at the price of the tier the whole quantity falls in, plus its flat fee.
    Volume {
        #[schema(max_items = 20)]
        tiers: Vec<TierSpec>,
        beyond: BeyondSpec,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(pattern = r"^[0-9]{1,12}(\.[0-9]{1,6})?$", example = "0")]
        free_quantity: Option<String>,
    },
    /// monthly_price x min(hours, days in month x 24) / (days in month x 24).
    Hourly {
        #[schema(pattern = r"^[0-9]{1,15}(\.[0-9]{1,12})?$", example = "30000")]
        monthly_price: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(pattern = r"^[0-9]{1,12}(\.[0-9]{1,6})?$", example = "0")]
        free_quantity: Option<String>,
    },
}

/// Publishes a plan. Plans never change once published: publish a new plan instead.
#[derive(Clone, Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanRequest {
    #[schema(pattern = r"^[a-z0-9][a-z0-9_.-]{0,63}$", example = "standard-2026")]
    pub code: String,
    #[validate(custom(function = "crate::http::wire::display_name"))]
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x20\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$",
        example = "Standard"
    )]
    pub name: String,
    pub currency: CurrencyCode,
    /// Monthly base fee, prorated by hours; a price, so rounded only on the invoice line.
    #[schema(pattern = r"^[0-9]{1,15}(\.[0-9]{1,12})?$", example = "30000")]
    pub base_fee: String,
    /// One price per product code (bounded by the request body limit).
    pub prices: BTreeMap<String, PriceSpec>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PlanResponse {
    #[schema(pattern = r"^[a-z0-9][a-z0-9_.-]{0,63}$", example = "standard-2026")]
    pub code: String,
    pub name: String,
    pub currency: CurrencyCode,
    #[schema(pattern = r"^[0-9]{1,15}(\.[0-9]{1,12})?$", example = "30000")]
    pub base_fee: String,
    pub prices: BTreeMap<String, PriceSpec>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// Puts a project on a plan from an instant (default: now). Both plans' base fees are prorated
/// by hours around the change.
#[derive(Clone, Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignPlanRequest {
    #[schema(pattern = r"^[a-z0-9][a-z0-9_.-]{0,63}$", example = "standard-2026")]
    pub plan: String,
    /// When the project moves to the plan (default: now): an instant in a billing period of
    /// the years 2000 to 9998 in the account's offset, else 422 on `effective_from`.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime, example = "2026-11-11T00:00:00+09:00")]
    pub effective_from: Option<OffsetDateTime>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PlanAssignmentResponse {
    #[schema(pattern = r"^proj_[0-9a-f]{32}$")]
    pub project_id: String,
    #[schema(example = "standard-2026")]
    pub plan: String,
    #[serde(with = "time::serde::rfc3339")]
    pub effective_from: OffsetDateTime,
}

/// Largest tier width or package size.
pub const MAX_UNITS: u64 = 1_000_000_000_000;

/// A whole number from 1 to [`MAX_UNITS`], as JSON Schema's `integer` means it: `1000` and
/// `1000.0` alike (every such number is exact in a double).
fn whole_number<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    use serde::de::Error;
    let number = serde_json::Number::deserialize(deserializer)?;
    let value = match number.as_u64() {
        Some(n) => Some(n),
        None => number
            .as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 1.0 && *f <= 1e12)
            .map(|f| f as u64),
    };
    value
        .filter(|n| (1..=MAX_UNITS).contains(n))
        .ok_or_else(|| D::Error::custom(format!("expected a whole number from 1 to {MAX_UNITS}")))
}

// --- Conversions -------------------------------------------------------------------------------

fn unit_price(field: &str, text: &str) -> Result<UnitPrice, ApiError> {
    UnitPrice::parse(text).map_err(|e| ApiError::validation(field, &e))
}

fn optional_price(field: &str, text: Option<&str>) -> Result<UnitPrice, ApiError> {
    unit_price(field, text.unwrap_or("0"))
}

fn quantity(field: &str, text: Option<&str>) -> Result<Quantity, ApiError> {
    Quantity::parse(text.unwrap_or("0")).map_err(|e| ApiError::validation(field, &e))
}

fn tiers(at: &str, tiers: &[TierSpec], beyond: &BeyondSpec) -> Result<Vec<Tier>, ApiError> {
    let mut widths = Vec::with_capacity(tiers.len());
    for (i, t) in tiers.iter().enumerate() {
        widths.push((
            Decimal::from(t.units),
            unit_price(&format!("{at}.tiers[{i}].unit_price"), &t.unit_price)?,
            optional_price(&format!("{at}.tiers[{i}].flat_fee"), t.flat_fee.as_deref())?,
        ));
    }
    let beyond = (
        unit_price(&format!("{at}.beyond.unit_price"), &beyond.unit_price)?,
        optional_price(&format!("{at}.beyond.flat_fee"), beyond.flat_fee.as_deref())?,
    );
    tiers_from_widths(&widths, beyond).map_err(|e| ApiError::validation(&format!("{at}.tiers"), &e))
}

impl PriceSpec {
    /// The domain price; `at` names the field in errors (`prices.api_calls`).
    pub fn to_domain(&self, at: &str) -> Result<Price, ApiError> {
        let free_field = format!("{at}.free_quantity");
        let (model, free) = match self {
            PriceSpec::PerUnit {
                unit_price: p,
                free_quantity,
            } => (
                PriceModel::PerUnit {
                    unit_price: unit_price(&format!("{at}.unit_price"), p)?,
                },
                free_quantity,
            ),
            PriceSpec::Package {
                package_size,
                package_price,
                free_quantity,
            } => (
                PriceModel::Package {
                    size: Decimal::from(*package_size),
                    price: unit_price(&format!("{at}.package_price"), package_price)?,
                },
                free_quantity,
            ),
            PriceSpec::Graduated {
                tiers: t,
                beyond,
                free_quantity,
            } => (
                PriceModel::Graduated {
                    tiers: tiers(at, t, beyond)?,
                },
                free_quantity,
            ),
            PriceSpec::Volume {
                tiers: t,
                beyond,
                free_quantity,
            } => (
                PriceModel::Volume {
                    tiers: tiers(at, t, beyond)?,
                },
                free_quantity,
            ),
            PriceSpec::Hourly {
                monthly_price,
                free_quantity,
            } => (
                PriceModel::Hourly {
                    monthly_price: unit_price(&format!("{at}.monthly_price"), monthly_price)?,
                },
                free_quantity,
            ),
        };
        let free = quantity(&free_field, free.as_deref())?;
        Price::new(model, free).map_err(|e| ApiError::validation(at, &e))
    }

    /// The wire form of a stored price: the same shape the operator sent.
    pub fn from_domain(price: &Price) -> Self {
        let free = Some(price.free_quantity.to_string());
        let widths = |tiers: &[Tier]| -> (Vec<TierSpec>, BeyondSpec) {
            let mut lower = Decimal::ZERO;
            let mut specs = Vec::new();
            let mut beyond = BeyondSpec {
                unit_price: "0".into(),
                flat_fee: None,
            };
            for tier in tiers {
                match tier.up_to {
                    Some(up_to) => {
                        let units = u64::try_from(up_to - lower).unwrap_or(u64::MAX);
                        specs.push(TierSpec {
                            units,
                            unit_price: tier.unit_price.to_string(),
                            flat_fee: Some(tier.flat_fee.to_string()),
                        });
                        lower = up_to;
                    }
                    None => {
                        beyond = BeyondSpec {
                            unit_price: tier.unit_price.to_string(),
                            flat_fee: Some(tier.flat_fee.to_string()),
                        }
                    }
                }
            }
            (specs, beyond)
        };
        match &price.model {
            PriceModel::PerUnit { unit_price } => PriceSpec::PerUnit {
                unit_price: unit_price.to_string(),
                free_quantity: free,
            },
            PriceModel::Package { size, price } => PriceSpec::Package {
                package_size: u64::try_from(*size).unwrap_or(u64::MAX),
                package_price: price.to_string(),
                free_quantity: free,
            },
            PriceModel::Graduated { tiers } => {
                let (tiers, beyond) = widths(tiers);
                PriceSpec::Graduated {
                    tiers,
                    beyond,
                    free_quantity: free,
                }
            }
            PriceModel::Volume { tiers } => {
                let (tiers, beyond) = widths(tiers);
                PriceSpec::Volume {
                    tiers,
                    beyond,
                    free_quantity: free,
                }
            }
            PriceModel::Hourly { monthly_price } => PriceSpec::Hourly {
                monthly_price: monthly_price.to_string(),
                free_quantity: free,
            },
        }
    }
}

impl ProductRequest {
    pub fn to_domain(&self) -> Result<Product, ApiError> {
        Ok(Product {
            code: Code::parse(&self.code).map_err(field("code"))?,
            name: CatalogName::parse(&self.name).map_err(field("name"))?,
            unit: Unit::parse(&self.unit).map_err(field("unit"))?,
            aggregation: self.aggregation.into(),
            fee_group: self.fee_group.into(),
        })
    }
}

/// A domain error as the field error of `field`.
pub fn field(field: &str) -> impl Fn(DomainError) -> ApiError + '_ {
    move |e| ApiError::validation(field, &e)
}
list_type!(
    /// A page of products.
    ProductList,
    crate::http::catalog::wire::ProductResponse
);
list_type!(
    /// A page of plans.
    PlanList,
    crate::http::catalog::wire::PlanResponse
);
list_type!(
    /// A page of a project's plan changes.
    PlanAssignmentList,
    crate::http::catalog::wire::PlanAssignmentResponse
);
