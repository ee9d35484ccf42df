//! Promotions (SPEC 6, docs/promotions.md): operators offer promotions under a code; owners
//! and billing admins apply a code once the account has a card; applied promotions discount the
//! invoices of the periods that end after they were applied (the first N for one lasting N
//! months), through the invoice assembly, as their own negative lines, never below zero.
//!
//! Each finalized invoice records what each active promotion discounted it (zero included), in
//! its transaction: a promotion lasting N months discounts N invoices, however runs overlap.

use billing_domain::promotions::Applied;
use billing_domain::promotions::Offer;
use std::collections::HashMap;

use billing_domain::catalog::Code as ProductCode;
use billing_domain::invoices::assembly::{self, DiscountValue};
use billing_domain::money::{Currency, Money};
use billing_domain::names::{AccountId, AppliedPromotionId, PromotionId};
use billing_domain::page::{Page, PageRequest};
use billing_domain::period::BillingPeriod;
use billing_domain::promotions::{
    check_apply, discounts, ApplyState, Lasting, PromotionCode, Refusal,
};
use billing_persistence::repo;

use billing_persistence::PersistenceError;
use rust_decimal::Decimal;
use time::Date;

use crate::accounts::{billing_reader, Reader};
use crate::error::{AppError, ConflictKind, FieldError};
use crate::events::Occurred;
use crate::idempotency::{self, Answer, Done, Idempotent};
use crate::state::AppState;

/// What a new promotion takes off.
pub enum NewValue {
    Percent(String),
    Amount { amount: String, currency: String },
}

/// A promotion to offer.
pub struct NewOffer {
    pub code: String,
    pub name: String,
    pub value: NewValue,
    pub products: Option<Vec<String>>,
    pub lasting: Lasting,
    pub last_day: Option<Date>,
    pub redemption_limit: Option<u32>,
}

/// Offers a promotion under its code, once per `Idempotency-Key`.
pub async fn create<R>(
    state: &AppState,
    new: NewOffer,
    request: Idempotent,
    render: R,
) -> Result<Done<Offer>, AppError>
where
    R: FnOnce(&Offer) -> Result<Answer, AppError>,
{
    use std::str::FromStr;
    let mut errors = Vec::new();
    let code = PromotionCode::parse(&new.code)
        .map_err(|e| errors.push(FieldError::domain("code", &e)))
        .ok();
    let value = match &new.value {
        NewValue::Percent(text) => Decimal::from_str(text)
            .ok()
            .and_then(|p| DiscountValue::percent(p).ok())
            .or_else(|| {
                errors.push(FieldError::new(
                    "percent_off",
                    "invalid",
                    "must be a percentage more than 0 and at most 100, such as 20 or 12.5",
                ));
                None
            }),
        NewValue::Amount { amount, currency } => Currency::parse(currency)
            .ok()
            .and_then(|c| Money::parse(amount, c).ok())
            .and_then(|m| DiscountValue::amount(m).ok())
            .or_else(|| {
                errors.push(FieldError::new(
                    "amount_off",
                    "invalid",
                    "must be a positive amount with at most the currency's minor-unit decimals",
                ));
                None
            }),
    };
    let products = new
        .products
        .as_ref()
        .map(|codes| {
            codes
                .iter()
                .map(|c| ProductCode::parse(c))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()
        .map_err(|e| errors.push(FieldError::domain("products", &e)))
        .ok()
        .flatten();
    let name = new.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 200 {
        errors.push(FieldError::new(
            "name",
            "length",
            "must be 1 to 200 characters",
        ));
    }
    if new.redemption_limit == Some(0) {
        errors.push(FieldError::new(
            "redemption_limit",
            "range",
            "must be at least 1",
        ));
    }
    let (Some(code), Some(value)) = (code, value) else {
        return Err(AppError::Validation(errors));
    };
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let offer = Offer {
        id: PromotionId::from_uuid(uuid::Uuid::now_v7()),
        code,
        name,
        value,
        products,
        lasting: new.lasting,
        last_day: new.last_day,
        redemption_limit: new.redemption_limit,
        redemptions: 0,
        created_at: state.clock.now(),
    };
    idempotency::run(
        state,
        request,
        move |txn| {
            Box::pin(async move {
                match repo::promotions::insert_offer(txn, &offer).await {
                    Ok(()) => Ok(offer),
                    Err(PersistenceError::AlreadyExists) => Err(AppError::conflict(
                        ConflictKind::PromotionCodeExists,
                        "a promotion with this code exists",
                    )),
                    Err(other) => Err(other.into()),
                }
            })
        },
        render,
    )
    .await
}

pub async fn list(state: &AppState, page: &PageRequest) -> Result<Page<Offer>, AppError> {
    Ok(repo::promotions::list_offers(&state.db, page).await?)
}

fn refused(refusal: Refusal) -> AppError {
    let (kind, detail) = match refusal {
        Refusal::Unknown => (ConflictKind::PromotionCodeUnknown, "no such promotion code"),
        Refusal::PaymentMethodRequired => (
            ConflictKind::PaymentMethodRequired,
            "register a payment method before applying a promotion code",
        ),
        Refusal::Expired => (
            ConflictKind::PromotionExpired,
            "the promotion's last day to apply has passed",
        ),
        Refusal::LimitReached => (
            ConflictKind::PromotionLimitReached,
            "the promotion was applied as many times as it allows",
        ),
        Refusal::AlreadyApplied => (
            ConflictKind::PromotionAlreadyApplied,
            "this account applied the promotion already",
        ),
        Refusal::CurrencyMismatch => (
            ConflictKind::PromotionCurrencyMismatch,
            "the promotion takes off an amount in another currency than the account's",
        ),
    };
    AppError::conflict(kind, detail)
}

/// Applies a promotion code to the account (owners and billing admins, once it has a card),
/// once per `Idempotency-Key`.
pub async fn apply<R>(
    state: &AppState,
    reader: &Reader,
    account_id: &AccountId,
    code: &str,
    request: Idempotent,
    render: R,
) -> Result<Done<Applied>, AppError>
where
    R: FnOnce(&Applied) -> Result<Answer, AppError>,
{
    let account = billing_reader(state, reader, account_id).await?;
    let typed = PromotionCode::parse(code);
    let now = state.clock.now();
    let events = state.events.clone();
    idempotency::run_locked(
        state,
        &account.id,
        request,
        Box::new(move |txn, account| {
            Box::pin(async move {
                let typed = typed.map_err(|_| refused(Refusal::Unknown))?;
                let offer = repo::promotions::find_offer(txn, &typed)
                    .await?
                    .ok_or_else(|| refused(Refusal::Unknown))?;
                let applied_here = repo::promotions::applied_of(txn, &[&account.id])
                    .await?
                    .iter()
                    .any(|a| a.offer.id == offer.id);
                let state_of = ApplyState {
                    last_day: offer.last_day,
                    redemption_limit: offer.redemption_limit,
                    redemptions: offer.redemptions,
                    applied_here,
                    has_payment_method: repo::payments::card(txn, &account.id).await?.is_some(),
                    other_currency: matches!(offer.value, DiscountValue::Amount(m) if m.currency() != account.currency),
                };
                check_apply(&state_of, account.billing_offset, now).map_err(refused)?;
                if !repo::promotions::take_redemption(txn, &offer.id).await? {
                    return Err(refused(Refusal::LimitReached));
                }
                let applied = Applied {
                    id: AppliedPromotionId::from_uuid(uuid::Uuid::now_v7()),
                    account: account.id.clone(),
                    offer,
                    applied_at: now,
                    discounted: 0,
                };
                repo::promotions::insert_applied(txn, &applied).await?;
                let occurred = Occurred::PromotionApplied(&applied);
                crate::events::record(&events, txn, &[(&account, occurred)], now).await?;
                Ok(applied)
            })
        }),
        render,
    )
    .await
}

/// A page of the account's applied promotions, oldest first.
pub async fn applied(
    state: &AppState,
    reader: &Reader,
    account_id: &AccountId,
    page: &PageRequest,
) -> Result<Page<Applied>, AppError> {
    let account = billing_reader(state, reader, account_id).await?;
    Ok(repo::promotions::list_applied(&state.db, &account.id, page).await?)
}

/// The discounts the invoice of `period` gets, as the assembly takes them: each promotion
/// applied before the period ended with invoices left (less what `counted` says earlier
/// invoices of the same run took).
pub fn discounts_for(
    applied: &[Applied],
    period: &BillingPeriod,
    counted: &HashMap<AppliedPromotionId, u32>,
) -> Vec<assembly::Discount> {
    applied
        .iter()
        .filter(|a| {
            let done = a.discounted + counted.get(&a.id).copied().unwrap_or(0);
            discounts(a.offer.lasting, a.applied_at, done, period)
        })
        .map(|a| assembly::Discount {
            id: a.id.to_string(),
            description: format!("{} ({})", a.offer.name, a.offer.code),
            value: a.offer.value,
            products: a.offer.products.clone(),
        })
        .collect()
}
