//! Accounts and access: the customer endpoints (the caller's accounts and the projects it may
//! see) here, the operator endpoints (accounts, members, projects, participants) in [`admin`],
//! their wire types in [`wire`].

pub mod admin;
pub mod wire;

pub use admin::configure_admin;

use actix_web::{get, put, web, HttpResponse};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::http::accounts::wire::*;
use crate::http::auth::ReaderParam;
use crate::http::extract::{AccountParam, ProjectParam, ValidJson};
use crate::http::extract::{CursorKey, PageQuery, SearchQuery};
use crate::http::problem::ApiError;
use crate::http::wire::{AccountPath, AccountProjectPath};
use billing_application::accounts::{self, projects};
use billing_application::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_my_accounts)
        .service(get_my_account)
        .service(set_billing_email)
        .service(list_my_projects)
        .service(get_my_project);
}

/// List my accounts
///
/// The accounts the caller belongs to, with its role in each. A token limited to one account
/// lists only that one.
#[utoipa::path(
    tag = "accounts",
    operation_id = "list_my_accounts",
    params(PageQuery),
    responses((status = 200, description = "A page of the caller's accounts", body = MyAccountList)),
    security(("bearer" = []))
)]
#[get("/accounts")]
async fn list_my_accounts(
    ReaderParam(reader): ReaderParam,
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = accounts::list_mine(&state, &reader, &query.to_request(CursorKey::Account)?).await?;
    let data = page
        .items
        .iter()
        .map(|(account, role)| MyAccountResponse {
            account: account.into(),
            role: (*role).into(),
        })
        .collect();
    Ok(HttpResponse::Ok().json(MyAccountList::new(
        data,
        page.has_more,
        CursorKey::Account,
        |a| a.account.id.clone(),
    )))
}

/// Get one of my accounts
///
/// An account the caller does not belong to answers 404, exactly like one that does not exist.
#[utoipa::path(
    tag = "accounts",
    operation_id = "get_my_account",
    params(AccountPath),
    responses((status = 200, description = "The account and the caller's role", body = MyAccountResponse)),
    security(("bearer" = []))
)]
#[get("/accounts/{account_id}")]
async fn get_my_account(
    ReaderParam(reader): ReaderParam,
    state: web::Data<AppState>,
    AccountParam(account): AccountParam,
) -> Result<HttpResponse, ApiError> {
    let (account, role) = accounts::membership_of(&state, &reader, &account).await?;
    Ok(HttpResponse::Ok().json(MyAccountResponse {
        account: (&account).into(),
        role: role.into(),
    }))
}

/// Set the billing email
///
/// Where each finalized invoice is mailed, with its PDF. `null` removes it (invoices are then not
/// mailed). For the account's owner and billing admins; a member gets 403.
#[utoipa::path(
    tag = "accounts",
    operation_id = "set_billing_email",
    params(AccountPath),
    request_body(content = BillingEmailRequest, example = json!({"billing_email": "billing@acme.example"})),
    responses((status = 200, description = "The account with its billing email", body = MyAccountResponse)),
    security(("bearer" = []))
)]
#[put("/accounts/{account_id}/billing-email")]
async fn set_billing_email(
    ReaderParam(reader): ReaderParam,
    state: web::Data<AppState>,
    AccountParam(account): AccountParam,
    body: ValidJson<BillingEmailRequest>,
) -> Result<HttpResponse, ApiError> {
    let (account, role) =
        accounts::set_billing_email(&state, &reader, &account, body.0.billing_email.as_deref())
            .await?;
    Ok(HttpResponse::Ok().json(MyAccountResponse {
        account: (&account).into(),
        role: role.into(),
    }))
}

/// List my projects
///
/// Owners and billing admins see every project of the account; members see the projects they
/// take part in. `billing_permission` says whether the caller sees each project's costs.
#[utoipa::path(
    tag = "projects",
    operation_id = "list_my_projects",
    params(AccountPath, SearchQuery, PageQuery),
    responses((status = 200, description = "A page of projects", body = MyProjectList)),
    security(("bearer" = []))
)]
#[get("/accounts/{account_id}/projects")]
async fn list_my_projects(
    ReaderParam(reader): ReaderParam,
    state: web::Data<AppState>,
    AccountParam(account): AccountParam,
    search: web::Query<SearchQuery>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = projects::list_mine(
        &state,
        &reader,
        &account,
        search.text()?,
        &query.to_request(CursorKey::Project)?,
    )
    .await?;
    let data = page
        .items
        .iter()
        .map(|(project, access)| MyProjectResponse::new(project, *access))
        .collect();
    Ok(HttpResponse::Ok().json(MyProjectList::new(
        data,
        page.has_more,
        CursorKey::Project,
        |p| p.project.id.clone(),
    )))
}

/// Get one of my projects
#[utoipa::path(
    tag = "projects",
    operation_id = "get_my_project",
    params(AccountProjectPath),
    responses((status = 200, description = "The project", body = MyProjectResponse)),
    security(("bearer" = []))
)]
#[get("/accounts/{account_id}/projects/{project_id}")]
async fn get_my_project(
    ReaderParam(reader): ReaderParam,
    state: web::Data<AppState>,
    AccountParam(account): AccountParam,
    ProjectParam(project): ProjectParam,
) -> Result<HttpResponse, ApiError> {
    let (found, access) = projects::get_mine(&state, &reader, &account, &project).await?;
    Ok(HttpResponse::Ok().json(MyProjectResponse::new(&found, access)))
}
