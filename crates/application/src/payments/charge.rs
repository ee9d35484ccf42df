//! Charging invoices (SPEC 7): the automatic charge from the charge day on, its retries, paying
//! an invoice now, and the reconciliation of charges whose outcome was not recorded.
//!
//! Crash safety: a card payment is written `pending`, with the gateway idempotency key of its
//! invoice and attempt, and committed before the gateway is called; its outcome is recorded
//! after, only while it is still pending. A process killed in between leaves the payment
//! pending, and the next charge run first asks the gateway again with the same key: the gateway
//! charges once per key, so the charge is made once and its outcome recorded once. A pending
//! payment also keeps its invoice from a second attempt until it is settled.
//!
//! Exactly once across processes: each invoice is charged with its account locked (the
//! balance, the pending payment and the invoice's paid amount change together).

use billing_domain::accounts::Account;
use billing_domain::balance::Entry;
use billing_domain::balance::EntryKind;
use billing_domain::invoices::status::InvoiceStatus;
use billing_domain::invoices::{FinalizedInvoice, PaymentWithInvoice};
use billing_domain::money::Money;
use billing_domain::names::{AccountId, BalanceEntryId, InvoiceId, PaymentId, ReceiptId};
use billing_domain::payments::Card;
use billing_domain::payments::Payment;
use billing_domain::payments::{
    gateway_key, is_due, last_card_attempt, split, Decline, PaymentMethodKind, PaymentStatus,
};
use billing_persistence::db::begin_write;
use billing_persistence::repo;
use billing_persistence::repo::accounts::AccountLock;
use billing_persistence::repo::payments::Settlement;
use billing_persistence::DatabaseTransaction;
use time::OffsetDateTime;

use crate::error::out_of_range;
use crate::error::{AppError, ConflictKind};
use crate::events::Occurred;
use crate::payments::gateway::{ChargeOutcome, ChargeRequest, GatewayError};
use crate::state::AppState;

/// Why an invoice is being charged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// The charge run: from the charge day on, then on the retry schedule.
    Schedule,
    /// The customer asked to pay now.
    Now,
}

/// What one charge run did.
#[derive(Clone, Debug, Default)]
pub struct ChargeReport {
    /// Pending payments settled by asking the gateway again.
    pub reconciled: Vec<Payment>,
    /// The payments made, per invoice.
    pub payments: Vec<Payment>,
}

/// Invoices looked at per read.
const PAGE: u64 = 100;

/// Charges every invoice that is due as of `as_of`, after settling pending payments. `as_of` is
/// the run's clock: payments made are dated with it.
pub async fn run(state: &AppState, as_of: OffsetDateTime) -> Result<ChargeReport, AppError> {
    let mut report = ChargeReport {
        reconciled: reconcile(state, as_of).await?,
        payments: Vec::new(),
    };
    let mut after: Option<InvoiceId> = None;
    loop {
        let owing = repo::invoices::owing(&state.db, after.as_ref(), PAGE).await?;
        let Some(last) = owing.last() else {
            break;
        };
        after = Some(last.id.clone());
        // Which are due, read without locking anything: most owing invoices are not (before
        // their charge day, after a hard decline, between retries). Each due one is checked
        // again under its account's lock.
        let ids: Vec<&InvoiceId> = owing.iter().map(|o| &o.id).collect();
        let payments = repo::payments::of_invoices(&state.db, &ids).await?;
        for invoice in &owing {
            let earlier: Vec<&Payment> = payments
                .iter()
                .filter(|p| p.invoice == invoice.id)
                .collect();
            if !is_due(
                state.charge_day.of(&invoice.period),
                last_card_attempt(earlier.iter().copied()),
                as_of,
            ) {
                continue;
            }
            match charge(
                state,
                &invoice.account,
                &invoice.id,
                Trigger::Schedule,
                as_of,
            )
            .await
            {
                Ok(made) => report.payments.extend(made),
                // Another run is charging it, or paid it: nothing to do here.
                Err(AppError::Conflict { .. }) => {}
                Err(other) => return Err(other),
            }
        }
        if (owing.len() as u64) < PAGE {
            break;
        }
    }
    Ok(report)
}

/// Settles every pending card payment: the gateway is asked again with the payment's key, and
/// answers the charge it made (or makes it now, once).
pub async fn reconcile(state: &AppState, at: OffsetDateTime) -> Result<Vec<Payment>, AppError> {
    let mut settled = Vec::new();
    for payment in repo::payments::pending(&state.db).await? {
        let (Some(key), Some(method)) = (&payment.gateway_key, &payment.payment_method) else {
            continue;
        };
        let Some(card) = repo::payments::card_by_id(&state.db, method).await? else {
            continue;
        };
        let outcome = state
            .gateway
            .charge(
                &ChargeRequest {
                    key,
                    token: &card.token,
                    amount: payment.amount,
                },
                at,
            )
            .await;
        if let Some(done) = record_outcome(state, &payment, outcome, at).await? {
            settled.push(done);
        }
    }
    Ok(settled)
}

/// Charges what `invoice` still owes: the prepaid balance first, then the card. Answers the
/// payments made (none when nothing was due yet). A conflict when the invoice owes nothing or
/// a payment of it is under way.
///
/// The steps: [`owing`] (the account locked, what the invoice owes and how it splits),
/// [`pay_from_balance`], then, for what is left, [`no_card`] when there is none, or the card
/// payment written pending and committed ([`pending_card_payment`]) before the gateway is
/// called, and its outcome recorded ([`record_outcome`]).
pub async fn charge(
    state: &AppState,
    account_id: &AccountId,
    invoice_id: &InvoiceId,
    trigger: Trigger,
    at: OffsetDateTime,
) -> Result<Vec<Payment>, AppError> {
    let txn = begin_write(&state.db).await?;
    let Some(owing) = owing(state, &txn, account_id, invoice_id, trigger, at).await? else {
        return Ok(Vec::new());
    };
    let mut made = Vec::new();
    let from_balance = pay_from_balance(&txn, &owing, at).await?;
    let paid_now = from_balance
        .as_ref()
        .map_or(Money::zero(owing.account.currency), |p| p.amount);
    made.extend(from_balance);
    if owing.split.from_card.is_zero() {
        let status = owing
            .invoice
            .status
            .after_paying(owing.owed, paid_now)
            .map_err(out_of_range)?;
        record_paid(
            &txn,
            &owing.invoice,
            paid_now,
            PaymentMethodKind::Balance,
            status,
        )
        .await?;
        announce(state, &txn, &owing.account, &owing.invoice.id, &made).await?;
        txn.commit().await?;
        return Ok(made);
    }
    let Some(card) = repo::payments::card(&txn, &owing.account.id).await? else {
        made.push(no_card(state, &txn, &owing, paid_now, at).await?);
        announce(state, &txn, &owing.account, &owing.invoice.id, &made).await?;
        txn.commit().await?;
        return Ok(made);
    };
    let payment = pending_card_payment(&txn, &owing, &card, paid_now, at).await?;
    // Pending, with its key, before the gateway is called.
    announce(state, &txn, &owing.account, &owing.invoice.id, &made).await?;
    txn.commit().await?;
    let key = payment.gateway_key.clone().unwrap_or_default();
    let outcome = state
        .gateway
        .charge(
            &ChargeRequest {
                key: &key,
                token: &card.token,
                amount: payment.amount,
            },
            at,
        )
        .await;
    made.push(
        record_outcome(state, &payment, outcome, at)
            .await?
            .unwrap_or(payment),
    );
    Ok(made)
}

/// An invoice being charged, with its account locked: what it owes, how that splits between
/// the balance and the card, and which attempt this is.
struct Owing {
    account: Account,
    invoice: FinalizedInvoice,
    owed: Money,
    earlier: Vec<Payment>,
    attempt: u32,
    /// The balance before this charge.
    balance: Money,
    split: billing_domain::payments::Split,
}

/// Locks the account and reads what the invoice owes: `None` when the charge run finds it not
/// due yet; a conflict when it owes nothing or a payment of it is under way.
async fn owing(
    state: &AppState,
    txn: &DatabaseTransaction,
    account_id: &AccountId,
    invoice_id: &InvoiceId,
    trigger: Trigger,
    at: OffsetDateTime,
) -> Result<Option<Owing>, AppError> {
    let account = repo::accounts::find_locked(txn, account_id, AccountLock::Update)
        .await?
        .ok_or(AppError::NotFound)?;
    let invoice = repo::invoices::find(txn, &account.id, invoice_id, account.billing_offset)
        .await?
        .ok_or(AppError::NotFound)?;
    let owed = invoice
        .status
        .still_owed(invoice.invoice.total, invoice.paid)
        .map_err(out_of_range)?;
    if owed.is_zero() || owed.is_negative() {
        return Err(AppError::conflict(
            ConflictKind::InvoicePaid,
            "the invoice owes nothing",
        ));
    }
    let earlier = repo::payments::of_invoices(txn, &[&invoice.id]).await?;
    if earlier.iter().any(|p| p.status == PaymentStatus::Pending) {
        return Err(AppError::conflict(
            ConflictKind::PaymentInProgress,
            "a payment of this invoice is under way",
        ));
    }
    if trigger == Trigger::Schedule && !due(state, &invoice, &earlier, at) {
        return Ok(None);
    }
    let attempt = earlier.iter().map(|p| p.attempt).max().unwrap_or(0) + 1;
    let balance = Money::from_minor(
        repo::balance::total_minor(txn, &account.id).await?,
        account.currency,
    )
    .map_err(out_of_range)?;
    let split = split(owed, balance).map_err(out_of_range)?;
    Ok(Some(Owing {
        account,
        invoice,
        owed,
        earlier,
        attempt,
        balance,
        split,
    }))
}

/// The balance's part: a successful payment, its ledger deduction and its receipt's mail.
async fn pay_from_balance(
    txn: &DatabaseTransaction,
    owing: &Owing,
    at: OffsetDateTime,
) -> Result<Option<Payment>, AppError> {
    let amount = owing.split.from_balance;
    if amount.is_zero() {
        return Ok(None);
    }
    // The ledger's rule: a deduction never takes the balance below zero.
    billing_domain::balance::apply(owing.balance, EntryKind::Deduction, amount.negate())
        .map_err(out_of_range)?;
    let payment = Payment {
        status: PaymentStatus::Successful,
        amount,
        paid_at: Some(at),
        ..new_payment(owing, PaymentMethodKind::Balance, at)
    };
    repo::payments::insert(txn, &payment).await?;
    repo::balance::insert(
        txn,
        &Entry {
            id: BalanceEntryId::from_uuid(uuid::Uuid::now_v7()),
            account: owing.account.id.clone(),
            kind: EntryKind::Deduction,
            amount: amount.negate(),
            payment: Some(payment.id.clone()),
            description: format!("Payment of invoice {}", owing.invoice.number),
            created_at: at,
        },
    )
    .await?;
    Ok(Some(payment))
}

/// No card to charge the rest to: a soft failure, retried on the schedule (a card may be
/// added); what the balance paid stays paid.
async fn no_card(
    state: &AppState,
    txn: &DatabaseTransaction,
    owing: &Owing,
    paid_now: Money,
    at: OffsetDateTime,
) -> Result<Payment, AppError> {
    let first = first_attempt_at(&owing.earlier, at);
    let payment = Payment {
        status: PaymentStatus::Failed,
        amount: owing.split.from_card,
        failure_code: Some("no_payment_method".into()),
        decline: Some(Decline::Soft),
        next_attempt_at: state
            .retries
            .next_attempt(first, owing.attempt, Decline::Soft),
        ..new_payment(owing, PaymentMethodKind::Card, at)
    };
    repo::payments::insert(txn, &payment).await?;
    let status = owing.invoice.status.after_failed_charge();
    record_paid(
        txn,
        &owing.invoice,
        paid_now,
        PaymentMethodKind::Balance,
        status,
    )
    .await?;
    Ok(payment)
}

/// The card's part, written pending with its gateway key (the invoice records what the
/// balance paid beside it).
async fn pending_card_payment(
    txn: &DatabaseTransaction,
    owing: &Owing,
    card: &Card,
    paid_now: Money,
    at: OffsetDateTime,
) -> Result<Payment, AppError> {
    let payment = Payment {
        payment_method: Some(card.id.clone()),
        method_label: Some(label(card)),
        gateway_key: Some(gateway_key(owing.invoice.id.as_str(), owing.attempt)),
        amount: owing.split.from_card,
        ..new_payment(owing, PaymentMethodKind::Card, at)
    };
    repo::payments::insert(txn, &payment).await?;
    if !paid_now.is_zero() {
        record_paid(
            txn,
            &owing.invoice,
            paid_now,
            PaymentMethodKind::Balance,
            owing.invoice.status,
        )
        .await?;
    }
    Ok(payment)
}

/// Whether the charge run charges `invoice` now (see [`is_due`]).
fn due(
    state: &AppState,
    invoice: &FinalizedInvoice,
    earlier: &[Payment],
    at: OffsetDateTime,
) -> bool {
    is_due(
        state.charge_day.of(&invoice.period),
        last_card_attempt(earlier.iter()),
        at,
    )
}

fn first_attempt_at(earlier: &[Payment], now: OffsetDateTime) -> OffsetDateTime {
    earlier
        .iter()
        .filter(|p| p.method == PaymentMethodKind::Card)
        .map(|p| p.created_at)
        .min()
        .unwrap_or(now)
}

fn new_payment(owing: &Owing, method: PaymentMethodKind, at: OffsetDateTime) -> Payment {
    Payment {
        id: PaymentId::from_uuid(uuid::Uuid::now_v7()),
        account: owing.account.id.clone(),
        invoice: owing.invoice.id.clone(),
        receipt: ReceiptId::from_uuid(uuid::Uuid::now_v7()),
        method,
        payment_method: None,
        method_label: None,
        attempt: owing.attempt,
        gateway_key: None,
        status: PaymentStatus::Pending,
        amount: Money::zero(owing.account.currency),
        failure_code: None,
        decline: None,
        next_attempt_at: None,
        created_at: at,
        paid_at: None,
    }
}

/// What the customer sees of a card: "visa ending 4242, 12/2030".
pub fn label(card: &Card) -> String {
    format!(
        "{} ending {}, {:02}/{}",
        card.brand, card.last4, card.exp_month, card.exp_year
    )
}

/// Records what `method` paid of `invoice` (zero to change only its status).
async fn record_paid(
    txn: &DatabaseTransaction,
    invoice: &FinalizedInvoice,
    amount: Money,
    method: PaymentMethodKind,
    status: InvoiceStatus,
) -> Result<(), AppError> {
    let minor = amount.to_minor().map_err(out_of_range)?;
    repo::invoices::record_payment(txn, &invoice.id, minor, method, status).await?;
    Ok(())
}

/// Records what a charge did as events, in its transaction: each payment that ended
/// (`payment.succeeded`, `payment.failed`), then `invoice.paid` once the invoice owes nothing,
/// or `invoice.payment_failed` after a failed charge. Each object as its GET answers it after
/// the change; the receipt and the notice of a failed charge are mailed on these events.
async fn announce(
    state: &AppState,
    txn: &DatabaseTransaction,
    account: &Account,
    invoice_id: &InvoiceId,
    made: &[Payment],
) -> Result<(), AppError> {
    let ended: Vec<&Payment> = made
        .iter()
        .filter(|p| p.status != PaymentStatus::Pending)
        .collect();
    if ended.is_empty() {
        return Ok(());
    }
    let invoice = repo::invoices::find(txn, &account.id, invoice_id, account.billing_offset)
        .await?
        .ok_or(AppError::NotFound)?;
    let finalized = crate::invoices::with_payments(state, txn, vec![invoice.clone()])
        .await?
        .pop()
        .ok_or(AppError::NotFound)?;
    let payments: Vec<PaymentWithInvoice> = ended
        .iter()
        .map(|p| PaymentWithInvoice {
            payment: (*p).clone(),
            invoice: invoice.clone(),
        })
        .collect();
    let mut occurred = Vec::new();
    for p in &payments {
        occurred.push(match p.payment.status {
            PaymentStatus::Failed => (account, Occurred::PaymentFailed(p)),
            _ => (account, Occurred::PaymentSucceeded(p)),
        });
    }
    if invoice.status == InvoiceStatus::Paid {
        occurred.push((account, Occurred::InvoicePaid(&finalized)));
    } else if let Some(failed) = payments
        .iter()
        .find(|p| p.payment.status == PaymentStatus::Failed)
    {
        occurred.push((
            account,
            Occurred::InvoicePaymentFailed {
                invoice: &finalized,
                payment: failed,
            },
        ));
    }
    crate::events::record(&state.events, txn, &occurred, state.clock.now()).await
}

/// Records how a pending card payment ended, if it is still pending (another process may have
/// recorded it): answers the payment as recorded, or `None` when the outcome is still unknown
/// or someone else recorded it.
async fn record_outcome(
    state: &AppState,
    payment: &Payment,
    outcome: Result<ChargeOutcome, GatewayError>,
    at: OffsetDateTime,
) -> Result<Option<Payment>, AppError> {
    let settlement = match &outcome {
        Ok(ChargeOutcome::Succeeded) => Settlement {
            status: PaymentStatus::Successful,
            failure_code: None,
            decline: None,
            next_attempt_at: None,
            paid_at: Some(at),
        },
        Ok(ChargeOutcome::Declined { code, decline }) => {
            let earlier = repo::payments::of_invoices(&state.db, &[&payment.invoice]).await?;
            let first = first_attempt_at(&earlier, payment.created_at);
            Settlement {
                status: PaymentStatus::Failed,
                failure_code: Some(code),
                decline: Some(*decline),
                next_attempt_at: state.retries.next_attempt(first, payment.attempt, *decline),
                paid_at: None,
            }
        }
        Err(GatewayError::UnknownToken) => Settlement {
            status: PaymentStatus::Failed,
            failure_code: Some("unknown_card"),
            decline: Some(Decline::Hard),
            next_attempt_at: None,
            paid_at: None,
        },
        Err(GatewayError::Unreachable(why)) => {
            // The charge may have been made: it stays pending until the gateway answers.
            tracing::warn!(payment = %payment.id, error = %why, "charge outcome unknown: left pending");
            return Ok(None);
        }
    };
    let txn = begin_write(&state.db).await?;
    let account = repo::accounts::find_locked(&txn, &payment.account, AccountLock::Update)
        .await?
        .ok_or(AppError::NotFound)?;
    if !repo::payments::settle(&txn, &payment.id, &settlement).await? {
        return Ok(None);
    }
    let invoice = repo::invoices::find(&txn, &account.id, &payment.invoice, account.billing_offset)
        .await?
        .ok_or(AppError::NotFound)?;
    let done = Payment {
        status: settlement.status,
        failure_code: settlement.failure_code.map(str::to_owned),
        decline: settlement.decline,
        next_attempt_at: settlement.next_attempt_at,
        paid_at: settlement.paid_at,
        ..payment.clone()
    };
    if done.status == PaymentStatus::Successful {
        let owed = invoice
            .status
            .still_owed(invoice.invoice.total, invoice.paid)
            .map_err(out_of_range)?;
        let status = invoice
            .status
            .after_paying(owed, done.amount)
            .map_err(out_of_range)?;
        record_paid(&txn, &invoice, done.amount, done.method, status).await?;
    } else {
        let zero = Money::zero(account.currency);
        let status = invoice.status.after_failed_charge();
        record_paid(&txn, &invoice, zero, done.method, status).await?;
    }
    announce(
        state,
        &txn,
        &account,
        &invoice.id,
        std::slice::from_ref(&done),
    )
    .await?;
    txn.commit().await?;
    Ok(Some(done))
}
