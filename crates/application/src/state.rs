//! What every handler can reach.

use std::sync::Arc;

use billing_domain::period::BillingOffset;
use billing_persistence::repo::catalog::CatalogCache;
use billing_persistence::DatabaseConnection;

use billing_domain::payments::{ChargeDay, RetrySchedule};

use crate::clock::Clock;
use crate::events::Events;
use crate::payments::gateway::{PaymentGateway, SandboxGateway};

/// A day for late usage after a period ends.
pub const DEFAULT_FINALIZE_GRACE: time::Duration = time::Duration::days(1);

/// The seller on invoices when none is configured.
pub const DEFAULT_SELLER_NAME: &str = "Billing API";

#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub clock: Arc<dyn Clock>,
    /// Billing offset of new accounts that name none.
    pub default_offset: BillingOffset,
    /// The catalog in memory (products and plans are never changed), for ingestion and reads.
    pub catalog: Arc<CatalogCache>,
    /// How long after a period ends its invoice is finalized (late usage still counts until
    /// then).
    pub finalize_grace: time::Duration,
    /// Who issues the invoices (their PDF's seller).
    pub seller_name: String,
    /// The payment gateway configuration chose (`billing.gateway`; the sandbox by default).
    pub gateway: Arc<dyn PaymentGateway>,
    /// The day of the month invoices are charged.
    pub charge_day: ChargeDay,
    /// When softly declined charges are tried again.
    pub retries: RetrySchedule,
    /// How events are rendered, and who inside the product hears of them.
    pub events: Events,
    /// Which webhook targets are allowed, and how long a delivery may take.
    pub webhooks: WebhookSettings,
}

/// How webhooks are sent.
#[derive(Clone, Copy, Debug)]
pub struct WebhookSettings {
    /// Plain `http` and loopback, link-local and private-network targets (development, demos).
    pub allow_private_targets: bool,
    /// How long an endpoint may take to answer.
    pub timeout: std::time::Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            allow_private_targets: false,
            timeout: std::time::Duration::from_secs(15),
        }
    }
}

impl AppState {
    pub fn new(
        db: DatabaseConnection,
        clock: Arc<dyn Clock>,
        default_offset: BillingOffset,
        events: Events,
    ) -> Self {
        AppState {
            db: db.clone(),
            clock,
            default_offset,
            catalog: Arc::new(CatalogCache::default()),
            finalize_grace: DEFAULT_FINALIZE_GRACE,
            seller_name: DEFAULT_SELLER_NAME.to_owned(),
            gateway: Arc::new(SandboxGateway::new(db.clone())),
            charge_day: ChargeDay::default(),
            retries: RetrySchedule::default(),
            events,
            webhooks: WebhookSettings::default(),
        }
    }
}
