//! Persistence of the billing domain on sea-orm: SQLite (embedded default) and PostgreSQL.
//!
//! sea-orm models stay inside this crate; repositories take and return domain types.

pub mod db;
mod entities;
pub mod error;
pub mod page;
pub mod repo;

pub use error::PersistenceError;
pub use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, TransactionTrait,
};
