//! Invoices (SPEC 5, docs/invoices.md): the preview of an open period ([`preview`]) and the
//! finalization of ended ones by the billing run ([`finalize`]). Both compute the invoice with
//! [`assemble_open`]: the same rated charges as the billing table, through the domain's one
//! assembly, so a preview and the finalized invoice of the same usage agree to the cent.

pub mod finalize;
pub mod history;
pub mod pdf;
pub mod preview;

use std::collections::HashMap;

use billing_domain::accounts::{Account, Project};
use billing_domain::catalog::PlanAssignment;
use billing_domain::invoices::assembly::{
    assemble, Credit, Discount, Inputs, Invoice, ProjectCharges,
};
use billing_domain::money::Money;
use billing_domain::names::{AccountId, ProjectId};
use billing_domain::period::BillingPeriod;
use billing_persistence::repo;
use billing_persistence::repo::credits::Credit as StoredCredit;
use billing_persistence::repo::promotions::Applied;
use billing_persistence::ConnectionTrait;

use crate::application::credits::available_for;
use crate::application::error::AppError;
use crate::application::promotions::discounts_for;
use crate::application::state::AppState;
use crate::application::usage::reads::{charge_periods_with, out_of_range, Catalog, Charged};

/// An invoice assembled from these projects' charges, with the projects by id.
pub struct Assembled {
    pub invoice: Invoice,
    pub projects: HashMap<ProjectId, Project>,
}

/// What the invoice of an open period is assembled from besides usage: the projects' plan
/// histories, the account's credits and the promotions applied to it.
pub struct OpenInputs {
    pub assignments: HashMap<ProjectId, Vec<PlanAssignment>>,
    pub credits: Vec<StoredCredit>,
    pub applied: Vec<Applied>,
}

/// Reads the [`OpenInputs`] of an account's `projects`: three independent statements, sent
/// together when `db` is the pool, so the request waits once for them, not once each.
pub async fn open_inputs<C: ConnectionTrait>(
    db: &C,
    account: &AccountId,
    projects: &[ProjectId],
) -> Result<OpenInputs, AppError> {
    let accounts = [account];
    let (assignments, credits, applied) = futures_util::try_join!(
        repo::catalog::assignments_of(db, projects),
        repo::credits::of_accounts(db, &accounts),
        repo::promotions::applied_of(db, &accounts),
    )?;
    Ok(OpenInputs {
        assignments,
        credits,
        applied,
    })
}

/// The invoice of `period` for `projects` (those the caller may see, for a preview), from
/// their usage read through `db` and the [`OpenInputs`] read with [`open_inputs`]: the
/// credits finalization would consume (without consuming them) and the promotions it would
/// apply.
pub async fn assemble_open<C: ConnectionTrait>(
    state: &AppState,
    db: &C,
    account: &Account,
    period: &BillingPeriod,
    projects: Vec<Project>,
    inputs: &OpenInputs,
) -> Result<Assembled, AppError> {
    let mut catalog = Catalog::cached(state).await?;
    let charged = charge_periods_with(
        state,
        db,
        &mut catalog,
        vec![(*period, projects)],
        &inputs.assignments,
    )
    .await?
    .pop()
    .unwrap_or_default();
    let usable = available_for(&inputs.credits, period, state.clock.now(), &HashMap::new())?;
    let discounts = discounts_for(&inputs.applied, period, &HashMap::new());
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
