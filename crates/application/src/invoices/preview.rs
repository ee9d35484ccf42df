//! The invoice preview: an open month's invoice computed from live usage by the same assembly
//! that finalization uses, over the projects whose costs the caller may see, with the unpaid
//! amount of earlier invoices and, when asked, the lines grouped by project or product.
//!
//! To a caller who manages the account's billing, it also says what the prepaid balance and the
//! card would pay if the invoice were charged now (the balance as it stands, less what the
//! earlier unpaid invoices take of it first, as the charge would take it), and what was already
//! paid.
//!
//! A period already finalized answers with its finalized invoice, never a recomputation from
//! usage: whole to a caller who may see the costs of every project on it; to a member with
//! billing permission on some of them, the frozen lines of those projects, totalled by the same
//! assembly with the invoice's tax rate.

use std::collections::{HashMap, HashSet};

use billing_domain::accounts::Account;
use billing_domain::invoices::assembly::{assemble, Inputs, Invoice, ProjectCharges};
use billing_domain::invoices::finalization::may_be_finalized;
use billing_domain::invoices::groups::{group, Group, GroupBy};
use billing_domain::invoices::FinalizedInvoice;
use billing_domain::money::Money;
use billing_domain::names::{AccountId, InvoiceId, ProjectId};
use billing_domain::payments::forecast;
use billing_domain::period::BillingPeriod;
use billing_persistence::repo;

use crate::accounts::Reader;
use crate::error::out_of_range;
use crate::error::AppError;
use crate::invoices::assemble_open;
use crate::state::AppState;
use crate::usage::reads::billed_projects;

/// The finalized invoice a preview answers with.
pub struct FinalizedRef {
    pub id: InvoiceId,
    pub number: String,
}

pub struct Preview {
    pub account: Account,
    pub period: BillingPeriod,
    pub invoice: Invoice,
    /// Set when the period is finalized: the invoice the figures come from.
    pub finalized: Option<FinalizedRef>,
    /// The names of the projects of the invoice's lines, by id.
    pub project_names: HashMap<ProjectId, String>,
    /// What earlier, finalized invoices still owe.
    pub unpaid_amount: Money,
    /// The lines grouped, when asked.
    pub groups: Option<Vec<Group>>,
    /// How it is paid, to a caller who manages the account's billing (the balance is the
    /// account's, and pays the whole invoice, not a part of it).
    pub payment: Option<PreviewPayment>,
}

/// What was paid of a previewed invoice, and how the rest would be paid if it were charged now.
pub struct PreviewPayment {
    /// Already paid (only a finalized invoice can have been).
    pub amount_paid: Money,
    /// What the prepaid balance would pay of the rest now.
    pub balance_applied: Money,
    /// What the card would be charged now: the rest less the balance applied.
    pub payment_amount: Money,
}

/// Previews the invoice of `period` (`YYYY-MM` in the account's offset; default the current
/// month). Only projects on which the caller has billing permission count (owners, billing
/// admins and operators: all of them).
pub async fn preview(
    state: &AppState,
    reader: &Reader,
    account_id: &AccountId,
    period: Option<&str>,
    group_by: Option<GroupBy>,
) -> Result<Preview, AppError> {
    // The statements go out in rounds, each waiting once for independent reads: first the
    // account with the caller's role, the projects with their plan histories, and what earlier
    // invoices still owe (read by the path's id before the caller's access is known, answered
    // only once it is); then the period's usage, credits and promotions. A period is finalized
    // only once it has ended, so only an ended period's invoice is looked for first.
    let ((account, period, billed), mut unpaid, balance) = futures_util::try_join!(
        billed_projects(state, reader, account_id, period),
        async {
            Ok::<_, AppError>(repo::invoices::unpaid_minor(&state.db, account_id, None).await?)
        },
        async { Ok::<_, AppError>(repo::balance::total_minor(&state.db, account_id).await?) },
    )?;
    let currency = account.currency;
    let money = |minor: i64| Money::from_minor(minor, currency).map_err(out_of_range);
    let manages_billing = billed.manages_billing;
    let stored = if may_be_finalized(&period, state.clock.now()) {
        repo::invoices::find_by_period(&state.db, &account.id, &period).await?
    } else {
        None
    };
    // (amount paid, what it still owes, what earlier invoices owe before it)
    let (invoice, finalized, project_names, owing) = match stored {
        // A finalized period's own invoice is not earlier: it is not in the unpaid amount.
        Some(stored) => {
            let owed = still_owed(&stored)?;
            unpaid -= owed;
            let owing = if manages_billing {
                let before =
                    repo::invoices::unpaid_minor(&state.db, &account.id, Some(&stored.id)).await?;
                Some((stored.paid, money(owed)?, money(before)?))
            } else {
                None
            };
            let visible: HashSet<ProjectId> = billed.projects.into_iter().map(|p| p.id).collect();
            let reference = FinalizedRef {
                id: stored.id.clone(),
                number: stored.number.clone(),
            };
            let names = stored.project_names.clone();
            (part_of(stored, &visible)?, Some(reference), names, owing)
        }
        None => {
            let assembled = assemble_open(state, &state.db, &account, &period, billed).await?;
            let names = assembled
                .projects
                .iter()
                .map(|(id, p)| (id.clone(), p.name.to_string()))
                .collect();
            let total = assembled.invoice.total;
            // Nothing of an open period is paid; every unpaid invoice is earlier.
            let owing = if manages_billing {
                Some((Money::zero(currency), total, money(unpaid)?))
            } else {
                None
            };
            (assembled.invoice, None, names, owing)
        }
    };
    let unpaid_amount = money(unpaid)?;
    let payment = match owing {
        Some((amount_paid, owed, owed_before)) => {
            let split = forecast(money(balance)?, owed_before, owed).map_err(out_of_range)?;
            Some(PreviewPayment {
                amount_paid,
                balance_applied: split.from_balance,
                payment_amount: split.from_card,
            })
        }
        None => None,
    };
    let groups = group_by
        .map(|by| group(&invoice, by))
        .transpose()
        .map_err(out_of_range)?;
    Ok(Preview {
        account,
        period,
        invoice,
        finalized,
        project_names,
        unpaid_amount,
        groups,
        payment,
    })
}

/// What a finalized invoice itself still owes (counted in the account's unpaid amount).
fn still_owed(stored: &FinalizedInvoice) -> Result<i64, AppError> {
    stored
        .status
        .still_owed(stored.invoice.total, stored.paid)
        .and_then(|m| m.to_minor())
        .map_err(out_of_range)
}

/// The finalized invoice as the caller may see it: whole when every project on it is visible,
/// else the frozen lines of the visible projects totalled again with the invoice's tax rate.
fn part_of(stored: FinalizedInvoice, visible: &HashSet<ProjectId>) -> Result<Invoice, AppError> {
    let invoice = stored.invoice;
    let all_visible = invoice
        .lines
        .iter()
        .filter_map(|l| l.project.as_ref())
        .all(|p| visible.contains(p));
    if all_visible {
        return Ok(invoice);
    }
    let mut by_project: HashMap<ProjectId, Vec<billing_domain::catalog::rating::Line>> =
        HashMap::new();
    for line in &invoice.lines {
        if let (Some(project), Some(rated)) = (&line.project, &line.rated) {
            if visible.contains(project) {
                by_project
                    .entry(project.clone())
                    .or_default()
                    .push(rated.clone());
            }
        }
    }
    let charges: Vec<ProjectCharges> = by_project
        .into_iter()
        .map(|(project, lines)| {
            let total = Money::sum(invoice.currency, lines.iter().map(|l| l.amount))?;
            Ok(ProjectCharges {
                project,
                ratings: vec![billing_domain::catalog::rating::Rating { lines, total }],
            })
        })
        .collect::<Result<_, billing_domain::DomainError>>()
        .map_err(out_of_range)?;
    assemble(&Inputs {
        currency: invoice.currency,
        tax_rate: invoice.tax_rate,
        charges: &charges,
        discounts: &[],
        credits: &[],
    })
    .map_err(out_of_range)
}
