//! The catalog: products, plans, and which plan a project is on.

use billing_domain::catalog::PlanRecord;
use billing_domain::catalog::ProductRecord;
use billing_domain::catalog::{Code, Plan, PlanAssignment, Product};
use billing_domain::instant::normalize;
use billing_domain::names::ProjectId;
use billing_domain::page::{Page, PageRequest};
use billing_domain::period::BillingPeriod;
use billing_persistence::repo;
use billing_persistence::repo::accounts::AccountLock;

use billing_persistence::{DatabaseTransaction, PersistenceError};
use time::OffsetDateTime;

use crate::error::{AppError, ConflictKind};
use crate::idempotency::{self, Answer, Done, Idempotent};
use crate::state::AppState;
use crate::usage;

fn exists(kind: ConflictKind, what: &'static str) -> impl Fn(PersistenceError) -> AppError {
    move |e| match e {
        PersistenceError::AlreadyExists => AppError::conflict(kind, what),
        other => other.into(),
    }
}

/// Adds a product to the catalog; idempotent per key. The code must be free.
pub async fn create_product(
    state: &AppState,
    request: Idempotent,
    product: Product,
    render: impl FnOnce(&ProductRecord) -> Result<Answer, AppError>,
) -> Result<Done<ProductRecord>, AppError> {
    let now = state.clock.now();
    idempotency::run(
        state,
        request,
        move |txn| {
            Box::pin(async move {
                repo::catalog::insert_product(txn, &product, now)
                    .await
                    .map_err(exists(
                        ConflictKind::ProductExists,
                        "a product with this code exists",
                    ))
            })
        },
        render,
    )
    .await
}

pub async fn get_product(state: &AppState, code: &Code) -> Result<ProductRecord, AppError> {
    repo::catalog::find_product(&state.db, code)
        .await?
        .ok_or(AppError::NotFound)
}

pub async fn list_products(
    state: &AppState,
    page: &PageRequest,
) -> Result<Page<ProductRecord>, AppError> {
    Ok(repo::catalog::list_products(&state.db, page).await?)
}

/// Publishes a plan; idempotent per key. Every priced product must exist; the code must be
/// free.
pub async fn create_plan(
    state: &AppState,
    request: Idempotent,
    plan: Plan,
    render: impl FnOnce(&PlanRecord) -> Result<Answer, AppError>,
) -> Result<Done<PlanRecord>, AppError> {
    let now = state.clock.now();
    idempotency::run(
        state,
        request,
        move |txn| Box::pin(insert_plan(txn, plan, now)),
        render,
    )
    .await
}

async fn insert_plan(
    txn: &DatabaseTransaction,
    plan: Plan,
    now: OffsetDateTime,
) -> Result<PlanRecord, AppError> {
    match repo::catalog::insert_plan(txn, &plan, now)
        .await
        .map_err(exists(
            ConflictKind::PlanExists,
            "a plan with this code exists",
        ))? {
        Ok(record) => Ok(record),
        Err(_) => Err(unknown_product()),
    }
}

/// A plan prices a product the catalog does not have.
pub fn unknown_product() -> AppError {
    AppError::conflict(
        ConflictKind::UnknownProduct,
        "a priced product is not in the catalog",
    )
}

pub async fn get_plan(state: &AppState, code: &Code) -> Result<PlanRecord, AppError> {
    repo::catalog::find_plan(&state.db, code)
        .await?
        .map(|(_, record)| record)
        .ok_or(AppError::NotFound)
}

pub async fn list_plans(
    state: &AppState,
    page: &PageRequest,
) -> Result<Page<PlanRecord>, AppError> {
    Ok(repo::catalog::list_plans(&state.db, page).await?)
}

/// Puts a project on a plan from an instant (default: now); idempotent per key. The plan must
/// bill in the account's currency.
pub async fn assign_plan(
    state: &AppState,
    request: Idempotent,
    project: ProjectId,
    plan_code: String,
    effective_from: Option<OffsetDateTime>,
    render: impl FnOnce(&PlanAssignment) -> Result<Answer, AppError>,
) -> Result<Done<PlanAssignment>, AppError> {
    let now = state.clock.now();
    idempotency::run(
        state,
        request,
        move |txn| {
            Box::pin(async move {
                insert_assignment(
                    txn,
                    &project,
                    &plan_code,
                    effective_from.unwrap_or(now),
                    now,
                )
                .await
            })
        },
        render,
    )
    .await
}

async fn insert_assignment(
    db: &DatabaseTransaction,
    project: &ProjectId,
    plan_code: &str,
    effective_from: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<PlanAssignment, AppError> {
    let found = repo::accounts::projects::find_any(db, project)
        .await?
        .ok_or(AppError::NotFound)?;
    let unknown_plan =
        || AppError::conflict(ConflictKind::UnknownPlan, "the catalog has no such plan");
    let code = Code::parse(plan_code).map_err(|_| unknown_plan())?;
    let (plan_id, record) = repo::catalog::find_plan(db, &code)
        .await?
        .ok_or_else(unknown_plan)?;
    // The account's row alone: no batch of its usage is in flight while the change cuts the
    // plan runs of its period again (ingestion shares the row).
    let account = repo::accounts::find_locked(db, &found.account_id, AccountLock::Update)
        .await?
        .ok_or(AppError::NotFound)?;
    // A change must fall in a billing period the product keeps (years 2000 to 9998 in the
    // account's offset), as usage does.
    BillingPeriod::containing(effective_from, account.billing_offset)
        .map_err(|e| AppError::validation("effective_from", &e))?;
    record
        .plan
        .check_currency(account.currency)
        .map_err(|e| AppError::conflict(ConflictKind::CurrencyMismatch, e.to_string()))?;
    let assignment = PlanAssignment {
        project: project.clone(),
        plan: code,
        effective_from: normalize(effective_from),
    };
    repo::catalog::assign_plan(db, &assignment, &plan_id, now)
        .await
        .map_err(exists(
            ConflictKind::PlanChangeExists,
            "the project already changes plan at that instant",
        ))?;
    usage::runs::cut_again(
        db,
        project,
        account.billing_offset,
        assignment.effective_from,
    )
    .await?;
    Ok(assignment)
}

/// A project's plan changes, oldest first, paged by the instant of each change (the cursor is
/// that instant in RFC 3339). Instants are compared as instants, never as text: `...00.5Z` is
/// after `...00Z`. A history is short, so it is read whole and cut here.
pub async fn plan_history(
    state: &AppState,
    project: &ProjectId,
    page: &PageRequest,
) -> Result<Page<PlanAssignment>, AppError> {
    let after = match page.after.as_deref() {
        None => None,
        Some(text) => Some(
            OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).map_err(
                |_| {
                    AppError::InvalidParameters(vec![crate::FieldError::new(
                        "starting_after",
                        "invalid",
                        "the cursor of a plan history is the RFC 3339 instant of a plan change",
                    )])
                },
            )?,
        ),
    };
    repo::accounts::projects::find_any(&state.db, project)
        .await?
        .ok_or(AppError::NotFound)?;
    let mut history = repo::catalog::assignments(&state.db, project).await?;
    history.sort_by_key(|a| a.effective_from);
    if let Some(after) = after {
        history.retain(|a| a.effective_from > after);
    }
    Ok(Page::from_overfetch(history, page.limit))
}

/// The cursor of a plan change: its instant in RFC 3339.
pub fn history_cursor(assignment: &PlanAssignment) -> String {
    assignment
        .effective_from
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
