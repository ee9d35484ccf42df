//! Operator endpoints (scope `admin`): accounts, their members, projects and participants.

use actix_web::{delete, get, patch, post, put, web, HttpResponse};
use billing_domain::accounts::{AccountChanges, NewAccount};
use billing_domain::money::{Currency, TaxRate};
use billing_domain::names::{AccountName, EmailAddress, ProjectName};
use billing_domain::period::BillingOffset;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::http::accounts::wire::*;
use crate::http::answer::respond;
use crate::http::auth::Operator;
use crate::http::extract::{AccountParam, Idempotency, ProjectParam, UserParam};
use crate::http::extract::{CursorKey, IdempotencyKeyHeader, PageQuery, ValidJson};
use crate::http::problem::ApiError;
use crate::http::wire::*;
use billing_application::accounts::{self, projects};
use billing_application::error::{checked, AppError, FieldCheck};
use billing_application::idempotency::{Answer, KeyScope};
use billing_application::{AppState, ConflictKind};

pub fn configure_admin(cfg: &mut ServiceConfig) {
    cfg.service(create_account)
        .service(list_accounts)
        .service(get_account)
        .service(update_account)
        .service(list_members)
        .service(set_member)
        .service(remove_member)
        .service(create_project)
        .service(list_account_projects)
        .service(get_project)
        .service(update_project)
        .service(list_participants)
        .service(set_participant)
        .service(remove_participant);
}

fn new_account(body: &CreateAccountRequest, state: &AppState) -> Result<NewAccount, AppError> {
    let mut check = FieldCheck::default();
    let name = check.check("name", AccountName::parse(&body.name));
    let currency = check.check("currency", Currency::parse(&body.currency.0));
    let offset = check.optional(
        "billing_utc_offset",
        body.billing_utc_offset.as_deref(),
        BillingOffset::parse,
    );
    let tax_rate = check.optional("tax_rate", body.tax_rate.as_deref(), TaxRate::parse);
    let email = check.optional(
        "billing_email",
        body.billing_email.as_deref(),
        EmailAddress::parse,
    );
    check.finish()?;
    Ok(NewAccount {
        name: checked(name)?,
        currency: checked(currency)?,
        billing_offset: checked(offset)?.unwrap_or(state.default_offset),
        tax_rate: checked(tax_rate)?.unwrap_or(TaxRate::ZERO),
        billing_email: checked(email)?,
    })
}

fn account_changes(body: &UpdateAccountRequest) -> Result<AccountChanges, AppError> {
    let mut check = FieldCheck::default();
    let name = check.optional("name", body.name.as_deref(), AccountName::parse);
    let offset = check.optional(
        "billing_utc_offset",
        body.billing_utc_offset.as_deref(),
        BillingOffset::parse,
    );
    let tax_rate = check.optional("tax_rate", body.tax_rate.as_deref(), TaxRate::parse);
    let email = match &body.billing_email {
        None => Some(None),
        Some(None) => Some(Some(None)),
        Some(Some(text)) => check
            .check("billing_email", EmailAddress::parse(text))
            .map(|e| Some(Some(e))),
    };
    check.finish()?;
    Ok(AccountChanges {
        name: checked(name)?,
        billing_offset: checked(offset)?,
        tax_rate: checked(tax_rate)?,
        billing_email: checked(email)?,
    })
}

/// Open an account
///
/// Creates a customer account billed in one currency, with its billing UTC offset and tax rate.
/// A retry with the same `Idempotency-Key` answers the first result and opens no second account.
#[utoipa::path(
    tag = "accounts",
    operation_id = "admin_create_account",
    params(IdempotencyKeyHeader),
    request_body(content = CreateAccountRequest, example = json!({
        "name": "Acme Korea", "currency": "KRW", "billing_utc_offset": "+09:00",
        "tax_rate": "0.1", "billing_email": "billing@acme.example"
    })),
    responses(
        (status = 201, description = "The new account", body = AccountResponse,
        links(
            ("GetAccount" = (operation_id = "admin_get_account", parameters(("account_id" = "$response.body#/id")))),
            ("UpdateAccount" = (operation_id = "admin_update_account", parameters(("account_id" = "$response.body#/id")))),
            ("ListMembers" = (operation_id = "admin_list_members", parameters(("account_id" = "$response.body#/id")))),
            ("CreateProject" = (operation_id = "admin_create_project", parameters(("account_id" = "$response.body#/id")))),
            ("ListProjects" = (operation_id = "admin_list_projects", parameters(("account_id" = "$response.body#/id")))),
            ("Deposit" = (operation_id = "admin_deposit", parameters(("account_id" = "$response.body#/id"))))
        )
    )
    ),
    security(("bearer" = ["admin"]))
)]
#[post("/admin/accounts")]
async fn create_account(
    operator: Operator,
    state: web::Data<AppState>,
    idempotency: Idempotency,
    body: ValidJson<CreateAccountRequest>,
) -> Result<HttpResponse, ApiError> {
    let new = new_account(&body.0, &state)?;
    let request = idempotency.request(KeyScope::Operator(&operator.subject), &body.1);
    let done = accounts::open(&state, request, new, |account| {
        let location = format!("/v1/admin/accounts/{}", account.id);
        Answer::created(location, AccountResponse::from(account))
    })
    .await?;
    Ok(respond(done.answer))
}

/// List accounts
///
/// Every account, oldest first.
#[utoipa::path(
    tag = "accounts",
    operation_id = "admin_list_accounts",
    params(PageQuery),
    responses((status = 200, description = "A page of accounts", body = AccountList)),
    security(("bearer" = ["admin"]))
)]
#[get("/admin/accounts")]
async fn list_accounts(
    _operator: Operator,
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = accounts::list(&state, &query.to_request(CursorKey::Account)?).await?;
    let data = page.items.iter().map(AccountResponse::from).collect();
    Ok(HttpResponse::Ok().json(AccountList::new(
        data,
        page.has_more,
        CursorKey::Account,
        |a| a.id.clone(),
    )))
}

/// Get an account
#[utoipa::path(
    tag = "accounts",
    operation_id = "admin_get_account",
    params(AccountPath),
    responses((status = 200, description = "The account", body = AccountResponse)),
    security(("bearer" = ["admin"]))
)]
#[get("/admin/accounts/{account_id}")]
async fn get_account(
    _operator: Operator,
    state: web::Data<AppState>,
    AccountParam(account): AccountParam,
) -> Result<HttpResponse, ApiError> {
    let account = accounts::get(&state, &account).await?;
    Ok(HttpResponse::Ok().json(AccountResponse::from(&account)))
}

/// Change an account
///
/// Renames the account or changes its billing offset, tax rate or billing email. The currency
/// cannot change.
#[utoipa::path(
    tag = "accounts",
    operation_id = "admin_update_account",
    extensions(("x-conflicts" = json!([ConflictKind::BillingOffsetLocked.slug()]))),
    params(AccountPath),
    request_body(content = UpdateAccountRequest, example = json!({"tax_rate": "0.1"})),
    responses((status = 200, description = "The changed account", body = AccountResponse)),
    security(("bearer" = ["admin"]))
)]
#[patch("/admin/accounts/{account_id}")]
async fn update_account(
    _operator: Operator,
    state: web::Data<AppState>,
    AccountParam(account): AccountParam,
    body: ValidJson<UpdateAccountRequest>,
) -> Result<HttpResponse, ApiError> {
    let changes = account_changes(&body.0)?;
    let account = accounts::update(&state, &account, changes).await?;
    Ok(HttpResponse::Ok().json(AccountResponse::from(&account)))
}

/// List members
#[utoipa::path(
    tag = "members",
    operation_id = "admin_list_members",
    params(AccountPath, PageQuery),
    responses((status = 200, description = "A page of members, by user id", body = MemberList)),
    security(("bearer" = ["admin"]))
)]
#[get("/admin/accounts/{account_id}/members")]
async fn list_members(
    _operator: Operator,
    state: web::Data<AppState>,
    AccountParam(account): AccountParam,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page =
        accounts::list_members(&state, &account, &query.to_request(CursorKey::User)?).await?;
    let data = page.items.iter().map(MemberResponse::from).collect();
    Ok(
        HttpResponse::Ok().json(MemberList::new(data, page.has_more, CursorKey::User, |m| {
            m.user_id.clone()
        })),
    )
}

/// Add a member or change its role
///
/// Idempotent: putting the same role twice leaves one membership.
#[utoipa::path(
    tag = "members",
    operation_id = "admin_set_member",
    params(AccountUserPath),
    request_body(content = SetMemberRequest, example = json!({"role": "billing_admin"})),
    responses((status = 200, description = "The membership", body = MemberResponse,
        links(
            ("ListMembers" = (operation_id = "admin_list_members", parameters(("account_id" = "$response.body#/account_id"))))
        )
    )),
    security(("bearer" = ["admin"]))
)]
#[put("/admin/accounts/{account_id}/members/{user_id}")]
async fn set_member(
    _operator: Operator,
    state: web::Data<AppState>,
    AccountParam(account): AccountParam,
    UserParam(user): UserParam,
    body: ValidJson<SetMemberRequest>,
) -> Result<HttpResponse, ApiError> {
    let member = accounts::set_member(&state, &account, user, body.0.role.into()).await?;
    Ok(HttpResponse::Ok().json(MemberResponse::from(&member)))
}

/// Remove a member
///
/// The user also leaves every project of the account.
#[utoipa::path(
    tag = "members",
    operation_id = "admin_remove_member",
    params(AccountUserPath),
    responses((status = 204, description = "Removed")),
    security(("bearer" = ["admin"]))
)]
#[delete("/admin/accounts/{account_id}/members/{user_id}")]
async fn remove_member(
    _operator: Operator,
    state: web::Data<AppState>,
    AccountParam(account): AccountParam,
    UserParam(user): UserParam,
) -> Result<HttpResponse, ApiError> {
    accounts::remove_member(&state, &account, &user).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Create a project
///
/// A retry with the same `Idempotency-Key` answers the first result and creates no second project.
#[utoipa::path(
    tag = "projects",
    operation_id = "admin_create_project",
    params(AccountPath, IdempotencyKeyHeader),
    request_body(content = CreateProjectRequest, example = json!({"name": "Production"})),
    responses(
        (status = 201, description = "The new project", body = ProjectResponse,
        links(
            ("GetProject" = (operation_id = "admin_get_project", parameters(("project_id" = "$response.body#/id")))),
            ("UpdateProject" = (operation_id = "admin_update_project", parameters(("project_id" = "$response.body#/id")))),
            ("ListParticipants" = (operation_id = "admin_list_participants", parameters(("project_id" = "$response.body#/id")))),
            ("ListPlans" = (operation_id = "admin_list_project_plans", parameters(("project_id" = "$response.body#/id")))),
            ("AssignPlan" = (operation_id = "admin_assign_plan", parameters(("project_id" = "$response.body#/id"))))
        )
    )
    ),
    security(("bearer" = ["admin"]))
)]
#[post("/admin/accounts/{account_id}/projects")]
async fn create_project(
    operator: Operator,
    state: web::Data<AppState>,
    AccountParam(account): AccountParam,
    idempotency: Idempotency,
    body: ValidJson<CreateProjectRequest>,
) -> Result<HttpResponse, ApiError> {
    let name = ProjectName::parse(&body.0.name).map_err(|e| ApiError::validation("name", &e))?;
    let request = idempotency.request(KeyScope::Operator(&operator.subject), &body.1);
    let done = projects::create(&state, request, account, name, |project| {
        let location = format!("/v1/admin/projects/{}", project.id);
        Answer::created(location, ProjectResponse::from(project))
    })
    .await?;
    Ok(respond(done.answer))
}

/// List an account's projects
#[utoipa::path(
    tag = "projects",
    operation_id = "admin_list_projects",
    params(AccountPath, PageQuery),
    responses((status = 200, description = "A page of projects", body = ProjectList)),
    security(("bearer" = ["admin"]))
)]
#[get("/admin/accounts/{account_id}/projects")]
async fn list_account_projects(
    _operator: Operator,
    state: web::Data<AppState>,
    AccountParam(account): AccountParam,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = projects::list_for_account(&state, &account, &query.to_request(CursorKey::Project)?)
        .await?;
    let data = page.items.iter().map(ProjectResponse::from).collect();
    Ok(HttpResponse::Ok().json(ProjectList::new(
        data,
        page.has_more,
        CursorKey::Project,
        |p| p.id.clone(),
    )))
}

/// Get a project
#[utoipa::path(
    tag = "projects",
    operation_id = "admin_get_project",
    params(ProjectPath),
    responses((status = 200, description = "The project", body = ProjectResponse)),
    security(("bearer" = ["admin"]))
)]
#[get("/admin/projects/{project_id}")]
async fn get_project(
    _operator: Operator,
    state: web::Data<AppState>,
    ProjectParam(project): ProjectParam,
) -> Result<HttpResponse, ApiError> {
    let project = projects::get(&state, &project).await?;
    Ok(HttpResponse::Ok().json(ProjectResponse::from(&project)))
}

/// Rename or close a project
#[utoipa::path(
    tag = "projects",
    operation_id = "admin_update_project",
    extensions(("x-conflicts" = json!([ConflictKind::ProjectClosed.slug()]))),
    params(ProjectPath),
    request_body(content = UpdateProjectRequest, example = json!({"name": "Production (EU)"})),
    responses(
        (status = 200, description = "The changed project", body = ProjectResponse)
    ),
    security(("bearer" = ["admin"]))
)]
#[patch("/admin/projects/{project_id}")]
async fn update_project(
    _operator: Operator,
    state: web::Data<AppState>,
    ProjectParam(project): ProjectParam,
    body: ValidJson<UpdateProjectRequest>,
) -> Result<HttpResponse, ApiError> {
    let name = body
        .0
        .name
        .as_deref()
        .map(ProjectName::parse)
        .transpose()
        .map_err(|e| ApiError::validation("name", &e))?;
    let project = projects::update(&state, &project, name, body.0.closed).await?;
    Ok(HttpResponse::Ok().json(ProjectResponse::from(&project)))
}

/// List a project's participants
#[utoipa::path(
    tag = "participants",
    operation_id = "admin_list_participants",
    params(ProjectPath, PageQuery),
    responses((status = 200, description = "A page of participants, by user id", body = ParticipantList)),
    security(("bearer" = ["admin"]))
)]
#[get("/admin/projects/{project_id}/participants")]
async fn list_participants(
    _operator: Operator,
    state: web::Data<AppState>,
    ProjectParam(project): ProjectParam,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page =
        projects::list_participants(&state, &project, &query.to_request(CursorKey::User)?).await?;
    let data = page.items.iter().map(ParticipantResponse::from).collect();
    Ok(HttpResponse::Ok().json(ParticipantList::new(
        data,
        page.has_more,
        CursorKey::User,
        |p| p.user_id.clone(),
    )))
}

/// Add a participant or change its billing permission
///
/// The user must be a member of the project's account. Idempotent.
#[utoipa::path(
    tag = "participants",
    operation_id = "admin_set_participant",
    extensions(("x-conflicts" = json!([ConflictKind::NotAMember.slug()]))),
    params(ProjectUserPath),
    request_body(content = SetParticipantRequest, example = json!({"billing_permission": true})),
    responses(
        (status = 200, description = "The participant", body = ParticipantResponse,
        links(
            ("ListParticipants" = (operation_id = "admin_list_participants", parameters(("project_id" = "$response.body#/project_id"))))
        )
    )
    ),
    security(("bearer" = ["admin"]))
)]
#[put("/admin/projects/{project_id}/participants/{user_id}")]
async fn set_participant(
    _operator: Operator,
    state: web::Data<AppState>,
    ProjectParam(project): ProjectParam,
    UserParam(user): UserParam,
    body: ValidJson<SetParticipantRequest>,
) -> Result<HttpResponse, ApiError> {
    let participant =
        projects::set_participant(&state, &project, user, body.0.billing_permission).await?;
    Ok(HttpResponse::Ok().json(ParticipantResponse::from(&participant)))
}

/// Remove a participant
#[utoipa::path(
    tag = "participants",
    operation_id = "admin_remove_participant",
    params(ProjectUserPath),
    responses((status = 204, description = "Removed")),
    security(("bearer" = ["admin"]))
)]
#[delete("/admin/projects/{project_id}/participants/{user_id}")]
async fn remove_participant(
    _operator: Operator,
    state: web::Data<AppState>,
    ProjectParam(project): ProjectParam,
    UserParam(user): UserParam,
) -> Result<HttpResponse, ApiError> {
    projects::remove_participant(&state, &project, &user).await?;
    Ok(HttpResponse::NoContent().finish())
}
