//! The billing domain: pure rules, no I/O.
//!
//! Money and its rounding ([`money`]), billing periods and hourly proration ([`period`]), who may
//! see what ([`access`]), validated names and ids ([`names`]), and the account model
//! ([`account`]). Everything here is deterministic; time is passed in, never read.

pub mod access;
pub mod account;
pub mod catalog;
pub mod error;
pub mod instant;
pub mod metering;
pub mod money;
pub mod names;
pub mod period;
pub mod rating;
pub mod usage;

pub use error::DomainError;
