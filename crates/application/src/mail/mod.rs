//! Mail (SPEC 5, issue 10): each finalized invoice is mailed, with its PDF, to the account's
//! billing email, a receipt follows each payment and a notice each failed charge. The mail
//! is queued in the outbox by [`MailSubscriber`], a subscriber of the events, in the
//! transaction that records them, so an invoice and its mail exist together or not at all, and
//! [`deliver_due`] sends what is due through a [`Mailer`]: SMTP ([`smtp::SmtpMailer`]), or the
//! log when no SMTP server is configured ([`LogMailer`]). Tests swap in their own.
//!
//! Once per invoice: a mail is claimed before it is sent (two senders never send it at once),
//! marked sent after, and retried with backoff when sending fails. A sender killed between
//! sending and marking cannot know the message left: the claim runs out and the mail is sent
//! again, with the same `Message-ID` (`<mail id@billing>`). Receivers and mail clients that
//! deduplicate by `Message-ID` show it once; one that does not shows the same message twice.
//! Nothing else can do better: SMTP has no way to ask a server whether it took a message.

pub mod smtp;

use std::future::Future;

use billing_domain::accounts::Account;
use billing_domain::invoices::{FinalizedInvoice, PaymentWithInvoice};
use billing_domain::names::AccountId;
use billing_domain::payments::ChargeDay;
use billing_persistence::repo;
use billing_persistence::repo::mail::{NewMail, QueuedMail};
use billing_persistence::DatabaseTransaction;
use time::{Duration, OffsetDateTime};

use crate::error::AppError;
use crate::events::{BoxFuture, Occurred, Subscriber};
use crate::state::AppState;

/// A message ready to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutgoingMail {
    /// Stable across attempts: `<mail id@billing>`.
    pub message_id: String,
    pub to: String,
    pub subject: String,
    pub body: String,
    /// File name and bytes of a PDF to attach.
    pub attachment: Option<(String, Vec<u8>)>,
}

/// Sends mail. `Err` carries why, for the outbox row (never a secret: no credentials).
pub trait Mailer: Send + Sync {
    fn send(&self, mail: &OutgoingMail) -> impl Future<Output = Result<(), String>> + Send;
}

/// Without SMTP settings: mail is logged (recipient, subject, message id), not sent.
pub struct LogMailer;

impl Mailer for LogMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), String> {
        tracing::info!(
            to = %mail.to,
            subject = %mail.subject,
            message_id = %mail.message_id,
            "mail not sent (no SMTP server configured): logged instead"
        );
        Ok(())
    }
}

/// The mailer the settings name: SMTP, or the log without an SMTP URL.
pub enum ConfiguredMailer {
    Smtp(Box<smtp::SmtpMailer>),
    Log(LogMailer),
}

impl ConfiguredMailer {
    pub fn new(smtp_url: &str, from: &str) -> Result<Self, String> {
        if smtp_url.trim().is_empty() {
            Ok(ConfiguredMailer::Log(LogMailer))
        } else {
            smtp::SmtpMailer::new(smtp_url, from).map(|m| ConfiguredMailer::Smtp(Box::new(m)))
        }
    }
}

impl Mailer for ConfiguredMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), String> {
        match self {
            ConfiguredMailer::Smtp(smtp) => smtp.send(mail).await,
            ConfiguredMailer::Log(log) => log.send(mail).await,
        }
    }
}

/// How long a claimed mail waits before it is tried again if its sender never reports back.
pub const CLAIM: Duration = Duration::minutes(5);

/// The wait before attempt `n + 1` after `n` failed ones: 1, 5, 30 minutes, then 2 hours, then
/// 6 hours at most.
pub fn backoff(attempts: i32) -> Duration {
    match attempts {
        ..=1 => Duration::minutes(1),
        2 => Duration::minutes(5),
        3 => Duration::minutes(30),
        4 => Duration::hours(2),
        _ => Duration::hours(6),
    }
}

/// The billing mail as a subscriber of events: an invoice's mail with its
/// `invoice.finalized`, a receipt with each `payment.succeeded`, and a notice with each
/// `payment.failed`, each to the account's billing email (if it has one), queued in the
/// transaction that records the event: both or neither.
pub struct MailSubscriber {
    /// The day invoices are charged (the invoice mail says when).
    pub charge_day: ChargeDay,
}

/// A mail's text before it is queued.
struct Text<'a> {
    id: String,
    account: &'a Account,
    kind: &'static str,
    subject_id: String,
    recipient: &'a str,
    subject: String,
    body: String,
}

impl Subscriber for MailSubscriber {
    fn on<'a>(
        &'a self,
        txn: &'a DatabaseTransaction,
        events: &'a [(&'a Account, Occurred<'a>)],
        now: OffsetDateTime,
    ) -> BoxFuture<'a, Result<(), AppError>> {
        Box::pin(async move {
            let texts: Vec<Text<'_>> = events
                .iter()
                .filter_map(|(account, what)| {
                    let recipient = account.billing_email.as_ref()?.as_str();
                    let (kind, subject_id, (subject, body)) = match what {
                        Occurred::InvoiceFinalized(f) => (
                            "invoice",
                            f.invoice.id.to_string(),
                            invoice_text(&f.invoice, self.charge_day),
                        ),
                        Occurred::PaymentSucceeded(p) => {
                            ("receipt", p.payment.id.to_string(), receipt_text(p))
                        }
                        Occurred::PaymentFailed(p) => (
                            "payment_failed",
                            p.payment.id.to_string(),
                            failure_text(account, p),
                        ),
                        _ => return None,
                    };
                    Some(Text {
                        id: format!("mail_{}", uuid::Uuid::now_v7().simple()),
                        account,
                        kind,
                        subject_id,
                        recipient,
                        subject,
                        body,
                    })
                })
                .collect();
            let mail: Vec<NewMail<'_>> = texts
                .iter()
                .map(|t| NewMail {
                    id: &t.id,
                    account: &t.account.id,
                    kind: t.kind,
                    subject_id: &t.subject_id,
                    recipient: t.recipient,
                    subject: &t.subject,
                    body: &t.body,
                    now,
                })
                .collect();
            repo::mail::enqueue_all(txn, &mail).await?;
            Ok(())
        })
    }
}

/// The subject and body of a receipt.
fn receipt_text(found: &PaymentWithInvoice) -> (String, String) {
    let PaymentWithInvoice { payment, invoice } = found;
    let currency = payment.amount.currency().code();
    let subject = format!(
        "Receipt {} for invoice {} ({} {currency})",
        payment.receipt, invoice.number, payment.amount
    );
    let method = payment
        .method_label
        .clone()
        .unwrap_or_else(|| "prepaid balance".to_owned());
    let body = format!(
        "We received your payment of {amount} {currency} for invoice {number} ({period}).\n\n\
         Receipt: {receipt}\nPayment method: {method}\n\
         Invoice total: {total} {currency}\n",
        amount = payment.amount,
        number = invoice.number,
        period = invoice.period,
        receipt = payment.receipt,
        total = invoice.invoice.total,
    );
    (subject, body)
}

/// The subject and body of the notice of a failed charge: what failed, what is owed, when it
/// is tried again, and how to update the card.
fn failure_text(account: &Account, found: &PaymentWithInvoice) -> (String, String) {
    let PaymentWithInvoice { payment, invoice } = found;
    let currency = payment.amount.currency().code();
    let subject = format!(
        "Payment of invoice {} failed ({} {currency})",
        invoice.number, payment.amount
    );
    let what = match (&payment.method_label, payment.failure_code.as_deref()) {
        (_, Some("no_payment_method")) => "No card is registered to charge.".to_owned(),
        (Some(card), Some(code)) => format!("The charge to {card} was declined ({code})."),
        (Some(card), None) => format!("The charge to {card} failed."),
        (None, code) => format!("The charge failed ({}).", code.unwrap_or("unknown")),
    };
    // What the invoice still owes after this attempt (the balance may have paid a part).
    let owed = invoice
        .status
        .still_owed(invoice.invoice.total, invoice.paid)
        .unwrap_or(payment.amount);
    let next = match payment.next_attempt_at {
        Some(at) => format!(
            "We will try again on {}.",
            account.billing_offset.date_of(at)
        ),
        None => "We will not try again on our own: once the card is updated, pay the invoice \
                 from the billing console."
            .to_owned(),
    };
    let body = format!(
        "We could not collect {amount} {currency} for invoice {number} ({period}).\n\n\
         {what}\n\
         Still owed: {owed} {currency}\n\
         {next}\n\n\
         To update your card, register a new one in the billing console \
         (PUT /v1/accounts/{account}/payment-method).\n",
        amount = payment.amount,
        number = invoice.number,
        period = invoice.period,
        account = account.id,
    );
    (subject, body)
}

/// The subject and body of an invoice's mail.
fn invoice_text(invoice: &FinalizedInvoice, charge_day: ChargeDay) -> (String, String) {
    let subject = format!(
        "Invoice {} for {} ({} {})",
        invoice.number,
        invoice.period,
        invoice.invoice.total,
        invoice.invoice.currency.code()
    );
    // An invoice that owes nothing is never charged.
    let charge = if invoice.invoice.total.is_zero() {
        "Nothing is owed: no charge is made.".to_owned()
    } else {
        let charged_on = invoice
            .period
            .offset()
            .date_of(charge_day.of(&invoice.period));
        format!(
            "It is charged on {charged_on}: your prepaid balance pays first, your card the rest."
        )
    };
    let body = format!(
        "Your invoice {number} for {period} is attached.\n\n\
         Usage amount: {usage} {currency}\n\
         Discounts: {discount} {currency}\n\
         Credit: {credit} {currency}\n\
         Tax: {tax} {currency}\n\
         Total: {total} {currency}\n\n\
         {charge}\n",
        number = invoice.number,
        period = invoice.period,
        usage = invoice.invoice.usage_amount,
        discount = invoice.invoice.discount,
        credit = invoice.invoice.credit,
        tax = invoice.invoice.tax,
        total = invoice.invoice.total,
        currency = invoice.invoice.currency.code(),
    );
    (subject, body)
}

/// What one delivery pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delivered {
    pub sent: usize,
    pub failed: usize,
}

/// Sends the mail that is due at `now` (at most `limit`), each claimed first.
pub async fn deliver_due<M: Mailer>(
    state: &AppState,
    mailer: &M,
    now: OffsetDateTime,
    limit: u64,
) -> Result<Delivered, AppError> {
    let mut done = Delivered::default();
    for mail in repo::mail::due(&state.db, now, limit).await? {
        if !repo::mail::claim(&state.db, &mail, now + CLAIM).await? {
            continue; // another sender has it
        }
        let outgoing = match compose(state, &mail).await {
            Ok(outgoing) => outgoing,
            Err(error) => {
                let retry = now + backoff(mail.attempts + 1);
                repo::mail::mark_failed(&state.db, &mail.id, retry, &error.to_string()).await?;
                done.failed += 1;
                continue;
            }
        };
        match mailer.send(&outgoing).await {
            Ok(()) => {
                repo::mail::mark_sent(&state.db, &mail.id, state.clock.now()).await?;
                done.sent += 1;
            }
            Err(error) => {
                tracing::warn!(mail = %mail.id, attempts = mail.attempts + 1, error = %error, "mail not sent; will retry");
                let retry = now + backoff(mail.attempts + 1);
                repo::mail::mark_failed(&state.db, &mail.id, retry, &error).await?;
                done.failed += 1;
            }
        }
    }
    Ok(done)
}

/// The message of a queued mail: its text, and the invoice's PDF attached.
async fn compose(state: &AppState, mail: &QueuedMail) -> Result<OutgoingMail, AppError> {
    let account_id =
        AccountId::parse(&mail.account).map_err(|e| AppError::Internal(format!("outbox: {e}")))?;
    let account = repo::accounts::find(&state.db, &account_id)
        .await?
        .ok_or_else(|| AppError::Internal("outbox: the account is gone".into()))?;
    let attachment = match mail.kind.as_str() {
        "invoice" => {
            let id = billing_domain::names::InvoiceId::parse(&mail.subject_id)
                .map_err(|e| AppError::Internal(format!("outbox: {e}")))?;
            let invoice = repo::invoices::find(&state.db, &account.id, &id, account.billing_offset)
                .await?
                .ok_or_else(|| AppError::Internal("outbox: the invoice is gone".into()))?;
            let number = invoice.number.clone();
            let found = crate::invoices::with_payments(state, &state.db, vec![invoice])
                .await?
                .pop()
                .ok_or_else(|| AppError::Internal("outbox: the invoice is gone".into()))?;
            let pdf = crate::invoices::pdf::render(&state.seller_name, &account, &found)?;
            Some((format!("{number}.pdf"), pdf))
        }
        "receipt" => {
            let id = billing_domain::names::PaymentId::parse(&mail.subject_id)
                .map_err(|e| AppError::Internal(format!("outbox: {e}")))?;
            let billing_domain::invoices::PaymentWithInvoice { payment, invoice } =
                crate::payments::history::with_invoice(state, &account, &id)
                    .await?
                    .ok_or_else(|| AppError::Internal("outbox: the payment is gone".into()))?;
            let pdf = crate::invoices::pdf::render_receipt(
                &state.seller_name,
                &account,
                &invoice,
                &payment,
            )?;
            Some((format!("{}.pdf", payment.receipt), pdf))
        }
        _ => None,
    };
    Ok(OutgoingMail {
        message_id: format!("<{}@billing>", mail.id),
        to: mail.recipient.clone(),
        subject: mail.subject.clone(),
        body: mail.body.clone(),
        attachment,
    })
}
