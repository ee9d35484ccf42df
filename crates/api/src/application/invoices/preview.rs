//! The invoice preview: an open month's invoice computed from live usage by the same assembly
//! that finalization will use, over the projects whose costs the caller may see, with the unpaid
//! amount of earlier invoices and, when asked, the lines grouped by project or product.

use std::collections::HashMap;

use billing_domain::accounts::{Account, Project};
use billing_domain::invoices::assembly::Invoice;
use billing_domain::invoices::groups::{group, Group, GroupBy};
use billing_domain::money::Money;
use billing_domain::names::{AccountId, ProjectId};
use billing_domain::period::BillingPeriod;
use billing_persistence::repo;

use crate::application::accounts::Reader;
use crate::application::error::AppError;
use crate::application::invoices::assemble_for;
use crate::application::state::AppState;
use crate::application::usage::reads::{billed_projects, out_of_range};

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
    let assembled = assemble_for(state, &state.db, &account, &period, billed).await?;
    let (invoice, projects) = (assembled.invoice, assembled.projects);
    let currency = account.currency;
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
