//! Credits: operators issue and revoke credit codes; owners and billing admins register them
//! and read the credit history.

pub mod wire;

use actix_web::{get, post, web, HttpResponse};
use billing_domain::credits::Credit;
use billing_domain::credits::IssuedCode;
use billing_domain::credits::{Status, Validity};
use billing_domain::period::BillingOffset;

use utoipa_actix_web::service_config::ServiceConfig;

use crate::http::answer::respond;
use crate::http::auth::{Operator, ReaderParam};
use crate::http::credits::wire::*;
use crate::http::extract::{
    AccountParam, CursorKey, Idempotency, IdempotencyKeyHeader, PageQuery, ValidJson,
};
use crate::http::problem::ApiError;
use crate::http::wire::{date_field, AccountPath, CurrencyCode};
use billing_application::credits::{self, NewCodes};
use billing_application::idempotency::{Answer, KeyScope};
use billing_application::ConflictKind;
use billing_application::{AppState, FieldError};
use billing_domain::credits::CreditView;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(register_credit).service(list_credits);
}

pub fn configure_admin(cfg: &mut ServiceConfig) {
    cfg.service(issue_credit_codes)
        .service(list_credit_codes)
        .service(revoke_credit_code);
}

fn code_response(code: &IssuedCode) -> CreditCodeResponse {
    let (expires_on, valid_days) = match code.validity {
        Validity::Until(date) => (Some(date.to_string()), None),
        Validity::Days(days) => (None, Some(days)),
    };
    CreditCodeResponse {
        id: code.id.clone(),
        code: code.code.to_string(),
        name: code.name.clone(),
        currency: CurrencyCode(code.amount.currency().code().to_owned()),
        amount: code.amount.to_string(),
        expires_on,
        valid_days,
        max_registrations: code.max_registrations,
        registrations: code.registrations,
        revoked_at: code.revoked_at,
        created_at: code.created_at,
    }
}

fn validity(body: &IssueCreditCodesRequest) -> Result<Validity, ApiError> {
    let invalid = |message: &str| {
        ApiError::Validation(vec![FieldError::new("expires_on", "invalid", message)])
    };
    match (&body.expires_on, body.valid_days) {
        (Some(date), None) => date_field("expires_on", date).map(Validity::Until),
        (None, Some(days)) => Validity::days(days)
            .map_err(|e| ApiError::Validation(vec![FieldError::domain("valid_days", &e)])),
        _ => Err(invalid("give either expires_on or valid_days")),
    }
}

/// Issue credit codes
///
/// Issues `count` codes alike (default one): each gives `amount` in `currency` to the account
/// that registers it, until `expires_on` (the end of that day in the account's offset) or for
/// `valid_days` after it is registered, and can be registered by `max_registrations` accounts.
/// Codes are 100 random bits, written in five groups of four symbols without look-alikes.
#[utoipa::path(
    tag = "credits",
    operation_id = "admin_issue_credit_codes",
    params(IdempotencyKeyHeader),
    request_body(content = IssueCreditCodesRequest, example = json!({
        "name": "Welcome credit", "amount": "30000", "currency": "KRW", "valid_days": 90
    })),
    responses((status = 201, description = "The codes issued", body = CreditCodeList,
        links(
            ("RevokeCreditCode" = (operation_id = "admin_revoke_credit_code", parameters(("code_id" = "$response.body#/data/0/id"))))
        )
    )),
    security(("bearer" = ["admin"]))
)]
#[post("/admin/credit-codes")]
async fn issue_credit_codes(
    operator: Operator,
    state: web::Data<AppState>,
    idempotency: Idempotency,
    body: ValidJson<IssueCreditCodesRequest>,
) -> Result<HttpResponse, ApiError> {
    let validity = validity(&body.0)?;
    let request = idempotency.request(KeyScope::Operator(&operator.subject), &body.1);
    let new = NewCodes {
        name: body.0.name.clone(),
        amount: body.0.amount.clone(),
        currency: body.0.currency.0.clone(),
        validity,
        max_registrations: body.0.max_registrations,
        count: body.0.count,
    };
    let done = credits::issue(&state, new, request, |codes| {
        Answer::created(
            "/v1/admin/credit-codes".to_owned(),
            CreditCodeList {
                data: codes.iter().map(code_response).collect(),
                has_more: false,
                next_cursor: None,
            },
        )
    })
    .await?;
    Ok(respond(done.answer))
}

/// List credit codes
#[utoipa::path(
    tag = "credits",
    operation_id = "admin_list_credit_codes",
    params(PageQuery),
    responses((status = 200, description = "A page of credit codes, in the order issued", body = CreditCodeList)),
    security(("bearer" = ["admin"]))
)]
#[get("/admin/credit-codes")]
async fn list_credit_codes(
    _operator: Operator,
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = credits::list_codes(&state, &query.to_request(CursorKey::CreditCode)?).await?;
    let data: Vec<CreditCodeResponse> = page.items.iter().map(code_response).collect();
    let next_cursor =
        CursorKey::CreditCode.after(page.has_more, data.last().map(|c| c.id.as_str()));
    Ok(HttpResponse::Ok().json(CreditCodeList {
        data,
        has_more: page.has_more,
        next_cursor,
    }))
}

/// Revoke a credit code
///
/// The code can no longer be registered; credits already registered with it stay. Revoking
/// again changes nothing.
#[utoipa::path(
    tag = "credits",
    operation_id = "admin_revoke_credit_code",
    params(CreditCodePath),
    responses((status = 200, description = "The revoked code", body = CreditCodeResponse)),
    security(("bearer" = ["admin"]))
)]
#[post("/admin/credit-codes/{code_id}/revoke")]
async fn revoke_credit_code(
    _operator: Operator,
    state: web::Data<AppState>,
    path: web::Path<CreditCodePath>,
) -> Result<HttpResponse, ApiError> {
    let id = billing_domain::names::CreditCodeId::parse(&path.code_id)
        .map_err(|_| ApiError::NotFound)?;
    let code = credits::revoke(&state, &id).await?;
    Ok(HttpResponse::Ok().json(code_response(&code)))
}

pub(crate) fn credit_response(view: &CreditView, offset: BillingOffset) -> CreditResponse {
    let c: &Credit = &view.credit;
    let local = |instant: time::OffsetDateTime| instant.to_offset(offset.utc_offset());
    CreditResponse {
        id: c.id.clone(),
        name: c.name.clone(),
        status: match view.status {
            Status::Active => CreditStatusDto::Active,
            Status::UsedUp => CreditStatusDto::UsedUp,
            Status::Expired => CreditStatusDto::Expired,
        },
        expires_at: local(c.expires_at),
        registered_at: local(c.registered_at),
        charged: c.charged.to_string(),
        used: c.used.to_string(),
        expired: c.expired.to_string(),
        available: view.available.to_string(),
    }
}

/// Register a credit code
///
/// Adds the code's credit to the account (owners and billing admins). Finalized invoices use
/// credits soonest expiring first, then the earliest registered. Each refusal has its own
/// problem `type`: unknown (422), revoked, expired, used up, already registered by this
/// account, another currency (409). After 10 failed attempts in 15 minutes the account is
/// answered 429 with `Retry-After`. Honours `Idempotency-Key`.
#[utoipa::path(
    tag = "credits",
    operation_id = "register_credit",
    extensions(("x-conflicts" = json!([ConflictKind::CreditCodeUnknown.slug(), ConflictKind::CreditCodeRevoked.slug(), ConflictKind::CreditCodeExpired.slug(), ConflictKind::CreditCodeUsedUp.slug(), ConflictKind::CreditCodeAlreadyRegistered.slug(), ConflictKind::CreditCodeCurrencyMismatch.slug()]))),
    params(AccountPath, IdempotencyKeyHeader),
    request_body(content = RegisterCreditRequest, example = json!({"code": "K7QX-M2PD-9HTV-A4WE-3NRC"})),
    responses(
        (status = 201, description = "The credit", body = CreditResponse,
        links(
            ("ListCredits" = (operation_id = "list_credits", parameters(("account_id" = "$request.path.account_id"))))
        )
    ),
        (status = 429, description = "Too many failed attempts (`/problems/too-many-attempts`); `Retry-After` says when to try again", body = crate::http::problem::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
#[post("/accounts/{account_id}/credits")]
async fn register_credit(
    ReaderParam(reader): ReaderParam,
    state: web::Data<AppState>,
    AccountParam(account): AccountParam,
    idempotency: Idempotency,
    body: ValidJson<RegisterCreditRequest>,
) -> Result<HttpResponse, ApiError> {
    let request = idempotency.request(KeyScope::Account(account.as_str()), &body.1);
    let location = format!("/v1/accounts/{account}/credits");
    let now = state.clock.now();
    let done = credits::register(&state, &reader, &account, &body.0.code, request, |credit| {
        let view = CreditView::at(credit.clone(), now)
            .map_err(|e| billing_application::AppError::Internal(format!("credit: {e}")))?;
        // Registered now: UTC here; the history answers instants in the account's offset.
        Answer::created(location, credit_response(&view, BillingOffset::UTC))
    })
    .await?;
    Ok(respond(done.answer))
}

/// Credit history
///
/// The total available credit now, and the account's credits in the order they were registered
/// (seed 000): name, expiration date, registration date, charged, used, expired, what is left
/// and its status.
#[utoipa::path(
    tag = "credits",
    operation_id = "list_credits",
    params(AccountPath, PageQuery),
    responses((status = 200, description = "The credit history", body = CreditHistoryResponse)),
    security(("bearer" = []))
)]
#[get("/accounts/{account_id}/credits")]
async fn list_credits(
    ReaderParam(reader): ReaderParam,
    state: web::Data<AppState>,
    AccountParam(account): AccountParam,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.to_request(CursorKey::Credit)?;
    let history = credits::history(&state, &reader, &account, &page).await?;
    let offset = history.account.billing_offset;
    let data: Vec<CreditResponse> = history
        .credits
        .items
        .iter()
        .map(|v| credit_response(v, offset))
        .collect();
    let next_cursor =
        CursorKey::Credit.after(history.credits.has_more, data.last().map(|c| c.id.as_str()));
    Ok(HttpResponse::Ok().json(CreditHistoryResponse {
        account_id: history.account.id.to_string(),
        currency: CurrencyCode(history.account.currency.code().to_owned()),
        available_credit: history.total_available.to_string(),
        data,
        has_more: history.credits.has_more,
        next_cursor,
    }))
}
