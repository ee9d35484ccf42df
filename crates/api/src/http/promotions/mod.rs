//! Promotions: operators offer them under a code; owners and billing admins apply a code once
//! the account has a card, and list what they applied.

pub mod wire;

use actix_web::{get, post, web, HttpResponse};
use billing_domain::invoices::assembly::DiscountValue;
use billing_domain::promotions::Applied;
use billing_domain::promotions::Lasting;
use billing_domain::promotions::Offer;

use utoipa_actix_web::service_config::ServiceConfig;

use crate::http::answer::respond;
use crate::http::auth::{Operator, ReaderParam};
use crate::http::extract::{
    AccountParam, CursorKey, Idempotency, IdempotencyKeyHeader, PageQuery, ValidJson,
};
use crate::http::problem::ApiError;
use crate::http::promotions::wire::*;
use crate::http::wire::{date_field, AccountPath, CurrencyCode};
use billing_application::idempotency::{Answer, KeyScope};
use billing_application::promotions::{self, NewOffer, NewValue};
use billing_application::ConflictKind;
use billing_application::{AppState, FieldError};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(apply_promotion)
        .service(list_applied_promotions);
}

pub fn configure_admin(cfg: &mut ServiceConfig) {
    cfg.service(create_promotion).service(list_promotions);
}

fn promotion_response(offer: &Offer) -> PromotionResponse {
    let (percent_off, amount_off, currency) = match offer.value {
        DiscountValue::Percent(p) => (Some(p.normalize().to_string()), None, None),
        DiscountValue::Amount(m) => (
            None,
            Some(m.to_string()),
            Some(CurrencyCode(m.currency().code().to_owned())),
        ),
    };
    let (lasting, months) = match offer.lasting {
        Lasting::Once => (LastingDto::Once, None),
        Lasting::Months(n) => (LastingDto::Months, Some(n)),
        Lasting::Forever => (LastingDto::Forever, None),
    };
    PromotionResponse {
        id: offer.id.to_string(),
        code: offer.code.to_string(),
        name: offer.name.clone(),
        percent_off,
        amount_off,
        currency,
        products: offer
            .products
            .as_ref()
            .map(|p| p.iter().map(ToString::to_string).collect()),
        lasting,
        months,
        last_day: offer.last_day.map(|d| d.to_string()),
        redemption_limit: offer.redemption_limit,
        redemptions: offer.redemptions,
        created_at: offer.created_at,
    }
}

pub(crate) fn applied_response(applied: &Applied) -> AppliedPromotionResponse {
    let remaining = applied.offer.lasting.remaining(applied.discounted);
    AppliedPromotionResponse {
        id: applied.id.to_string(),
        promotion: promotion_response(&applied.offer),
        applied_at: applied.applied_at,
        invoices_discounted: applied.discounted,
        invoices_remaining: remaining,
        active: remaining != Some(0),
    }
}

fn new_offer(body: &CreatePromotionRequest) -> Result<NewOffer, ApiError> {
    let invalid = |field: &str, message: &str| {
        ApiError::Validation(vec![FieldError::new(field, "invalid", message)])
    };
    let value = match (&body.percent_off, &body.amount_off, &body.currency) {
        (Some(percent), None, None) => NewValue::Percent(percent.clone()),
        (None, Some(amount), Some(currency)) => NewValue::Amount {
            amount: amount.clone(),
            currency: currency.0.clone(),
        },
        _ => {
            return Err(invalid(
                "percent_off",
                "give percent_off, or amount_off with its currency",
            ))
        }
    };
    let lasting = match (body.lasting, body.months) {
        (LastingDto::Once, None) => Lasting::Once,
        (LastingDto::Forever, None) => Lasting::Forever,
        (LastingDto::Months, Some(n)) => Lasting::months(n)
            .map_err(|e| ApiError::Validation(vec![FieldError::domain("months", &e)]))?,
        _ => {
            return Err(invalid(
                "months",
                "give months with lasting: months, and only then",
            ))
        }
    };
    let last_day = body
        .last_day
        .as_deref()
        .map(|d| date_field("last_day", d))
        .transpose()?;
    Ok(NewOffer {
        code: body.code.clone(),
        name: body.name.clone(),
        value,
        products: body.products.clone(),
        lasting,
        last_day,
        redemption_limit: body.redemption_limit,
    })
}

/// Offer a promotion
///
/// A percentage or a fixed amount off (maybe only some products' usage), lasting one invoice,
/// N months or for ever, with an optional redemption limit and last day to apply. Honours
/// `Idempotency-Key`.
#[utoipa::path(
    tag = "promotions",
    operation_id = "admin_create_promotion",
    extensions(("x-conflicts" = json!([ConflictKind::PromotionCodeExists.slug()]))),
    params(IdempotencyKeyHeader),
    request_body(content = CreatePromotionRequest, example = json!({
        "code": "SPRING-20", "name": "Spring 20 % off", "percent_off": "20",
        "lasting": "months", "months": 3
    })),
    responses((status = 201, description = "The promotion", body = PromotionResponse)),
    security(("bearer" = ["admin"]))
)]
#[post("/admin/promotions")]
async fn create_promotion(
    operator: Operator,
    state: web::Data<AppState>,
    idempotency: Idempotency,
    body: ValidJson<CreatePromotionRequest>,
) -> Result<HttpResponse, ApiError> {
    let new = new_offer(&body.0)?;
    let request = idempotency.request(KeyScope::Operator(&operator.subject), &body.1);
    let done = promotions::create(&state, new, request, |offer| {
        Answer::created("/v1/admin/promotions".to_owned(), promotion_response(offer))
    })
    .await?;
    Ok(respond(done.answer))
}

/// List promotions
#[utoipa::path(
    tag = "promotions",
    operation_id = "admin_list_promotions",
    params(PageQuery),
    responses((status = 200, description = "A page of promotions, in the order made", body = PromotionList)),
    security(("bearer" = ["admin"]))
)]
#[get("/admin/promotions")]
async fn list_promotions(
    _operator: Operator,
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = promotions::list(&state, &query.to_request(CursorKey::Promotion)?).await?;
    let data: Vec<PromotionResponse> = page.items.iter().map(promotion_response).collect();
    let next_cursor = CursorKey::Promotion.after(page.has_more, data.last().map(|p| p.id.as_str()));
    Ok(HttpResponse::Ok().json(PromotionList {
        data,
        has_more: page.has_more,
        next_cursor,
    }))
}

/// Apply a promotion code
///
/// Only once the account has a payment method (409 `/problems/payment-method-required`). The
/// promotion discounts the invoices of the periods that end after now: the next one, N of
/// them, or all. Each refusal has its own problem `type`: unknown (422), expired, limit
/// reached, already applied, another currency (409). Owners and billing admins; honours
/// `Idempotency-Key`.
#[utoipa::path(
    tag = "promotions",
    operation_id = "apply_promotion",
    extensions(("x-conflicts" = json!([ConflictKind::PromotionCodeUnknown.slug(), ConflictKind::PaymentMethodRequired.slug(), ConflictKind::PromotionExpired.slug(), ConflictKind::PromotionLimitReached.slug(), ConflictKind::PromotionAlreadyApplied.slug(), ConflictKind::PromotionCurrencyMismatch.slug()]))),
    params(AccountPath, IdempotencyKeyHeader),
    request_body(content = ApplyPromotionRequest, example = json!({"code": "SPRING-20"})),
    responses((status = 201, description = "The applied promotion", body = AppliedPromotionResponse,
        links(
            ("ListAppliedPromotions" = (operation_id = "list_applied_promotions", parameters(("account_id" = "$request.path.account_id"))))
        )
    )),
    security(("bearer" = []))
)]
#[post("/accounts/{account_id}/promotions")]
async fn apply_promotion(
    ReaderParam(reader): ReaderParam,
    state: web::Data<AppState>,
    AccountParam(account): AccountParam,
    idempotency: Idempotency,
    body: ValidJson<ApplyPromotionRequest>,
) -> Result<HttpResponse, ApiError> {
    let request = idempotency.request(KeyScope::Account(account.as_str()), &body.1);
    let location = format!("/v1/accounts/{account}/promotions");
    let done = promotions::apply(
        &state,
        &reader,
        &account,
        &body.0.code,
        request,
        |applied| Answer::created(location, applied_response(applied)),
    )
    .await?;
    Ok(respond(done.answer))
}

/// Applied promotions
///
/// The account's promotions, oldest first, each with how many invoices it discounted and how
/// many it has left.
#[utoipa::path(
    tag = "promotions",
    operation_id = "list_applied_promotions",
    params(AccountPath, PageQuery),
    responses((status = 200, description = "A page of the applied promotions", body = AppliedPromotionList)),
    security(("bearer" = []))
)]
#[get("/accounts/{account_id}/promotions")]
async fn list_applied_promotions(
    ReaderParam(reader): ReaderParam,
    state: web::Data<AppState>,
    AccountParam(account): AccountParam,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.to_request(CursorKey::AppliedPromotion)?;
    let applied = promotions::applied(&state, &reader, &account, &page).await?;
    let data: Vec<AppliedPromotionResponse> = applied.items.iter().map(applied_response).collect();
    let next_cursor =
        CursorKey::AppliedPromotion.after(applied.has_more, data.last().map(|a| a.id.as_str()));
    Ok(HttpResponse::Ok().json(AppliedPromotionList {
        data,
        has_more: applied.has_more,
        next_cursor,
    }))
}
