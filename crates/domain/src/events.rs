//! Events: what happened to an account's billing, each told once, in the order it happened.
//! Their bodies are rendered by the HTTP layer (the object as its GET answers it); here are
//! their names and what each is about.

use std::fmt;

use time::OffsetDateTime;

use crate::error::DomainError;
use crate::names::{AccountId, EventId};

/// An event as it was recorded: its body is the JSON that lists and webhooks carry, written
/// once, when it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Its place in the order events were recorded (an account's events are recorded one
    /// transaction at a time, so their order is the order they happened).
    pub seq: i64,
    pub id: EventId,
    pub kind: EventType,
    pub account: AccountId,
    /// What it is about: an invoice, a payment, a credit, ...
    pub object_id: String,
    pub body: String,
    pub created_at: OffsetDateTime,
}

/// The kinds of event. Their names are part of the contract: webhook endpoints subscribe to
/// them, and the events list filters by them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    /// An invoice was finalized (the object: the invoice).
    InvoiceFinalized,
    /// An invoice was paid in full (the invoice).
    InvoicePaid,
    /// A charge of an invoice failed (the invoice, with the failed payment beside it).
    InvoicePaymentFailed,
    /// A payment succeeded, by the balance or the card (the payment).
    PaymentSucceeded,
    /// A payment failed (the payment, with its decline code and next attempt).
    PaymentFailed,
    /// An account registered a credit code (the credit).
    CreditRegistered,
    /// What was left of a credit expired (the credit).
    CreditExpired,
    /// An account applied a promotion code (the applied promotion).
    PromotionApplied,
    /// Money was deposited into the prepaid balance (the balance entry).
    BalanceDeposited,
    /// A card was registered or replaced (the card).
    PaymentMethodUpdated,
    /// The card was removed (the card as it was).
    PaymentMethodRemoved,
    /// A usage batch had events refused because their period was closed (the rejection).
    UsagePeriodClosedRejected,
}

impl EventType {
    pub const ALL: [EventType; 12] = [
        EventType::InvoiceFinalized,
        EventType::InvoicePaid,
        EventType::InvoicePaymentFailed,
        EventType::PaymentSucceeded,
        EventType::PaymentFailed,
        EventType::CreditRegistered,
        EventType::CreditExpired,
        EventType::PromotionApplied,
        EventType::BalanceDeposited,
        EventType::PaymentMethodUpdated,
        EventType::PaymentMethodRemoved,
        EventType::UsagePeriodClosedRejected,
    ];

    pub fn name(self) -> &'static str {
        match self {
            EventType::InvoiceFinalized => "invoice.finalized",
            EventType::InvoicePaid => "invoice.paid",
            EventType::InvoicePaymentFailed => "invoice.payment_failed",
            EventType::PaymentSucceeded => "payment.succeeded",
            EventType::PaymentFailed => "payment.failed",
            EventType::CreditRegistered => "credit.registered",
            EventType::CreditExpired => "credit.expired",
            EventType::PromotionApplied => "promotion.applied",
            EventType::BalanceDeposited => "balance.deposited",
            EventType::PaymentMethodUpdated => "payment_method.updated",
            EventType::PaymentMethodRemoved => "payment_method.removed",
            EventType::UsagePeriodClosedRejected => "usage.period_closed_rejected",
        }
    }

    pub fn parse(text: &str) -> Result<Self, DomainError> {
        EventType::ALL
            .into_iter()
            .find(|t| t.name() == text)
            .ok_or(DomainError::InvalidId("event type"))
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_parses_back_from_its_name_and_names_are_unique() {
        let mut names: Vec<&str> = EventType::ALL.iter().map(|t| t.name()).collect();
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.name()).unwrap(), t);
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), EventType::ALL.len());
        assert!(EventType::parse("invoice.*").is_err());
        assert!(EventType::parse("Invoice.Finalized").is_err());
    }
}
