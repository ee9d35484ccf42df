//! Finalization and the billing run (SPEC 5): once a period has ended and its grace has passed,
//! its invoice is computed by the same assembly as the preview and stored (lines, amounts, and
//! later the consumption of credits and promotions), with a gap-free human number; it is never
//! recomputed.
//!
//! Exactly once: a run finalizes a page of accounts in one transaction that first locks their
//! rows in id order (`FOR UPDATE` on PostgreSQL, which waits for every ingestion of those
//! accounts, each holding a `KEY SHARE` of its account, and holds off the next; the write lock
//! on SQLite), checks which periods have no invoice yet, reads their usage, and stores their
//! invoices; the unique constraint on account and period backs it. An ingestion that committed
//! before is in the invoice; one that comes after sees the period closed and rejects its events
//! as `period_closed`. Two runs at once, in one process or two, finalize each period once.
//!
//! A page is a few statements whatever its size (its accounts, their projects and plans, their
//! usage merged in the database, the invoices, their lines and their mail), and its invoice
//! numbers are one update of the counter taken just before the commit, so the counter row is
//! held briefly and numbers follow commit order without gaps.

use std::collections::{HashMap, HashSet};

use billing_domain::accounts::{Account, Project};
use billing_domain::credits::EntryKind;
use billing_domain::invoices::assembly::Invoice;
use billing_domain::invoices::finalization::{periods_due, ProjectHistory};
use billing_domain::invoices::status::InvoiceStatus;
use billing_domain::invoices::{Finalized, FinalizedInvoice};
use billing_domain::money::Money;
use billing_domain::names::{AccountId, AppliedPromotionId, InvoiceId, ProjectId};
use billing_domain::page::{PageRequest, MAX_PAGE_SIZE};
use billing_domain::period::BillingPeriod;
use billing_persistence::db::begin_write;
use billing_persistence::repo;
use billing_persistence::repo::accounts::AccountLock;
use billing_persistence::repo::invoices::NewInvoice;
use billing_persistence::DatabaseTransaction;
use time::OffsetDateTime;

use crate::credits::available_for;
use crate::error::out_of_range;
use crate::error::{AppError, FieldError};
use crate::events::Occurred;
use crate::invoices::{assemble_charged, payment_state};
use crate::promotions::discounts_for;
use crate::rating::{charge_periods, Catalog, Charged};
use crate::state::AppState;

/// One invoice a run finalized.
#[derive(Clone, Debug)]
pub struct RunFinalized {
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
    pub finalized: Vec<(AccountId, Vec<RunFinalized>)>,
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
    let first = PageRequest {
        limit: MAX_PAGE_SIZE,
        after: None,
    };
    let mut current = next_page(state, Some(first), as_of).await?;
    // Each page is finalized while the next one is read: the round trips of one hide those of
    // the other.
    while let Some((page, after)) = current {
        report.accounts_examined += page.examined;
        let (finalized, next) = tokio::join!(
            finalize_accounts(state, page.due, as_of),
            next_page(state, after, as_of)
        );
        report.finalized.extend(finalized?);
        current = next?;
    }
    Ok(report)
}

/// A page of accounts with the periods due in it: how many accounts it has, the due periods,
/// and the page after it, if any.
struct DuePage {
    examined: u64,
    due: Vec<(AccountId, Vec<BillingPeriod>)>,
}

async fn next_page(
    state: &AppState,
    page: Option<PageRequest>,
    as_of: OffsetDateTime,
) -> Result<Option<(DuePage, Option<PageRequest>)>, AppError> {
    let Some(mut page) = page else {
        return Ok(None);
    };
    let accounts = repo::accounts::list(&state.db, &page).await?;
    let examined = accounts.items.len() as u64;
    let next = match accounts.items.last().filter(|_| accounts.has_more) {
        Some(last) => {
            page.after = Some(last.id.to_string());
            Some(page)
        }
        None => None,
    };
    let due = due_in_page(state, &accounts.items, as_of).await?;
    Ok(Some((DuePage { examined, due }, next)))
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

/// Finalizes these periods of these accounts (ids in ascending order) in one transaction:
/// each period that has no invoice yet once its accounts are locked (another run may have got
/// there first). Answers what it finalized, per account, leaving out accounts with none.
///
/// The steps, each its own function: [`lock`] the accounts and keep the periods still without
/// an invoice, [`price`] their usage, [`apply_discounts_and_credits`] (the assembly),
/// [`number_and_insert`], then [`record_side_effects`] (what promotions and credits gave, the
/// mail), all before the one commit.
pub async fn finalize_accounts(
    state: &AppState,
    due: Vec<(AccountId, Vec<BillingPeriod>)>,
    as_of: OffsetDateTime,
) -> Result<Vec<(AccountId, Vec<RunFinalized>)>, AppError> {
    if due.is_empty() {
        return Ok(Vec::new());
    }
    let txn = begin_write(&state.db).await?;
    let todo = lock(&txn, &due).await?;
    if todo.is_empty() {
        return Ok(Vec::new());
    }
    let charged = price(state, &txn, &todo).await?;
    let drafts = apply_discounts_and_credits(&txn, todo, charged, as_of).await?;
    let numbers = number_and_insert(&txn, &drafts, as_of).await?;
    record_side_effects(state, &txn, &drafts, &numbers, as_of).await?;
    txn.commit()
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(by_account(drafts, numbers))
}

/// A period to finalize: its account (locked) and the account's projects.
struct Due {
    account: Account,
    period: BillingPeriod,
    projects: Vec<Project>,
}

/// An invoice assembled and not yet stored.
struct Draft {
    account: Account,
    period: BillingPeriod,
    id: InvoiceId,
    invoice: Invoice,
    /// The projects' names at finalization.
    names: HashMap<ProjectId, String>,
    /// The applied promotions active for it (each counts against its months).
    promotions: Vec<AppliedPromotionId>,
}

/// Locks the accounts (in id order) and answers every period still without its invoice,
/// oldest first per account, with the account's projects.
async fn lock(
    txn: &DatabaseTransaction,
    due: &[(AccountId, Vec<BillingPeriod>)],
) -> Result<Vec<Due>, AppError> {
    let ids: Vec<&AccountId> = due.iter().map(|(id, _)| id).collect();
    let accounts = repo::accounts::find_all_locked(txn, &ids, AccountLock::Update).await?;
    let offsets: Vec<_> = accounts.iter().map(|a| (&a.id, a.billing_offset)).collect();
    let invoiced = repo::invoices::invoiced_periods_of(txn, &offsets).await?;
    let mut projects = repo::accounts::projects::all_of_accounts(txn, &ids).await?;
    let wanted: HashMap<&AccountId, &Vec<BillingPeriod>> =
        due.iter().map(|(id, periods)| (id, periods)).collect();
    let mut todo = Vec::new();
    for account in &accounts {
        let done = invoiced.get(&account.id);
        let its = projects.remove(&account.id).unwrap_or_default();
        for period in wanted.get(&account.id).copied().into_iter().flatten() {
            if done.is_some_and(|d| d.contains(period)) {
                continue;
            }
            todo.push(Due {
                account: account.clone(),
                period: *period,
                projects: its.clone(),
            });
        }
    }
    Ok(todo)
}

/// Rates every period's usage, in as many statements as one period.
async fn price(
    state: &AppState,
    txn: &DatabaseTransaction,
    todo: &[Due],
) -> Result<Vec<Vec<Charged>>, AppError> {
    let sets = todo
        .iter()
        .map(|d| (d.period, d.projects.clone()))
        .collect();
    let mut catalog = Catalog::cached(state).await?;
    charge_periods(state, txn, &mut catalog, sets).await
}

/// Assembles each invoice with its discounts and credits. Credits are consumed period after
/// period (an account may have several due): what earlier invoices of this page took is taken
/// off before the next; each invoice a promotion discounts counts against its months likewise.
async fn apply_discounts_and_credits(
    txn: &DatabaseTransaction,
    todo: Vec<Due>,
    charged: Vec<Vec<Charged>>,
    as_of: OffsetDateTime,
) -> Result<Vec<Draft>, AppError> {
    let ids: Vec<&AccountId> = todo.iter().map(|d| &d.account.id).collect();
    let (credits, applied) = futures_util::try_join!(
        repo::credits::of_accounts(txn, &ids),
        repo::promotions::applied_of(txn, &ids),
    )?;
    let mut spent: HashMap<String, Money> = HashMap::new();
    let mut counted: HashMap<AppliedPromotionId, u32> = HashMap::new();
    let mut drafts = Vec::with_capacity(todo.len());
    for (
        Due {
            account, period, ..
        },
        charged,
    ) in todo.into_iter().zip(charged)
    {
        let theirs: Vec<_> = credits
            .iter()
            .filter(|c| c.account == account.id)
            .cloned()
            .collect();
        let usable = available_for(&theirs, &period, as_of, &spent)?;
        let their_promotions: Vec<_> = applied
            .iter()
            .filter(|p| p.account == account.id)
            .cloned()
            .collect();
        let discounts = discounts_for(&their_promotions, &period, &counted);
        let promotions: Vec<AppliedPromotionId> = discounts
            .iter()
            .filter_map(|d| AppliedPromotionId::parse(&d.id).ok())
            .collect();
        for id in &promotions {
            *counted.entry(id.clone()).or_insert(0) += 1;
        }
        let a = assemble_charged(&account, charged, &discounts, &usable)?;
        for (credit, used) in a.invoice.credit_used() {
            let total = match spent.get(credit) {
                Some(before) => before.checked_add(used).map_err(out_of_range)?,
                None => used,
            };
            spent.insert(credit.to_owned(), total);
        }
        let names = a
            .projects
            .iter()
            .map(|(id, project)| (id.clone(), project.name.to_string()))
            .collect();
        drafts.push(Draft {
            account,
            period,
            id: InvoiceId::from_uuid(uuid::Uuid::now_v7()),
            invoice: a.invoice,
            names,
            promotions,
        });
    }
    Ok(drafts)
}

/// The invoice to store of a draft numbered `number`.
fn new_invoice<'a>(draft: &'a Draft, number: &'a str, as_of: OffsetDateTime) -> NewInvoice<'a> {
    NewInvoice {
        id: &draft.id,
        account: &draft.account.id,
        period: &draft.period,
        number,
        invoice: &draft.invoice,
        project_names: &draft.names,
        // The invoice is for the period: it is billed as of the period's end, whenever the run
        // happens to finalize it.
        billing_date: draft.period.end(),
        finalized_at: as_of,
    }
}

/// Takes the invoices' gap-free numbers and stores them. The numbers come last, just before
/// the commit: the counter row is locked until then.
async fn number_and_insert(
    txn: &DatabaseTransaction,
    drafts: &[Draft],
    as_of: OffsetDateTime,
) -> Result<Vec<String>, AppError> {
    let count = u32::try_from(drafts.len())
        .map_err(|_| AppError::Internal("too many invoices in one page".into()))?;
    let first = repo::invoices::take_numbers(txn, count).await?;
    let numbers: Vec<String> = (first..)
        .take(drafts.len())
        .map(|n| format!("INV-{n:06}"))
        .collect();
    let new: Vec<NewInvoice<'_>> = drafts
        .iter()
        .zip(&numbers)
        .map(|(draft, number)| new_invoice(draft, number, as_of))
        .collect();
    // The accounts are locked and their invoiced periods checked: a second invoice of a period
    // here is a fault, and the whole page rolls back.
    repo::invoices::insert_all(txn, &new).await?;
    Ok(numbers)
}

/// What finalizing the invoices did besides storing them, in their transaction: what each
/// active promotion discounted, what each credit gave, and the mail to the billing email.
async fn record_side_effects(
    state: &AppState,
    txn: &DatabaseTransaction,
    drafts: &[Draft],
    numbers: &[String],
    as_of: OffsetDateTime,
) -> Result<(), AppError> {
    // What each active promotion discounted each invoice (zero included: the invoice counts
    // against its months).
    for draft in drafts {
        for promotion in &draft.promotions {
            let given = draft
                .invoice
                .discount_given()
                .filter(|(id, _)| *id == promotion.as_str())
                .map(|(_, amount)| amount)
                .next()
                .unwrap_or(Money::zero(draft.invoice.currency));
            repo::promotions::record_discount(txn, promotion, &draft.id, given).await?;
        }
    }
    // What each invoice used of each credit, beside it (the database refuses a credit used
    // past what it was charged).
    for draft in drafts {
        for (credit, used) in draft.invoice.credit_used() {
            let entry = format!("cre_{}", uuid::Uuid::now_v7().simple());
            repo::credits::record(
                txn,
                &entry,
                credit,
                EntryKind::Used,
                used,
                Some(&draft.id),
                as_of,
            )
            .await?;
        }
    }
    // Their `invoice.finalized` events (and so their mail), in the same transaction: both or
    // neither. Each invoice as its GET answers it now: nothing paid yet.
    let finalized: Vec<Finalized> = drafts
        .iter()
        .zip(numbers)
        .map(|(draft, number)| {
            let invoice = FinalizedInvoice {
                id: draft.id.clone(),
                account: draft.account.id.clone(),
                period: draft.period,
                number: number.clone(),
                status: InvoiceStatus::Finalized,
                invoice: draft.invoice.clone(),
                paid: Money::zero(draft.invoice.currency),
                paid_from_balance: Money::zero(draft.invoice.currency),
                billing_date: draft.period.end(),
                finalized_at: as_of,
                project_names: draft.names.clone(),
            };
            let payment = payment_state(state, &invoice, &[])?;
            Ok(Finalized { invoice, payment })
        })
        .collect::<Result<_, AppError>>()?;
    let occurred: Vec<_> = drafts
        .iter()
        .zip(&finalized)
        .map(|(draft, f)| (&draft.account, Occurred::InvoiceFinalized(f)))
        .collect();
    crate::events::record(&state.events, txn, &occurred, state.clock.now()).await
}

/// What was finalized, per account in order.
fn by_account(drafts: Vec<Draft>, numbers: Vec<String>) -> Vec<(AccountId, Vec<RunFinalized>)> {
    let mut by_account: Vec<(AccountId, Vec<RunFinalized>)> = Vec::new();
    for (draft, number) in drafts.into_iter().zip(numbers) {
        let finalized = RunFinalized {
            period: draft.period,
            invoice: draft.id,
            number,
            total: draft.invoice.total,
        };
        match by_account.last_mut() {
            Some((last, list)) if *last == draft.account.id => list.push(finalized),
            _ => by_account.push((draft.account.id, vec![finalized])),
        }
    }
    by_account
}
