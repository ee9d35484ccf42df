//! Persistence of the billing domain on sea-orm: SQLite (embedded default) and PostgreSQL.
//!
//! sea-orm models stay inside this crate. Repositories take and return the domain's types
//! (accounts, projects, products and plans, finalized invoices, cards and payments, balance
//! entries, credits, promotions, pages of lists), plus the shapes of their own queries that
//! only the application layer uses: rollup segments to merge, the invoices a charge run pages
//! through, the outbox's mail, the sandbox gateway's record of charges.

pub mod db;
mod entities;
pub mod error;

pub mod repo;

pub use error::PersistenceError;
pub use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, TransactionTrait,
};
