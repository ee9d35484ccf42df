//! The prepaid balance: its ledger, and operators' deposits.

pub mod wire;

use actix_web::{get, post, web, HttpResponse};
use billing_domain::balance::Entry;
use billing_domain::balance::EntryKind;
use billing_domain::money::Money;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::http::answer::respond;
use crate::http::auth::{Operator, ReaderParam};
use crate::http::balance::wire::*;
use crate::http::extract::{
    AccountParam, CursorKey, Idempotency, IdempotencyKeyHeader, PageQuery, ValidJson,
};
use crate::http::problem::ApiError;
use crate::http::wire::{AccountPath, CurrencyCode};
use billing_application::balance::{self, NewEntry};
use billing_application::idempotency::{Answer, KeyScope};
use billing_application::{AppState, ConflictKind};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(get_balance);
}

pub fn configure_admin(cfg: &mut ServiceConfig) {
    cfg.service(admin_deposit);
}

pub(crate) fn entry_response(entry: &Entry, after: Money) -> BalanceEntryResponse {
    BalanceEntryResponse {
        id: entry.id.to_string(),
        kind: entry.kind.into(),
        amount: entry.amount.to_string(),
        balance_after: after.to_string(),
        payment_id: entry.payment.as_ref().map(ToString::to_string),
        description: entry.description.clone(),
        created_at: entry.created_at,
    }
}

/// Balance
///
/// The prepaid balance, the unpaid amount (what finalized invoices still owe), and the ledger,
/// oldest first: every deposit, deduction, refund and adjustment with the balance after it, so
/// each payment shows how it was deducted (seed 002). The balance is the sum of the entries and
/// never goes below zero. Owners and billing admins.
#[utoipa::path(
    tag = "balance",
    operation_id = "get_balance",
    params(AccountPath, PageQuery),
    responses((status = 200, description = "The balance and a page of its ledger", body = BalanceResponse)),
    security(("bearer" = []))
)]
#[get("/accounts/{account_id}/balance")]
async fn get_balance(
    ReaderParam(reader): ReaderParam,
    state: web::Data<AppState>,
    AccountParam(account): AccountParam,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.to_request(CursorKey::BalanceEntry)?;
    let found = balance::show(&state, &reader, &account, &page).await?;
    let entries: Vec<BalanceEntryResponse> = found
        .entries
        .items
        .iter()
        .map(|(entry, after)| entry_response(entry, *after))
        .collect();
    let next_cursor = CursorKey::BalanceEntry.after(
        found.entries.has_more,
        entries.last().map(|e| e.id.as_str()),
    );
    Ok(HttpResponse::Ok().json(BalanceResponse {
        account_id: found.account.id.to_string(),
        currency: CurrencyCode(found.account.currency.code().to_owned()),
        balance: found.balance.to_string(),
        unpaid_amount: found.unpaid_amount.to_string(),
        entries,
        has_more: found.entries.has_more,
        next_cursor,
    }))
}

/// Deposit into the balance
///
/// Records money the customer paid in (a bank transfer): a positive amount in the account's
/// currency. The next charge takes invoices from the balance before the card. Honours
/// `Idempotency-Key`.
#[utoipa::path(
    tag = "balance",
    operation_id = "admin_deposit",
    extensions(("x-conflicts" = json!([ConflictKind::AmountOutOfRange.slug()]))),
    params(AccountPath, IdempotencyKeyHeader),
    request_body(content = DepositRequest, example = json!({"amount": "10000", "description": "Bank transfer 2026-11-02"})),
    responses((status = 201, description = "The deposit, with the balance after it", body = BalanceEntryResponse,
        links(
            ("GetBalance" = (operation_id = "get_balance", parameters(("account_id" = "$request.path.account_id"))))
        )
    )),
    security(("bearer" = ["admin"]))
)]
#[post("/admin/accounts/{account_id}/balance/deposits")]
async fn admin_deposit(
    operator: Operator,
    state: web::Data<AppState>,
    AccountParam(account): AccountParam,
    idempotency: Idempotency,
    body: ValidJson<DepositRequest>,
) -> Result<HttpResponse, ApiError> {
    let request = idempotency.request(KeyScope::Operator(&operator.subject), &body.1);
    let new = NewEntry {
        kind: EntryKind::Deposit,
        amount: body.0.amount.clone(),
        description: body.0.description.clone(),
    };
    let path = format!("/v1/accounts/{account}/balance");
    let done = balance::add_entry(&state, &account, new, request, |(entry, after)| {
        Answer::created(path, entry_response(entry, *after))
    })
    .await?;
    Ok(respond(done.answer))
}
