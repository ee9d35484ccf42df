//! What every handler can reach.

use std::sync::Arc;

use billing_domain::period::BillingOffset;
use billing_persistence::repo::catalog::CatalogCache;
use billing_persistence::DatabaseConnection;

use crate::application::clock::Clock;

#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub clock: Arc<dyn Clock>,
    /// Billing offset of new accounts that name none.
    pub default_offset: BillingOffset,
    /// The catalog in memory (products and plans are never changed), for ingestion and reads.
    pub catalog: Arc<CatalogCache>,
}

impl AppState {
    pub fn new(
        db: DatabaseConnection,
        clock: Arc<dyn Clock>,
        default_offset: BillingOffset,
    ) -> Self {
        AppState {
            db,
            clock,
            default_offset,
            catalog: Arc::new(CatalogCache::default()),
        }
    }
}
