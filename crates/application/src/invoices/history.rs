//! The billing history (seed 002): an account's finalized invoices with their status, billing
//! date and amounts, the unpaid amount, and each invoice in detail. An invoice is the account's
//! document of every project's charges: owners and billing admins read it (operators too, as a
//! billing admin would); a member, who sees the costs of its own projects only, gets 403. Each
//! invoice is also a PDF ([`pdf`]).

use billing_domain::accounts::Account;
use billing_domain::money::Money;
use billing_domain::names::{AccountId, InvoiceId};
use billing_domain::page::{Page, PageRequest};
use billing_persistence::repo;

use crate::accounts::{billing_reader, Reader};
use crate::error::out_of_range;
use crate::error::AppError;
use billing_domain::invoices::Finalized;

use crate::invoices::with_payments;
use crate::state::AppState;

/// A page of the history and what the account still owes.
pub struct History {
    pub account: Account,
    pub invoices: Page<Finalized>,
    pub unpaid_amount: Money,
}

/// The account's invoices, in the order they were finalized.
pub async fn list(
    state: &AppState,
    reader: &Reader,
    account_id: &AccountId,
    page: &PageRequest,
) -> Result<History, AppError> {
    let account = billing_reader(state, reader, account_id).await?;
    // Independent reads, sent together: the request waits once for both.
    let (invoices, unpaid) = futures_util::try_join!(
        repo::invoices::list(&state.db, &account.id, account.billing_offset, page),
        repo::invoices::unpaid_minor(&state.db, &account.id, None),
    )?;
    let unpaid_amount = Money::from_minor(unpaid, account.currency).map_err(out_of_range)?;
    let Page { items, has_more } = invoices;
    let invoices = Page {
        items: with_payments(state, &state.db, items).await?,
        has_more,
    };
    Ok(History {
        account,
        invoices,
        unpaid_amount,
    })
}

/// One invoice with its lines.
pub async fn detail(
    state: &AppState,
    reader: &Reader,
    account_id: &AccountId,
    invoice_id: &InvoiceId,
) -> Result<(Account, Finalized), AppError> {
    let account = billing_reader(state, reader, account_id).await?;
    let invoice = repo::invoices::find(&state.db, &account.id, invoice_id, account.billing_offset)
        .await?
        .ok_or(AppError::NotFound)?;
    let found = with_payments(state, &state.db, vec![invoice])
        .await?
        .pop()
        .ok_or(AppError::NotFound)?;
    Ok((account, found))
}

/// One invoice as a PDF, with the file name to give it (`INV-000001.pdf`).
pub async fn pdf(
    state: &AppState,
    reader: &Reader,
    account_id: &AccountId,
    invoice_id: &InvoiceId,
) -> Result<(String, Vec<u8>), AppError> {
    let (account, invoice) = detail(state, reader, account_id, invoice_id).await?;
    let bytes = crate::invoices::pdf::render(&state.seller_name, &account, &invoice)?;
    Ok((format!("{}.pdf", invoice.invoice.number), bytes))
}
