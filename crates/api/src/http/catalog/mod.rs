//! Operator endpoints of the catalog: products, plans, and the plan each project is on.

use billing_domain::catalog::PlanRecord;
use billing_domain::catalog::ProductRecord;
use std::collections::BTreeMap;

use actix_web::{get, post, web, HttpResponse};
use billing_domain::catalog::{Code, Plan, PlanAssignment};
use billing_domain::money::{Currency, UnitPrice};
use billing_domain::names::CatalogName;

use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

pub mod wire;

use crate::http::answer::respond;
use crate::http::auth::Operator;
use crate::http::catalog::wire::*;
use crate::http::extract::{CursorKey, IdempotencyKeyHeader, PageQuery, ValidJson};
use crate::http::extract::{Idempotency, ProjectParam};
use crate::http::problem::ApiError;
use crate::http::wire::{CurrencyCode, ProjectPath};
use billing_application::catalog;
use billing_application::idempotency::{Answer, KeyScope};
use billing_application::{AppState, ConflictKind};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create_product)
        .service(list_products)
        .service(get_product)
        .service(create_plan)
        .service(list_plans)
        .service(get_plan)
        .service(assign_plan)
        .service(plan_history);
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct CodePath {
    /// Product or plan code.
    #[param(pattern = r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
    pub code: String,
}

fn code(text: &str) -> Result<Code, ApiError> {
    Code::parse(text).map_err(|_| ApiError::NotFound)
}

fn product_response(record: &ProductRecord) -> ProductResponse {
    ProductResponse {
        code: record.product.code.to_string(),
        name: record.product.name.to_string(),
        unit: record.product.unit.to_string(),
        aggregation: record.product.aggregation.into(),
        fee_group: record.product.fee_group.into(),
        created_at: record.created_at,
    }
}

fn plan_response(record: &PlanRecord) -> PlanResponse {
    let plan = &record.plan;
    PlanResponse {
        code: plan.code.to_string(),
        name: plan.name.to_string(),
        currency: CurrencyCode(plan.currency.code().to_owned()),
        base_fee: plan.base_fee.to_string(),
        prices: plan
            .prices
            .iter()
            .map(|(code, price)| (code.to_string(), PriceSpec::from_domain(price)))
            .collect(),
        created_at: record.created_at,
    }
}

fn assignment_response(a: &PlanAssignment) -> PlanAssignmentResponse {
    PlanAssignmentResponse {
        project_id: a.project.to_string(),
        plan: a.plan.to_string(),
        effective_from: a.effective_from,
    }
}

fn plan_from(body: &PlanRequest) -> Result<Plan, ApiError> {
    let plan_code = Code::parse(&body.code).map_err(field("code"))?;
    let currency = Currency::parse(&body.currency.0).map_err(field("currency"))?;
    let base_fee = UnitPrice::parse(&body.base_fee).map_err(field("base_fee"))?;
    let mut prices = BTreeMap::new();
    for (product, spec) in &body.prices {
        // A key that is no code names no product in the catalog.
        let product_code =
            Code::parse(product).map_err(|_| ApiError::from(catalog::unknown_product()))?;
        prices.insert(product_code, spec.to_domain(&format!("prices.{product}"))?);
    }
    Ok(Plan {
        code: plan_code,
        name: CatalogName::parse(&body.name).map_err(field("name"))?,
        currency,
        base_fee,
        prices,
    })
}

/// Create a product
#[utoipa::path(
    tag = "catalog",
    operation_id = "admin_create_product",
    extensions(("x-conflicts" = json!([ConflictKind::ProductExists.slug()]))),
    params(IdempotencyKeyHeader),
    request_body(content = ProductRequest, example = json!({
        "code": "api_calls", "name": "API calls", "unit": "call", "aggregation": "sum"
    })),
    responses(
        (status = 201, description = "The new product", body = ProductResponse,
        links(
            ("GetProduct" = (operation_id = "admin_get_product", parameters(("code" = "$response.body#/code"))))
        )
    )
    ),
    security(("bearer" = ["admin"]))
)]
#[post("/admin/products")]
async fn create_product(
    operator: Operator,
    state: web::Data<AppState>,
    idempotency: Idempotency,
    body: ValidJson<ProductRequest>,
) -> Result<HttpResponse, ApiError> {
    let product = body.0.to_domain()?;
    let request = idempotency.request(KeyScope::Operator(&operator.subject), &body.1);
    let done = catalog::create_product(&state, request, product, |record| {
        let location = format!("/v1/admin/products/{}", record.product.code);
        Answer::created(location, product_response(record))
    })
    .await?;
    Ok(respond(done.answer))
}

/// List products
#[utoipa::path(
    tag = "catalog",
    operation_id = "admin_list_products",
    params(PageQuery),
    responses((status = 200, description = "A page of products, by code", body = ProductList)),
    security(("bearer" = ["admin"]))
)]
#[get("/admin/products")]
async fn list_products(
    _operator: Operator,
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = catalog::list_products(&state, &query.to_request(CursorKey::Product)?).await?;
    let data = page.items.iter().map(product_response).collect();
    Ok(HttpResponse::Ok().json(ProductList::new(
        data,
        page.has_more,
        CursorKey::Product,
        |p| p.code.clone(),
    )))
}

/// Get a product
#[utoipa::path(
    tag = "catalog",
    operation_id = "admin_get_product",
    params(CodePath),
    responses((status = 200, description = "The product", body = ProductResponse)),
    security(("bearer" = ["admin"]))
)]
#[get("/admin/products/{code}")]
async fn get_product(
    _operator: Operator,
    state: web::Data<AppState>,
    path: web::Path<CodePath>,
) -> Result<HttpResponse, ApiError> {
    let record = catalog::get_product(&state, &code(&path.code)?).await?;
    Ok(HttpResponse::Ok().json(product_response(&record)))
}

/// Publish a plan
///
/// A plan prices each product with one model: `per_unit`, `package`, `graduated`, `volume` or
/// `hourly`. Published plans never change: publish a new plan and move projects to it.
#[utoipa::path(
    tag = "catalog",
    operation_id = "admin_create_plan",
    extensions(("x-conflicts" = json!([ConflictKind::PlanExists.slug(), ConflictKind::UnknownProduct.slug()]))),
    params(IdempotencyKeyHeader),
    request_body(content = PlanRequest, example = json!({
        "code": "standard-2026", "name": "Standard", "currency": "KRW", "base_fee": "30000",
        "prices": {
            "api_calls": {"model": "package", "package_size": 1000, "package_price": "500",
                          "free_quantity": "10000"},
            "disk_bytes": {"model": "graduated",
                           "tiers": [{"units": 10737418240_u64, "unit_price": "0"}],
                           "beyond": {"unit_price": "0.000000002"}},
            "monitoring": {"model": "hourly", "monthly_price": "30000"}
        }
    })),
    responses(
        (status = 201, description = "The published plan", body = PlanResponse,
        links(
            ("GetPlan" = (operation_id = "admin_get_plan", parameters(("code" = "$response.body#/code"))))
        )
    )
    ),
    security(("bearer" = ["admin"]))
)]
#[post("/admin/plans")]
async fn create_plan(
    operator: Operator,
    state: web::Data<AppState>,
    idempotency: Idempotency,
    body: ValidJson<PlanRequest>,
) -> Result<HttpResponse, ApiError> {
    let plan = plan_from(&body.0)?;
    let request = idempotency.request(KeyScope::Operator(&operator.subject), &body.1);
    let done = catalog::create_plan(&state, request, plan, |record| {
        let location = format!("/v1/admin/plans/{}", record.plan.code);
        Answer::created(location, plan_response(record))
    })
    .await?;
    Ok(respond(done.answer))
}

/// List plans
#[utoipa::path(
    tag = "catalog",
    operation_id = "admin_list_plans",
    params(PageQuery),
    responses((status = 200, description = "A page of plans, by code", body = PlanList)),
    security(("bearer" = ["admin"]))
)]
#[get("/admin/plans")]
async fn list_plans(
    _operator: Operator,
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = catalog::list_plans(&state, &query.to_request(CursorKey::Plan)?).await?;
    let data = page.items.iter().map(plan_response).collect();
    Ok(
        HttpResponse::Ok().json(PlanList::new(data, page.has_more, CursorKey::Plan, |p| {
            p.code.clone()
        })),
    )
}

/// Get a plan
#[utoipa::path(
    tag = "catalog",
    operation_id = "admin_get_plan",
    params(CodePath),
    responses((status = 200, description = "The plan and its prices", body = PlanResponse)),
    security(("bearer" = ["admin"]))
)]
#[get("/admin/plans/{code}")]
async fn get_plan(
    _operator: Operator,
    state: web::Data<AppState>,
    path: web::Path<CodePath>,
) -> Result<HttpResponse, ApiError> {
    let record = catalog::get_plan(&state, &code(&path.code)?).await?;
    Ok(HttpResponse::Ok().json(plan_response(&record)))
}

/// Put a project on a plan
///
/// From `effective_from` (default: now) until the next change; both plans' base fees are
/// prorated by hours. The plan must bill in the account's currency.
#[utoipa::path(
    tag = "catalog",
    operation_id = "admin_assign_plan",
    extensions(("x-conflicts" = json!([ConflictKind::UnknownPlan.slug(), ConflictKind::CurrencyMismatch.slug(), ConflictKind::PlanChangeExists.slug()]))),
    params(ProjectPath, IdempotencyKeyHeader),
    request_body(content = AssignPlanRequest, example = json!({
        "plan": "standard-2026", "effective_from": "2026-11-11T00:00:00+09:00"
    })),
    responses(
        (status = 201, description = "The plan change", body = PlanAssignmentResponse,
        links(
            ("ListPlans" = (operation_id = "admin_list_project_plans", parameters(("project_id" = "$response.body#/project_id"))))
        )
    )
    ),
    security(("bearer" = ["admin"]))
)]
#[post("/admin/projects/{project_id}/plans")]
async fn assign_plan(
    operator: Operator,
    state: web::Data<AppState>,
    ProjectParam(project): ProjectParam,
    idempotency: Idempotency,
    body: ValidJson<AssignPlanRequest>,
) -> Result<HttpResponse, ApiError> {
    let request = idempotency.request(KeyScope::Operator(&operator.subject), &body.1);
    let AssignPlanRequest {
        plan,
        effective_from,
    } = body.0;
    let done = catalog::assign_plan(&state, request, project, plan, effective_from, |a| {
        let location = format!("/v1/admin/projects/{}/plans", a.project);
        Answer::created(location, assignment_response(a))
    })
    .await?;
    Ok(respond(done.answer))
}

/// A project's plan history
#[utoipa::path(
    tag = "catalog",
    operation_id = "admin_list_project_plans",
    params(ProjectPath, PageQuery),
    responses((status = 200, description = "Plan changes, oldest first", body = PlanAssignmentList)),
    security(("bearer" = ["admin"]))
)]
#[get("/admin/projects/{project_id}/plans")]
async fn plan_history(
    _operator: Operator,
    state: web::Data<AppState>,
    ProjectParam(project): ProjectParam,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page =
        catalog::plan_history(&state, &project, &query.to_request(CursorKey::Instant)?).await?;
    // The list's cursor is the last change's instant, as the use case pages by it.
    let next = page
        .items
        .last()
        .map(catalog::history_cursor)
        .unwrap_or_default();
    let data = page.items.iter().map(assignment_response).collect();
    let list = PlanAssignmentList::new(data, page.has_more, CursorKey::Instant, |_| next.clone());
    Ok(HttpResponse::Ok().json(list))
}
