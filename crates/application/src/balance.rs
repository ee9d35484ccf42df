//! The prepaid balance (SPEC 7, seed 002): what the account has prepaid, what it still owes,
//! and the ledger of every deposit, deduction, refund and adjustment with the balance after
//! each. Operators deposit (a customer's transfer) and adjust; payments deduct.

use billing_domain::accounts::Account;
use billing_domain::balance::Entry;
use billing_domain::balance::{apply, EntryKind};
use billing_domain::money::Money;
use billing_domain::names::{AccountId, BalanceEntryId};
use billing_domain::page::{Page, PageRequest};
use billing_domain::DomainError;
use billing_persistence::repo;

use crate::accounts::{billing_reader, Reader};
use crate::error::out_of_range;
use crate::error::AppError;
use crate::events::Occurred;
use crate::idempotency::{self, Answer, Done, Idempotent};
use crate::state::AppState;

/// The balance, the unpaid amount, and a page of the ledger.
pub struct Balance {
    pub account: Account,
    pub balance: Money,
    pub unpaid_amount: Money,
    pub entries: Page<(Entry, Money)>,
}

pub async fn show(
    state: &AppState,
    reader: &Reader,
    account_id: &AccountId,
    page: &PageRequest,
) -> Result<Balance, AppError> {
    let account = billing_reader(state, reader, account_id).await?;
    // One snapshot: the balance and its ledger agree.
    let txn = billing_persistence::db::begin_read(&state.db).await?;
    let money = |minor| Money::from_minor(minor, account.currency).map_err(out_of_range);
    let balance = money(repo::balance::total_minor(&txn, &account.id).await?)?;
    let unpaid_amount = money(repo::invoices::unpaid_minor(&txn, &account.id, None).await?)?;
    let entries = repo::balance::list(&txn, &account.id, page).await?;
    txn.commit().await?;
    Ok(Balance {
        account,
        balance,
        unpaid_amount,
        entries,
    })
}

/// An operator's entry: a deposit, a refund or an adjustment (deductions are made by payments).
pub struct NewEntry {
    pub kind: EntryKind,
    /// Signed as the kind wants: see [`EntryKind::allows`].
    pub amount: String,
    pub description: String,
}

/// Adds an operator's entry to the ledger, once per `Idempotency-Key`. The balance may not go
/// below zero.
pub async fn add_entry<R>(
    state: &AppState,
    account_id: &AccountId,
    new: NewEntry,
    request: Idempotent,
    render: R,
) -> Result<Done<(Entry, Money)>, AppError>
where
    R: FnOnce(&(Entry, Money)) -> Result<Answer, AppError>,
{
    if new.kind == EntryKind::Deduction {
        return Err(AppError::validation(
            "kind",
            &DomainError::InvalidId("operator balance entry (deposit, refund, adjustment)"),
        ));
    }
    let description = new.description.trim().to_owned();
    if description.is_empty() || description.chars().count() > 400 {
        return Err(AppError::validation(
            "description",
            &DomainError::InvalidName {
                what: "a description",
                min: 1,
                max: 400,
            },
        ));
    }
    let now = state.clock.now();
    let events = state.events.clone();
    idempotency::run_locked(
        state,
        account_id,
        request,
        Box::new(move |txn, account| {
            Box::pin(async move {
                let amount = Money::parse(&new.amount, account.currency)
                    .map_err(|e| AppError::validation("amount", &e))?;
                let before = Money::from_minor(
                    repo::balance::total_minor(txn, &account.id).await?,
                    account.currency,
                )
                .map_err(out_of_range)?;
                // Only a negative adjustment could overdraw: refused as invalid, like a deposit
                // of a negative amount. A valid amount that would take the balance past the
                // largest supported amount is a conflict with what the balance holds (409
                // `amount-out-of-range`), as every sum past it is.
                let after = apply(before, new.kind, amount).map_err(|e| match e {
                    DomainError::AmountOutOfRange => out_of_range(e),
                    other => AppError::validation("amount", &other),
                })?;
                let entry = Entry {
                    id: BalanceEntryId::from_uuid(uuid::Uuid::now_v7()),
                    account: account.id.clone(),
                    kind: new.kind,
                    amount,
                    payment: None,
                    description,
                    created_at: now,
                };
                repo::balance::insert(txn, &entry).await?;
                if entry.kind == EntryKind::Deposit {
                    let deposited = Occurred::BalanceDeposited {
                        entry: &entry,
                        balance: after,
                    };
                    crate::events::record(&events, txn, &[(&account, deposited)], now).await?;
                }
                Ok((entry, after))
            })
        }),
        render,
    )
    .await
}
