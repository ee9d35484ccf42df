//! What every handler can reach.

use std::sync::Arc;

use billing_domain::period::BillingOffset;
use billing_persistence::repo::catalog::{CatalogCache, ProductCache};
use billing_persistence::DatabaseConnection;

use crate::application::clock::Clock;

#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub clock: Arc<dyn Clock>,
    /// Billing offset of new accounts that name none.
    pub default_offset: BillingOffset,
    /// The catalog's products, read once (they never change).
    pub products: Arc<ProductCache>,
    /// The catalog as reads need it: products by id and code, plans by code.
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
            products: Arc::new(ProductCache::default()),
            catalog: Arc::new(CatalogCache::default()),
        }
    }
}
