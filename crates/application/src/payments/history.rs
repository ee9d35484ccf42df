//! The payment history and its receipts (seed 000): the account's payments in the order they
//! were made, each with the invoice it paid, one payment in detail, and the receipt of a
//! successful one, as JSON and as a PDF. Billing data: the owner and billing admins read it
//! (operators too, as a billing admin would); a member gets 403.

use billing_domain::accounts::Account;
use billing_domain::invoices::FinalizedInvoice;
use billing_domain::invoices::PaymentWithInvoice;
use billing_domain::names::{AccountId, InvoiceId, PaymentId};
use billing_domain::page::{Page, PageRequest};
use billing_domain::payments::PaymentStatus;
use billing_persistence::repo;

use crate::accounts::{billing_reader, Reader};
use crate::error::AppError;
use crate::state::AppState;

/// The account's payments, in the order they were made, each with its invoice.
pub async fn list(
    state: &AppState,
    reader: &Reader,
    account_id: &AccountId,
    page: &PageRequest,
) -> Result<(Account, Page<PaymentWithInvoice>), AppError> {
    // The caller's access and the page are read together (the page by the path's id); the
    // page is answered only once the access is known.
    let (account, payments) =
        futures_util::try_join!(billing_reader(state, reader, account_id), async {
            Ok::<_, AppError>(repo::payments::list(&state.db, account_id, page).await?)
        },)?;
    let ids: Vec<&InvoiceId> = payments.items.iter().map(|p| &p.invoice).collect();
    let invoices: std::collections::HashMap<InvoiceId, FinalizedInvoice> =
        repo::invoices::find_all(&state.db, &account.id, &ids, account.billing_offset)
            .await?
            .into_iter()
            .map(|i| (i.id.clone(), i))
            .collect();
    let page = payments.try_map(|payment| {
        let invoice = invoices
            .get(&payment.invoice)
            .cloned()
            .ok_or_else(|| AppError::Internal("a payment of no invoice".into()))?;
        Ok::<_, AppError>(PaymentWithInvoice { payment, invoice })
    })?;
    Ok((account, page))
}

/// One payment with its invoice.
pub async fn detail(
    state: &AppState,
    reader: &Reader,
    account_id: &AccountId,
    payment_id: &PaymentId,
) -> Result<(Account, PaymentWithInvoice), AppError> {
    let account = billing_reader(state, reader, account_id).await?;
    let found = with_invoice(state, &account, payment_id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok((account, found))
}

/// A payment of the account with the invoice it paid; `None` when the account has no such
/// payment.
pub async fn with_invoice(
    state: &AppState,
    account: &Account,
    payment_id: &PaymentId,
) -> Result<Option<PaymentWithInvoice>, AppError> {
    let Some(payment) = repo::payments::find(&state.db, &account.id, payment_id).await? else {
        return Ok(None);
    };
    let invoice = repo::invoices::find(
        &state.db,
        &account.id,
        &payment.invoice,
        account.billing_offset,
    )
    .await?
    .ok_or_else(|| AppError::Internal("a payment of no invoice".into()))?;
    Ok(Some(PaymentWithInvoice { payment, invoice }))
}

/// The receipt of a successful payment: 404 for one that did not succeed (it has none yet).
pub async fn receipt(
    state: &AppState,
    reader: &Reader,
    account_id: &AccountId,
    payment_id: &PaymentId,
) -> Result<(Account, PaymentWithInvoice), AppError> {
    let (account, found) = detail(state, reader, account_id, payment_id).await?;
    if found.payment.status != PaymentStatus::Successful {
        return Err(AppError::NotFound);
    }
    Ok((account, found))
}

/// The receipt as a PDF, with its file name (`rcpt_....pdf`).
pub async fn receipt_pdf(
    state: &AppState,
    reader: &Reader,
    account_id: &AccountId,
    payment_id: &PaymentId,
) -> Result<(String, Vec<u8>), AppError> {
    let (account, found) = receipt(state, reader, account_id, payment_id).await?;
    let bytes = crate::invoices::pdf::render_receipt(
        &state.seller_name,
        &account,
        &found.invoice,
        &found.payment,
    )?;
    Ok((format!("{}.pdf", found.payment.receipt), bytes))
}
