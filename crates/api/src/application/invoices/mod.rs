//! Invoices (SPEC 5, docs/invoices.md): the preview of an open period ([`preview`]) and the
//! finalization of ended ones by the billing run ([`finalize`]). Both compute the invoice with
//! [`assemble_for`]: the same rated charges as the billing table, through the domain's one
//! assembly, so a preview and the finalized invoice of the same usage agree to the cent.

pub mod finalize;
pub mod history;
pub mod pdf;
pub mod preview;

use std::collections::HashMap;

use billing_domain::accounts::{Account, Project};
use billing_domain::invoices::assembly::{
    assemble, Credit, Discount, Inputs, Invoice, ProjectCharges,
};
use billing_domain::money::Money;
use billing_domain::names::ProjectId;
use billing_domain::period::BillingPeriod;
use billing_persistence::repo;
use billing_persistence::ConnectionTrait;

use crate::application::credits::available_for;
use crate::application::error::AppError;
use crate::application::promotions::discounts_for;
use crate::application::state::AppState;
use crate::application::usage::reads::{charge_projects, out_of_range, Catalog, Charged};

/// An invoice assembled from these projects' charges, with the projects by id.
pub struct Assembled {
    pub invoice: Invoice,
    pub projects: HashMap<ProjectId, Project>,
}

/// The invoice of `period` for `projects` (those the caller may see for a preview; every
/// project of the account for finalization), read through `db`.
pub async fn assemble_for<C: ConnectionTrait>(
    state: &AppState,
    db: &C,
    account: &Account,
    period: &BillingPeriod,
    projects: Vec<Project>,
) -> Result<Assembled, AppError> {
    let mut catalog = Catalog::cached(state).await?;
    let charged = charge_projects(state, db, &mut catalog, period, projects).await?;
    // The credits finalization would consume, without consuming them.
    let credits = repo::credits::of_accounts(db, &[&account.id]).await?;
    let usable = available_for(&credits, period, state.clock.now(), &HashMap::new())?;
    // And the promotions it would get.
    let applied = repo::promotions::applied_of(db, &[&account.id]).await?;
    let discounts = discounts_for(&applied, period, &HashMap::new());
    assemble_charged(account, charged, &discounts, &usable)
}

/// The invoice of an account's projects, charged (see [`charge_periods`] for many at once).
///
/// [`charge_periods`]: crate::application::usage::reads::charge_periods
pub fn assemble_charged(
    account: &Account,
    charged: Vec<Charged>,
    discounts: &[Discount],
    credits: &[Credit],
) -> Result<Assembled, AppError> {
    let mut by_id = HashMap::with_capacity(charged.len());
    let mut charges = Vec::with_capacity(charged.len());
    for c in charged {
        charges.push(ProjectCharges {
            project: c.project.id.clone(),
            ratings: c.ratings,
        });
        by_id.insert(c.project.id.clone(), c.project);
    }
    let currency = account.currency;
    // The prepaid balance is applied when the invoice is charged (payments), not here.
    let invoice = assemble(&Inputs {
        currency,
        tax_rate: account.tax_rate,
        charges: &charges,
        discounts,
        credits,
        balance: Money::zero(currency),
    })
    .map_err(out_of_range)?;
    Ok(Assembled {
        invoice,
        projects: by_id,
    })
}
