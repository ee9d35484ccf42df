//! Credits (SPEC 6, docs/credits.md): operators issue credit codes, owners and billing admins
//! register them, and finalized invoices consume the credits (soonest expiring first, then the
//! earliest registered, through the invoice assembly) until they run out or expire.
//!
//! Exactly once: registering takes one of the code's registrations with a conditional update,
//! so of two accounts registering a single-use code at once, one gets it; an account registers
//! a code once (a unique constraint). Consumption is written with the invoice, in its
//! transaction, and the database refuses a credit used past what it was charged.
//!
//! Guessing is slowed down: after 10 failed registrations in 15 minutes an account is answered
//! 429 until the oldest of them is 15 minutes old.

use billing_domain::accounts::Account;
use billing_domain::credits::IssuedCode;
use billing_domain::credits::{
    check_registration, counts_for, expiring, CodeState, CreditCode, EntryKind, Refusal, Standing,
    Validity,
};
use billing_domain::credits::{Credit, CreditView};
use billing_domain::invoices::assembly;
use billing_domain::money::{Currency, Money};
use billing_domain::names::{AccountId, CreditCodeId, CreditId};
use billing_domain::page::{Page, PageRequest};
use billing_domain::period::BillingPeriod;
use billing_persistence::db::begin_write;
use billing_persistence::repo;
use billing_persistence::repo::accounts::AccountLock;

use time::{Duration, OffsetDateTime};

use crate::accounts::{billing_reader, Reader};
use crate::error::out_of_range;
use crate::error::{AppError, ConflictKind, FieldError};
use crate::events::Occurred;
use crate::idempotency::{self, Answer, Done, Idempotent};
use crate::state::AppState;

/// Failed registrations an account may make in [`ATTEMPT_WINDOW`].
pub const MAX_FAILED_ATTEMPTS: usize = 10;
pub const ATTEMPT_WINDOW: Duration = Duration::minutes(15);

/// Codes one request may issue.
pub const MAX_BATCH: u32 = 1000;

/// Codes to issue.
pub struct NewCodes {
    pub name: String,
    pub amount: String,
    pub currency: String,
    pub validity: Validity,
    pub max_registrations: u32,
    pub count: u32,
}

fn random_code() -> CreditCode {
    // A v4 UUID's bytes 0-5 and 9-15 are random (6 and 8 carry its version and variant):
    // 13 random bytes from the operating system's generator.
    let uuid = uuid::Uuid::new_v4();
    let b = uuid.as_bytes();
    CreditCode::from_random([
        b[0], b[1], b[2], b[3], b[4], b[5], b[9], b[10], b[11], b[12], b[13], b[14], b[15],
    ])
}

/// Issues `count` codes alike, once per `Idempotency-Key`.
pub async fn issue<R>(
    state: &AppState,
    new: NewCodes,
    request: Idempotent,
    render: R,
) -> Result<Done<Vec<IssuedCode>>, AppError>
where
    R: FnOnce(&Vec<IssuedCode>) -> Result<Answer, AppError>,
{
    let mut errors = Vec::new();
    let currency = Currency::parse(&new.currency)
        .map_err(|e| errors.push(FieldError::domain("currency", &e)))
        .ok();
    let amount = currency.and_then(|c| {
        Money::parse(&new.amount, c)
            .ok()
            .filter(|m| !m.is_negative() && !m.is_zero())
            .or_else(|| {
                errors.push(FieldError::new(
                    "amount",
                    "invalid",
                    "must be a positive amount with at most the currency's minor-unit decimals",
                ));
                None
            })
    });
    if !(1..=MAX_BATCH).contains(&new.count) {
        errors.push(FieldError::new("count", "range", "must be 1 to 1000"));
    }
    if !(1..=1_000_000).contains(&new.max_registrations) {
        errors.push(FieldError::new(
            "max_registrations",
            "range",
            "must be 1 to 1,000,000",
        ));
    }
    let name = new.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 200 {
        errors.push(FieldError::new(
            "name",
            "length",
            "must be 1 to 200 characters",
        ));
    }
    let Some(amount) = amount.filter(|_| errors.is_empty()) else {
        return Err(AppError::Validation(errors));
    };
    let now = state.clock.now();
    let codes: Vec<IssuedCode> = (0..new.count)
        .map(|_| IssuedCode {
            id: CreditCodeId::from_uuid(uuid::Uuid::now_v7()).to_string(),
            code: random_code(),
            name: name.clone(),
            amount,
            validity: new.validity,
            max_registrations: new.max_registrations,
            registrations: 0,
            revoked_at: None,
            created_at: now,
        })
        .collect();
    idempotency::run(
        state,
        request,
        move |txn| {
            Box::pin(async move {
                repo::credits::insert_codes(txn, &codes).await?;
                Ok(codes)
            })
        },
        render,
    )
    .await
}

pub async fn list_codes(
    state: &AppState,
    page: &PageRequest,
) -> Result<Page<IssuedCode>, AppError> {
    Ok(repo::credits::list_codes(&state.db, page).await?)
}

/// Revokes a code (credits registered with it stay): 404 for an unknown one; revoking twice
/// changes nothing.
pub async fn revoke(state: &AppState, id: &CreditCodeId) -> Result<IssuedCode, AppError> {
    repo::credits::revoke(&state.db, id.as_str(), state.clock.now()).await?;
    repo::credits::find_code_by_id(&state.db, id.as_str())
        .await?
        .ok_or(AppError::NotFound)
}

fn refused(refusal: Refusal) -> AppError {
    let (kind, detail) = match refusal {
        Refusal::Unknown => (ConflictKind::CreditCodeUnknown, "no such credit code"),
        Refusal::Revoked => (
            ConflictKind::CreditCodeRevoked,
            "the credit code was revoked",
        ),
        Refusal::Expired => (
            ConflictKind::CreditCodeExpired,
            "the credit code has expired",
        ),
        Refusal::AlreadyRegistered => (
            ConflictKind::CreditCodeAlreadyRegistered,
            "this account registered the credit code already",
        ),
        Refusal::UsedUp => (
            ConflictKind::CreditCodeUsedUp,
            "the credit code was registered as many times as it allows",
        ),
        Refusal::CurrencyMismatch => (
            ConflictKind::CreditCodeCurrencyMismatch,
            "the credit code is in another currency than the account",
        ),
    };
    AppError::conflict(kind, detail)
}

/// Registers a code as a credit of the account (owners and billing admins), once per
/// `Idempotency-Key`. Failed attempts count against the account's limit.
pub async fn register<R>(
    state: &AppState,
    reader: &Reader,
    account_id: &AccountId,
    code: &str,
    request: Idempotent,
    render: R,
) -> Result<Done<Credit>, AppError>
where
    R: FnOnce(&Credit) -> Result<Answer, AppError>,
{
    let account = billing_reader(state, reader, account_id).await?;
    let now = state.clock.now();
    let recent =
        repo::credits::attempts_since(&state.db, &account.id, now - ATTEMPT_WINDOW).await?;
    if recent.len() >= MAX_FAILED_ATTEMPTS {
        let oldest = recent.first().copied().unwrap_or(now);
        let wait = (oldest + ATTEMPT_WINDOW - now).whole_seconds().max(1);
        return Err(AppError::TooManyAttempts {
            retry_after_seconds: u64::try_from(wait).unwrap_or(1),
        });
    }
    let typed = CreditCode::parse(code);
    let events = state.events.clone();
    let outcome = idempotency::run_locked(
        state,
        &account.id,
        request,
        Box::new(move |txn, account| {
            Box::pin(async move {
                let typed = typed.map_err(|_| refused(Refusal::Unknown))?;
                let code = repo::credits::find_code(txn, &typed)
                    .await?
                    .ok_or_else(|| refused(Refusal::Unknown))?;
                let state_of = CodeState {
                    revoked: code.revoked_at.is_some(),
                    amount: code.amount,
                    validity: code.validity,
                    max_registrations: code.max_registrations,
                    registrations: code.registrations,
                    registered_here: repo::credits::registered(txn, &account.id, &code.id).await?,
                };
                let expires_at =
                    check_registration(&state_of, account.currency, account.billing_offset, now)
                        .map_err(refused)?;
                if !repo::credits::take_registration(txn, &code.id).await? {
                    return Err(refused(Refusal::UsedUp));
                }
                let credit = Credit {
                    id: CreditId::from_uuid(uuid::Uuid::now_v7()).to_string(),
                    account: account.id.clone(),
                    code_id: code.id.clone(),
                    name: code.name.clone(),
                    charged: code.amount,
                    used: Money::zero(account.currency),
                    expired: Money::zero(account.currency),
                    registered_at: now,
                    expires_at,
                };
                let entry = format!("cre_{}", uuid::Uuid::now_v7().simple());
                repo::credits::insert_credit(txn, &credit, &entry).await?;
                let view = CreditView::at(credit.clone(), now)
                    .map_err(|e| AppError::Internal(format!("credit {}: {e}", credit.id)))?;
                let registered = Occurred::CreditRegistered(&view);
                crate::events::record(&events, txn, &[(&account, registered)], now).await?;
                Ok(credit)
            })
        }),
        render,
    )
    .await;
    let failed = matches!(
        &outcome,
        Err(AppError::Conflict { kind, .. }) if matches!(
            kind,
            ConflictKind::CreditCodeUnknown
                | ConflictKind::CreditCodeRevoked
                | ConflictKind::CreditCodeExpired
                | ConflictKind::CreditCodeUsedUp
                | ConflictKind::CreditCodeAlreadyRegistered
                | ConflictKind::CreditCodeCurrencyMismatch
        )
    );
    if failed {
        let id = format!("att_{}", uuid::Uuid::now_v7().simple());
        repo::credits::record_attempt(&state.db, &id, &account.id, now).await?;
    }
    outcome
}

/// The credit history (seed 000): the total available credit now, and a page of the
/// account's credits in the order they were registered.
pub struct CreditHistory {
    pub account: Account,
    pub total_available: Money,
    pub credits: Page<CreditView>,
}

pub async fn history(
    state: &AppState,
    reader: &Reader,
    account_id: &AccountId,
    page: &PageRequest,
) -> Result<CreditHistory, AppError> {
    let account = billing_reader(state, reader, account_id).await?;
    let now = state.clock.now();
    // One snapshot: the total and the page agree.
    let txn = billing_persistence::db::begin_read(&state.db).await?;
    let mut total_available = Money::zero(account.currency);
    for credit in repo::credits::of_accounts(&txn, &[&account.id]).await? {
        let available = standing_of(&credit)?.available_at(credit.expires_at, now);
        total_available = total_available
            .checked_add(available)
            .map_err(out_of_range)?;
    }
    let found = repo::credits::list(&txn, &account.id, page).await?;
    txn.commit().await?;
    let credits = found.try_map(|credit| {
        let id = credit.id.clone();
        CreditView::at(credit, now).map_err(|e| AppError::Internal(format!("credit {id}: {e}")))
    })?;
    Ok(CreditHistory {
        account,
        total_available,
        credits,
    })
}

fn standing_of(credit: &Credit) -> Result<Standing, AppError> {
    Standing::of(credit.charged, credit.used, credit.expired)
        .map_err(|e| AppError::Internal(format!("credit {}: {e}", credit.id)))
}

/// The credits an invoice of `period` made at `now` may use, as the assembly takes them (see
/// [`counts_for`]), with what they have left less what `spent` says earlier invoices of the
/// same run took.
pub fn available_for(
    credits: &[Credit],
    period: &BillingPeriod,
    now: OffsetDateTime,
    spent: &std::collections::HashMap<String, Money>,
) -> Result<Vec<assembly::Credit>, AppError> {
    let mut usable = Vec::new();
    for credit in credits {
        if !counts_for(period, credit.registered_at, credit.expires_at, now) {
            continue;
        }
        let mut available = standing_of(credit)?.available;
        if let Some(taken) = spent.get(&credit.id) {
            available = available.checked_sub(*taken).map_err(out_of_range)?;
        }
        if available.is_zero() || available.is_negative() {
            continue;
        }
        usable.push(assembly::Credit {
            id: credit.id.clone(),
            name: credit.name.clone(),
            available,
            expires_at: credit.expires_at,
            registered_at: credit.registered_at,
        });
    }
    Ok(usable)
}

/// Writes off what expired credits had left, each once (with its account locked), once the
/// last invoice that can use them is final: the period ending at their expiry is finalized a
/// grace after it.
pub async fn expire(state: &AppState, now: OffsetDateTime) -> Result<usize, AppError> {
    let mut expired = 0;
    for credit in repo::credits::expiring(&state.db, now - state.finalize_grace).await? {
        let txn = begin_write(&state.db).await?;
        let Some(account) =
            repo::accounts::find_locked(&txn, &credit.account, AccountLock::Update).await?
        else {
            continue;
        };
        let current = repo::credits::of_accounts(&txn, &[&credit.account])
            .await?
            .into_iter()
            .find(|c| c.id == credit.id);
        let Some(current) = current else { continue };
        let Some(remaining) = expiring(&standing_of(&current)?, current.expires_at, now) else {
            continue;
        };
        let entry = format!("cre_{}", uuid::Uuid::now_v7().simple());
        repo::credits::record(
            &txn,
            &entry,
            &current.id,
            EntryKind::Expired,
            remaining,
            None,
            current.expires_at,
        )
        .await?;
        let after = Credit {
            expired: current
                .expired
                .checked_add(remaining)
                .map_err(out_of_range)?,
            ..current
        };
        let view =
            CreditView::at(after, now).map_err(|e| AppError::Internal(format!("credit: {e}")))?;
        let gone = Occurred::CreditExpired(&view);
        crate::events::record(&state.events, &txn, &[(&account, gone)], now).await?;
        txn.commit().await?;
        expired += 1;
    }
    Ok(expired)
}
