//! Invoices (SPEC 5, docs/invoices.md): the preview of an open period ([`preview`]) and the
//! finalization of ended ones by the billing run ([`finalize`]). Both compute the invoice the
//! same way: the same rated charges as the billing table (`charge_periods_with`), the credits
//! of `available_for` and the discounts of `discounts_for`, through [`assemble_charged`] and the
//! domain's one assembly, so a preview and the finalized invoice of the same usage agree to the
//! cent.

pub mod finalize;
pub mod history;
pub mod pdf;
pub mod preview;

use std::collections::HashMap;

use billing_domain::accounts::{Account, Project};
use billing_domain::invoices::assembly::{
    assemble, Credit, Discount, Inputs, Invoice, ProjectCharges,
};
use billing_domain::invoices::status::PaymentState;
use billing_domain::invoices::{Finalized, FinalizedInvoice};
use billing_domain::names::{InvoiceId, ProjectId};
use billing_domain::payments::Payment;
use billing_domain::payments::{attempt_count, last_card_attempt};
use billing_domain::period::BillingPeriod;
use billing_persistence::repo;
use billing_persistence::ConnectionTrait;

use crate::credits::available_for;
use crate::error::out_of_range;
use crate::error::AppError;
use crate::promotions::discounts_for;
use crate::rating::{charge_periods_with, Catalog, Charged};
use crate::state::AppState;
use crate::usage::reads::Billed;

/// An invoice assembled from these projects' charges, with the projects by id.
pub struct Assembled {
    pub invoice: Invoice,
    pub projects: HashMap<ProjectId, Project>,
}

/// The invoice of `period` for the `billed` projects (those whose costs the caller may see,
/// with their plan histories), from their usage read through `db`, the credits finalization
/// would consume (without consuming them) and the promotions it would apply. The three reads
/// do not depend on each other: on a pool, their statements go out together and the request
/// waits once for them, not once each.
pub async fn assemble_open<C: ConnectionTrait>(
    state: &AppState,
    db: &C,
    account: &Account,
    period: &BillingPeriod,
    billed: Billed,
) -> Result<Assembled, AppError> {
    let mut catalog = Catalog::cached(state).await?;
    let accounts = [&account.id];
    let (charged, credits, applied) = futures_util::try_join!(
        charge_periods_with(
            state,
            db,
            &mut catalog,
            vec![(*period, billed.projects)],
            &billed.assignments,
        ),
        async { Ok::<_, AppError>(repo::credits::of_accounts(db, &accounts).await?) },
        async { Ok::<_, AppError>(repo::promotions::applied_of(db, &accounts).await?) },
    )?;
    let charged = charged.into_iter().next().unwrap_or_default();
    let usable = available_for(&credits, period, state.clock.now(), &HashMap::new())?;
    let discounts = discounts_for(&applied, period, &HashMap::new());
    assemble_charged(account, charged, &discounts, &usable)
}

/// The invoice of an account's projects, charged (see [`charge_periods`] for many at once).
///
/// [`charge_periods`]: crate::rating::charge_periods
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
    // The prepaid balance pays when the invoice is charged (payments), not here.
    let invoice = assemble(&Inputs {
        currency: account.currency,
        tax_rate: account.tax_rate,
        charges: &charges,
        discounts,
        credits,
    })
    .map_err(out_of_range)?;
    Ok(Assembled {
        invoice,
        projects: by_id,
    })
}

/// These invoices with their payment states, their payments read in one statement.
pub async fn with_payments<C: ConnectionTrait>(
    state: &AppState,
    db: &C,
    invoices: Vec<FinalizedInvoice>,
) -> Result<Vec<Finalized>, AppError> {
    let ids: Vec<&InvoiceId> = invoices.iter().map(|i| &i.id).collect();
    let payments = repo::payments::of_invoices(db, &ids).await?;
    invoices
        .into_iter()
        .map(|invoice| {
            let own: Vec<&Payment> = payments
                .iter()
                .filter(|p| p.invoice == invoice.id)
                .collect();
            let payment = payment_state(state, &invoice, &own)?;
            Ok(Finalized { invoice, payment })
        })
        .collect()
}

/// What was paid of `invoice` and how, from its `payments`.
pub fn payment_state(
    state: &AppState,
    invoice: &FinalizedInvoice,
    payments: &[&Payment],
) -> Result<PaymentState, AppError> {
    PaymentState::of(
        invoice.status,
        invoice.invoice.total,
        invoice.paid,
        invoice.paid_from_balance,
        attempt_count(payments.iter().copied()),
        state.charge_day.of(&invoice.period),
        last_card_attempt(payments.iter().copied()),
    )
    .map_err(out_of_range)
}
