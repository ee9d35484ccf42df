//! The invoice preview: an open month's invoice computed from live usage by the same assembly
//! that finalization will use, over the projects whose costs the caller may see, with the unpaid
//! amount of earlier invoices and, when asked, the lines grouped by project or product.

use std::collections::HashMap;

use billing_domain::accounts::{Account, Project};
use billing_domain::invoices::assembly::{assemble, Inputs, Invoice, ProjectCharges};
use billing_domain::invoices::groups::{group, Group, GroupBy};
use billing_domain::money::Money;
use billing_domain::names::{AccountId, ProjectId};
use billing_domain::period::BillingPeriod;
use billing_persistence::repo;

use crate::application::accounts::Reader;
use crate::application::error::AppError;
use crate::application::state::AppState;
use crate::application::usage::reads::{billed_projects, charge_projects, out_of_range, Catalog};

pub struct Preview {
    pub account: Account,
    pub period: BillingPeriod,
    pub invoice: Invoice,
    /// The projects of the invoice's lines, by id (for their names).
    pub projects: HashMap<ProjectId, Project>,
    /// What earlier, finalized invoices still owe.
    pub unpaid_amount: Money,
    /// The lines grouped, when asked.
    pub groups: Option<Vec<Group>>,
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
    let (account, period, billed) = billed_projects(state, reader, account_id, period).await?;
    let mut catalog = Catalog::cached(state).await?;
    let charged = charge_projects(state, &mut catalog, &period, billed).await?;
    let mut projects = HashMap::with_capacity(charged.len());
    let mut charges = Vec::with_capacity(charged.len());
    for c in charged {
        charges.push(ProjectCharges {
            project: c.project.id.clone(),
            ratings: c.ratings,
        });
        projects.insert(c.project.id.clone(), c.project);
    }
    let currency = account.currency;
    // Promotions, credits and the prepaid balance arrive with their own issues; the assembly
    // already takes them, so they add inputs here, not a second computation.
    let invoice = assemble(&Inputs {
        currency,
        tax_rate: account.tax_rate,
        charges: &charges,
        discounts: &[],
        credits: &[],
        balance: Money::zero(currency),
    })
    .map_err(out_of_range)?;
    let unpaid = repo::invoices::unpaid_minor(&state.db, &account.id).await?;
    let unpaid_amount = Money::from_minor(unpaid, currency).map_err(out_of_range)?;
    let groups = group_by
        .map(|by| group(&invoice, by))
        .transpose()
        .map_err(out_of_range)?;
    Ok(Preview {
        account,
        period,
        invoice,
        projects,
        unpaid_amount,
        groups,
    })
}
