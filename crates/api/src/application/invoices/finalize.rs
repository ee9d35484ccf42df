//! Finalization and the billing run (SPEC 5): once a period has ended and its grace has passed,
//! its invoice is computed by the same assembly as the preview and stored (lines, amounts, and
//! later the consumption of credits and promotions), with a gap-free human number; it is never
//! recomputed.
//!
//! Exactly once: a period is finalized in one transaction that first locks the account row
//! (`FOR UPDATE` on PostgreSQL, which waits for every ingestion of the account, each holding a
//! `KEY SHARE` of it, and holds off the next; the write lock on SQLite), checks that the period
//! has no invoice yet, reads the usage, and stores the invoice; the unique constraint on account
//! and period backs it. An ingestion that committed before is in the invoice; one that comes
//! after sees the period closed and rejects its events as `period_closed`. Two runs at once, in
//! one process or two, finalize each period once.

use std::collections::{HashMap, HashSet};

use billing_domain::accounts::Account;
use billing_domain::invoices::finalization::{periods_due, ProjectHistory};
use billing_domain::money::Money;
use billing_domain::names::{AccountId, InvoiceId};
use billing_domain::period::BillingPeriod;
use billing_persistence::db::begin_write;
use billing_persistence::page::{PageRequest, MAX_PAGE_SIZE};
use billing_persistence::repo;
use billing_persistence::repo::accounts::AccountLock;
use billing_persistence::repo::invoices::NewInvoice;
use billing_persistence::PersistenceError;
use futures_util::{StreamExt, TryStreamExt};
use time::OffsetDateTime;

use crate::application::error::{AppError, FieldError};
use crate::application::invoices::assemble_for;
use crate::application::state::AppState;

/// How many accounts a run finalizes at once (each takes a connection of the pool while it
/// works).
const ACCOUNTS_AT_ONCE: usize = 4;

/// One invoice a run finalized.
#[derive(Clone, Debug)]
pub struct Finalized {
    pub period: BillingPeriod,
    pub invoice: InvoiceId,
    pub number: String,
    pub total: Money,
}

/// What a billing run did: the invoices it finalized, per account (accounts with none are left
/// out), and how many accounts it looked at.
#[derive(Clone, Debug)]
pub struct RunReport {
    pub as_of: OffsetDateTime,
    pub accounts_examined: u64,
    pub finalized: Vec<(AccountId, Vec<Finalized>)>,
}

/// Runs billing as of `as_of`: finalizes every period of every account that ended at least the
/// grace before it. `as_of` is a test clock for the past, never the future.
pub async fn run(state: &AppState, as_of: OffsetDateTime) -> Result<RunReport, AppError> {
    if as_of > state.clock.now() {
        return Err(AppError::Validation(vec![FieldError::new(
            "as_of",
            "future",
            "a billing run cannot be as of a time that has not come yet",
        )]));
    }
    let mut report = RunReport {
        as_of,
        accounts_examined: 0,
        finalized: Vec::new(),
    };
    let mut page = PageRequest {
        limit: MAX_PAGE_SIZE,
        after: None,
    };
    loop {
        let accounts = repo::accounts::list(&state.db, &page).await?;
        report.accounts_examined += accounts.items.len() as u64;
        let next = accounts
            .items
            .last()
            .filter(|_| accounts.has_more)
            .map(|last| last.id.to_string());
        let due = due_in_page(state, &accounts.items, as_of).await?;
        // Accounts are independent: several at once hide the database's round trips. Each
        // period still locks its account, and invoice numbers are taken in commit order.
        let mut done: Vec<(AccountId, Vec<Finalized>)> = futures_util::stream::iter(due)
            .map(move |(account, periods)| async move {
                let mut done = Vec::with_capacity(periods.len());
                for period in periods {
                    if let Some(finalized) = finalize_period(state, &account, period, as_of).await?
                    {
                        done.push(finalized);
                    }
                }
                Ok::<_, AppError>((account, done))
            })
            .buffer_unordered(ACCOUNTS_AT_ONCE)
            .try_collect()
            .await?;
        done.retain(|(_, finalized)| !finalized.is_empty());
        done.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
        report.finalized.extend(done);
        match next {
            Some(after) => page.after = Some(after),
            None => break,
        }
    }
    Ok(report)
}

/// The periods due as of `as_of` of each account of a page, oldest first (accounts with none
/// left out), read in three statements for the whole page: its projects, their plan changes,
/// and the periods already invoiced. Each period is checked again under its lock.
async fn due_in_page(
    state: &AppState,
    accounts: &[Account],
    as_of: OffsetDateTime,
) -> Result<Vec<(AccountId, Vec<BillingPeriod>)>, AppError> {
    let ids: Vec<&AccountId> = accounts.iter().map(|a| &a.id).collect();
    let projects = repo::accounts::projects::all_of_accounts(&state.db, &ids).await?;
    let project_ids: Vec<_> = projects.values().flatten().map(|p| p.id.clone()).collect();
    let assignments = repo::catalog::assignments_of(&state.db, &project_ids).await?;
    let offsets: Vec<_> = accounts.iter().map(|a| (&a.id, a.billing_offset)).collect();
    let invoiced = repo::invoices::invoiced_periods_of(&state.db, &offsets).await?;
    let none = HashSet::new();
    let mut due = Vec::new();
    for account in accounts {
        let histories: Vec<ProjectHistory<'_>> = projects
            .get(&account.id)
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .map(|p| ProjectHistory {
                assignments: assignments.get(&p.id).map_or(&[][..], Vec::as_slice),
                closed_at: p.closed_at,
            })
            .collect();
        let periods = periods_due(
            &histories,
            account.billing_offset,
            as_of,
            state.finalize_grace,
            invoiced.get(&account.id).unwrap_or(&none),
        )
        .map_err(|e| AppError::Internal(format!("periods due: {e}")))?;
        if !periods.is_empty() {
            due.push((account.id.clone(), periods));
        }
    }
    Ok(due)
}

/// Finalizes one period in one transaction; `None` when it already has its invoice (another
/// run got there first).
pub async fn finalize_period(
    state: &AppState,
    account_id: &AccountId,
    period: BillingPeriod,
    as_of: OffsetDateTime,
) -> Result<Option<Finalized>, AppError> {
    let txn = begin_write(&state.db).await?;
    let account = repo::accounts::find_locked(&txn, account_id, AccountLock::Update)
        .await?
        .ok_or(AppError::NotFound)?;
    let invoiced =
        repo::invoices::invoiced_periods(&txn, &account.id, account.billing_offset).await?;
    if invoiced.contains(&period) {
        return Ok(None);
    }
    let projects = repo::accounts::projects::all_of(&txn, &account.id).await?;
    let assembled = assemble_for(state, &txn, &account, &period, projects).await?;
    let number = format!("INV-{:06}", repo::invoices::next_number(&txn).await?);
    let id = InvoiceId::from_uuid(uuid::Uuid::now_v7());
    let names: HashMap<_, _> = assembled
        .projects
        .iter()
        .map(|(id, project)| (id.clone(), project.name.to_string()))
        .collect();
    let new = NewInvoice {
        id: &id,
        account: &account.id,
        period: &period,
        number: &number,
        invoice: &assembled.invoice,
        project_names: &names,
        // The invoice is for the period: it is billed as of the period's end, whenever the run
        // happens to finalize it.
        billing_date: period.end(),
        finalized_at: as_of,
    };
    match repo::invoices::insert(&txn, &new).await {
        Ok(()) => {}
        Err(PersistenceError::AlreadyExists) => return Ok(None),
        Err(other) => return Err(other.into()),
    }
    // Its mail to the billing email, in the same transaction: both or neither.
    crate::application::mail::queue_invoice(&txn, &account, &new, state.clock.now()).await?;
    txn.commit()
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(Some(Finalized {
        period,
        invoice: id,
        number,
        total: assembled.invoice.total,
    }))
}
