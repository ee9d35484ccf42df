//! The catalog: products, plans, and which plan a project is on.

use billing_domain::catalog::{Code, Plan, PlanAssignment, Product};
use billing_domain::instant::normalize;
use billing_domain::names::ProjectId;
use billing_persistence::page::{Page, PageRequest};
use billing_persistence::repo;
use billing_persistence::repo::catalog::{PlanRecord, ProductRecord};
use billing_persistence::{ConnectionTrait, PersistenceError};
use time::OffsetDateTime;

use crate::clock::Clock;
use crate::error::ApiError;
use crate::state::AppState;

fn exists(kind: &'static str, what: String) -> impl Fn(PersistenceError) -> ApiError {
    move |e| match e {
        PersistenceError::AlreadyExists => ApiError::Conflict {
            kind,
            detail: what.clone(),
        },
        other => other.into(),
    }
}

pub async fn create_product<C: ConnectionTrait>(
    db: &C,
    clock: &dyn Clock,
    product: Product,
) -> Result<ProductRecord, ApiError> {
    let taken = format!("a product with code `{}` exists", product.code);
    repo::catalog::insert_product(db, &product, clock.now())
        .await
        .map_err(exists("product-exists", taken))
}

pub async fn get_product(state: &AppState, code: &Code) -> Result<ProductRecord, ApiError> {
    repo::catalog::find_product(&state.db, code)
        .await?
        .ok_or(ApiError::NotFound)
}

pub async fn list_products(
    state: &AppState,
    page: &PageRequest,
) -> Result<Page<ProductRecord>, ApiError> {
    Ok(repo::catalog::list_products(&state.db, page).await?)
}

/// Publishes a plan. Every priced product must exist; the code must be free.
pub async fn create_plan<C: ConnectionTrait>(
    db: &C,
    clock: &dyn Clock,
    plan: Plan,
) -> Result<PlanRecord, ApiError> {
    let taken = format!("a plan with code `{}` exists", plan.code);
    match repo::catalog::insert_plan(db, &plan, clock.now())
        .await
        .map_err(exists("plan-exists", taken))?
    {
        Ok(record) => Ok(record),
        Err(missing) => Err(unknown_product(missing.as_str())),
    }
}

pub fn unknown_product(code: &str) -> ApiError {
    ApiError::Conflict {
        kind: "unknown-product",
        detail: format!("the catalog has no product `{code}`"),
    }
}

pub async fn get_plan(state: &AppState, code: &Code) -> Result<PlanRecord, ApiError> {
    repo::catalog::find_plan(&state.db, code)
        .await?
        .map(|(_, record)| record)
        .ok_or(ApiError::NotFound)
}

pub async fn list_plans(
    state: &AppState,
    page: &PageRequest,
) -> Result<Page<PlanRecord>, ApiError> {
    Ok(repo::catalog::list_plans(&state.db, page).await?)
}

/// Puts a project on a plan from an instant. The plan must bill in the account's currency.
pub async fn assign_plan<C: ConnectionTrait>(
    db: &C,
    clock: &dyn Clock,
    project: &ProjectId,
    plan_code: &str,
    effective_from: Option<OffsetDateTime>,
) -> Result<PlanAssignment, ApiError> {
    let found = repo::projects::find_any(db, project)
        .await?
        .ok_or(ApiError::NotFound)?;
    let unknown_plan = || ApiError::Conflict {
        kind: "unknown-plan",
        detail: format!("the catalog has no plan `{plan_code}`"),
    };
    let code = Code::parse(plan_code).map_err(|_| unknown_plan())?;
    let (plan_id, record) = repo::catalog::find_plan(db, &code)
        .await?
        .ok_or_else(unknown_plan)?;
    let account = repo::accounts::find(db, &found.account_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    record
        .plan
        .check_currency(account.currency)
        .map_err(|e| ApiError::Conflict {
            kind: "currency-mismatch",
            detail: format!("plan `{code}`: {e}"),
        })?;
    let now = clock.now();
    let assignment = PlanAssignment {
        project: project.clone(),
        plan: code,
        effective_from: normalize(effective_from.unwrap_or(now)),
    };
    let taken = "the project already changes plan at that instant".to_owned();
    repo::catalog::assign_plan(db, &assignment, &plan_id, now)
        .await
        .map_err(exists("plan-change-exists", taken))?;
    Ok(assignment)
}

/// A project's plan changes, oldest first, paged by the RFC 3339 instant of each change (the
/// cursor). A history is short, so it is read whole and cut here.
pub async fn plan_history(
    state: &AppState,
    project: &ProjectId,
    page: &PageRequest,
) -> Result<Page<PlanAssignment>, ApiError> {
    repo::projects::find_any(&state.db, project)
        .await?
        .ok_or(ApiError::NotFound)?;
    let mut history = repo::catalog::assignments(&state.db, project).await?;
    if let Some(after) = &page.after {
        history.retain(|a| history_cursor(a).as_str() > after.as_str());
    }
    Ok(Page::from_overfetch(history, page.limit))
}

/// The cursor of a plan change: its instant in RFC 3339 (UTC, so it sorts as text).
pub fn history_cursor(assignment: &PlanAssignment) -> String {
    assignment
        .effective_from
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
