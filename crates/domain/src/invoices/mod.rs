//! Invoices (SPEC 5): the assembly that the invoice preview and finalization share, the
//! grouping of a preview, which periods are due for finalization, and a finalized invoice as
//! it is kept.

pub mod assembly;
pub mod finalization;
pub mod groups;
pub mod status;

use std::collections::HashMap;

use time::OffsetDateTime;

use crate::invoices::assembly::Invoice;
use crate::invoices::status::InvoiceStatus;
use crate::money::Money;
use crate::names::{AccountId, InvoiceId, ProjectId};
use crate::period::BillingPeriod;

/// A finalized invoice: its number, period and status, the assembled invoice with its frozen
/// lines, and what was paid of it.
#[derive(Clone, Debug)]
pub struct FinalizedInvoice {
    pub id: InvoiceId,
    pub account: AccountId,
    pub period: BillingPeriod,
    pub number: String,
    pub status: InvoiceStatus,
    pub invoice: Invoice,
    /// What the balance and the card have paid of it.
    pub paid: Money,
    /// What the prepaid balance has paid of it (the card paid the rest of `paid`).
    pub paid_from_balance: Money,
    pub billing_date: OffsetDateTime,
    pub finalized_at: OffsetDateTime,
    /// The projects' names at finalization, by id.
    pub project_names: HashMap<ProjectId, String>,
}

/// A finalized invoice with what was paid of it and how, and when it is charged next.
#[derive(Clone, Debug)]
pub struct Finalized {
    pub invoice: FinalizedInvoice,
    pub payment: status::PaymentState,
}

/// A payment with the invoice it paid (the history shows the invoice's amounts beside it).
#[derive(Clone, Debug)]
pub struct PaymentWithInvoice {
    pub payment: crate::payments::Payment,
    pub invoice: FinalizedInvoice,
}
