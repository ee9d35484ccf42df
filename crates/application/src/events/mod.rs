//! Events (issue 22, docs/events.md): the use cases say what happened with [`record`], in the
//! transaction that made it happen, so an event exists exactly when its change does (a
//! rolled-back finalization leaves none). Recording an event:
//!
//! - writes it once, with its body: the object as its GET answers it, rendered by the port the
//!   HTTP layer gives ([`Render`]), so lists, webhooks and the SDK types agree;
//! - writes a delivery for each webhook endpoint that wants it, sent later by
//!   [`crate::webhooks`];
//! - tells the subscribers inside the product ([`Subscriber`], such as the billing mail), in
//!   the same transaction.
//!
//! An account's events are recorded by transactions that hold its row, one at a time, so
//! their order (`seq`) is the order they happened; deliveries keep it.

pub mod reads;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use billing_domain::accounts::Account;
use billing_domain::balance::Entry;
use billing_domain::credits::CreditView;
use billing_domain::events::EventType;
use billing_domain::invoices::{Finalized, PaymentWithInvoice};
use billing_domain::money::Money;
use billing_domain::names::{EventId, WebhookDeliveryId};
use billing_domain::payments::Card;
use billing_domain::promotions::Applied;
use billing_domain::usage::ClosedPeriodRejection;
use billing_persistence::repo;
use billing_persistence::repo::events::NewEvent;
use billing_persistence::repo::webhooks::NewDelivery;
use billing_persistence::DatabaseTransaction;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::error::AppError;

/// Something that happened, with the object it is about.
#[derive(Clone, Copy, Debug)]
pub enum Occurred<'a> {
    InvoiceFinalized(&'a Finalized),
    InvoicePaid(&'a Finalized),
    /// A charge of the invoice failed: the invoice after it, and the failed payment.
    InvoicePaymentFailed {
        invoice: &'a Finalized,
        payment: &'a PaymentWithInvoice,
    },
    PaymentSucceeded(&'a PaymentWithInvoice),
    PaymentFailed(&'a PaymentWithInvoice),
    CreditRegistered(&'a CreditView),
    CreditExpired(&'a CreditView),
    PromotionApplied(&'a Applied),
    /// A deposit, and the balance after it.
    BalanceDeposited {
        entry: &'a Entry,
        balance: Money,
    },
    PaymentMethodUpdated(&'a Card),
    PaymentMethodRemoved(&'a Card),
    UsagePeriodClosedRejected(&'a ClosedPeriodRejection),
}

impl Occurred<'_> {
    pub fn kind(&self) -> EventType {
        match self {
            Occurred::InvoiceFinalized(_) => EventType::InvoiceFinalized,
            Occurred::InvoicePaid(_) => EventType::InvoicePaid,
            Occurred::InvoicePaymentFailed { .. } => EventType::InvoicePaymentFailed,
            Occurred::PaymentSucceeded(_) => EventType::PaymentSucceeded,
            Occurred::PaymentFailed(_) => EventType::PaymentFailed,
            Occurred::CreditRegistered(_) => EventType::CreditRegistered,
            Occurred::CreditExpired(_) => EventType::CreditExpired,
            Occurred::PromotionApplied(_) => EventType::PromotionApplied,
            Occurred::BalanceDeposited { .. } => EventType::BalanceDeposited,
            Occurred::PaymentMethodUpdated(_) => EventType::PaymentMethodUpdated,
            Occurred::PaymentMethodRemoved(_) => EventType::PaymentMethodRemoved,
            Occurred::UsagePeriodClosedRejected(_) => EventType::UsagePeriodClosedRejected,
        }
    }

    /// The id of the object it is about.
    pub fn object_id(&self) -> String {
        match self {
            Occurred::InvoiceFinalized(f)
            | Occurred::InvoicePaid(f)
            | Occurred::InvoicePaymentFailed { invoice: f, .. } => f.invoice.id.to_string(),
            Occurred::PaymentSucceeded(p) | Occurred::PaymentFailed(p) => p.payment.id.to_string(),
            Occurred::CreditRegistered(c) | Occurred::CreditExpired(c) => c.credit.id.to_string(),
            Occurred::PromotionApplied(a) => a.id.to_string(),
            Occurred::BalanceDeposited { entry, .. } => entry.id.to_string(),
            Occurred::PaymentMethodUpdated(card) | Occurred::PaymentMethodRemoved(card) => {
                card.id.to_string()
            }
            Occurred::UsagePeriodClosedRejected(r) => r.id.clone(),
        }
    }
}

/// Renders an event's `data`: the object as its GET answers it, in the account's offset (and,
/// for `invoice.payment_failed`, the failed payment beside it). The HTTP layer implements it
/// with the same functions its GETs answer with.
pub trait Render: Send + Sync {
    fn data(&self, occurred: &Occurred<'_>, account: &Account) -> serde_json::Value;
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Something inside the product that acts on events in their transaction (the billing mail
/// queues an invoice's mail with its `invoice.finalized`: both or neither).
pub trait Subscriber: Send + Sync {
    fn on<'a>(
        &'a self,
        txn: &'a DatabaseTransaction,
        events: &'a [(&'a Account, Occurred<'a>)],
        now: OffsetDateTime,
    ) -> BoxFuture<'a, Result<(), AppError>>;
}

/// How events are rendered and who hears of them.
#[derive(Clone)]
pub struct Events {
    pub render: Arc<dyn Render>,
    pub subscribers: Vec<Arc<dyn Subscriber>>,
}

/// The body of an event, as lists show it and webhooks send it.
pub fn body(
    id: &EventId,
    kind: EventType,
    account: &Account,
    created_at: OffsetDateTime,
    data: serde_json::Value,
) -> String {
    let created_at = billing_domain::instant::normalize(created_at)
        .format(&Rfc3339)
        .unwrap_or_default();
    serde_json::json!({
        "id": id.as_str(),
        "type": kind.name(),
        "created_at": created_at,
        "account_id": account.id.as_str(),
        "data": data,
    })
    .to_string()
}

/// Records these events, in this order, in `txn`: each written with its body, a delivery
/// for each webhook endpoint that wants it, and the subscribers told.
pub async fn record(
    events: &Events,
    txn: &DatabaseTransaction,
    occurred: &[(&Account, Occurred<'_>)],
    now: OffsetDateTime,
) -> Result<(), AppError> {
    if occurred.is_empty() {
        return Ok(());
    }
    let written: Vec<(EventId, EventType, String, String)> = occurred
        .iter()
        .map(|(account, what)| {
            let id = EventId::from_uuid(uuid::Uuid::now_v7());
            let kind = what.kind();
            let data = events.render.data(what, account);
            let text = body(&id, kind, account, now, data);
            (id, kind, what.object_id(), text)
        })
        .collect();
    let rows: Vec<NewEvent<'_>> = written
        .iter()
        .zip(occurred)
        .map(|((id, kind, object, text), (account, _))| NewEvent {
            id,
            kind: *kind,
            account: &account.id,
            object_id: object,
            body: text,
            created_at: now,
        })
        .collect();
    repo::events::insert_all(txn, &rows).await?;

    let endpoints = repo::webhooks::all_endpoints(txn).await?;
    if !endpoints.is_empty() {
        let mut wanted = Vec::new();
        for row in &rows {
            for endpoint in endpoints.iter().filter(|e| e.wants(row.kind, row.account)) {
                wanted.push((
                    WebhookDeliveryId::from_uuid(uuid::Uuid::now_v7()),
                    endpoint,
                    row,
                ));
            }
        }
        let deliveries: Vec<NewDelivery<'_>> = wanted
            .iter()
            .map(|(id, endpoint, row)| NewDelivery {
                id,
                endpoint: &endpoint.id,
                event: row.id,
                event_type: row.kind,
                account: row.account,
                created_at: now,
            })
            .collect();
        repo::webhooks::insert_deliveries(txn, &deliveries).await?;
    }

    for subscriber in &events.subscribers {
        subscriber.on(txn, occurred, now).await?;
    }
    Ok(())
}
