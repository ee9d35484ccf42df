//! What every handler can reach.

use std::sync::Arc;

use billing_domain::period::BillingOffset;
use billing_persistence::DatabaseConnection;

use crate::clock::Clock;

#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub clock: Arc<dyn Clock>,
    /// Billing offset of new accounts that name none.
    pub default_offset: BillingOffset,
}
