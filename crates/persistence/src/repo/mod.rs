//! Repositories: load and store domain types. Every function takes any connection, so a use case
//! can run several of them in one transaction.

pub mod accounts;
pub mod balance;
pub mod catalog;
pub mod credits;
pub mod events;
pub mod idempotency;
pub mod invoices;
pub mod mail;
pub mod payments;
pub mod promotions;
pub mod sandbox;
pub(crate) mod sql;
pub mod usage;
pub mod webhooks;

use time::OffsetDateTime;

/// Instants are stored in UTC to the microsecond, so their text form sorts by time on SQLite
/// and PostgreSQL keeps them exactly.
pub(crate) fn utc(instant: OffsetDateTime) -> OffsetDateTime {
    billing_domain::instant::normalize(instant)
}
