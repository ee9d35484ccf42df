//! Payments (SPEC 7, docs/payments.md): the account's card, registered by gateway token
//! ([`cards`]); the charge of finalized invoices from the charge day on, with retries, paying an
//! invoice now, and reconciliation after a crash ([`charge`]); the payment history and its
//! receipts ([`history`]); paying an invoice now (here). The gateway is a trait
//! ([`gateway::PaymentGateway`]) chosen by configuration, the built-in sandbox by default.
//!
//! Payments and cards are billing data: the owner and billing admins read and manage them
//! (operators too, as a billing admin would); a member gets 403.

pub mod cards;
pub mod charge;
pub mod gateway;
pub mod history;

use billing_domain::accounts::Account;
use billing_domain::invoices::FinalizedInvoice;
use billing_domain::names::{AccountId, InvoiceId};
use billing_domain::payments::Payment;
use billing_persistence::repo;

use crate::accounts::{billing_reader, Reader};
use crate::error::AppError;
use crate::idempotency::{self, Answer, Done, Idempotent};
use crate::state::AppState;

/// What paying now did: the payments made, and the invoice after them.
pub struct Paid {
    pub account: Account,
    pub invoice: FinalizedInvoice,
    pub payments: Vec<Payment>,
}

/// Pays an invoice now (the owner or a billing admin): the balance first, then the card, as
/// the automatic charge would, whatever the schedule says. Once per `Idempotency-Key`.
pub async fn pay_now<R>(
    state: &AppState,
    reader: &Reader,
    account_id: &AccountId,
    invoice_id: &InvoiceId,
    request: Idempotent,
    render: R,
) -> Result<Done<Paid>, AppError>
where
    R: FnOnce(&Paid) -> Result<Answer, AppError>,
{
    let account = billing_reader(state, reader, account_id).await?;
    idempotency::run_with_calls(
        state,
        request,
        || async {
            let now = state.clock.now();
            let payments =
                charge::charge(state, &account.id, invoice_id, charge::Trigger::Now, now).await?;
            let invoice =
                repo::invoices::find(&state.db, &account.id, invoice_id, account.billing_offset)
                    .await?
                    .ok_or(AppError::NotFound)?;
            Ok(Paid {
                account: account.clone(),
                invoice,
                payments,
            })
        },
        render,
    )
    .await
}
