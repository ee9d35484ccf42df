//! The billing domain: pure rules, no I/O.
//!
//! A shared kernel — money and its rounding ([`money`]), billing periods and hourly proration
//! ([`period`]), validated names and ids ([`names`]), instants ([`instant`]), card numbers,
//! which no request may carry ([`card`]), and the one error type ([`error`]) — and one module
//! per bounded context: [`accounts`] (accounts, projects and who may see what), [`catalog`]
//! (products, plans and rating), [`usage`] (events, rollups, and reading usage back and rating
//! a project's month), [`invoices`] (the one assembly of an invoice from rated lines,
//! promotions, credits, tax and the prepaid balance), [`payments`] (the charge day, the split
//! between balance and card, retries) [`balance`] (the prepaid ledger), [`credits`] (codes, validity, the credit ledger) and
//! [`promotions`] (who may apply one, which invoices it discounts). Everything here is deterministic; time is
//! passed in, never read.

pub mod accounts;
pub mod balance;
pub mod card;
pub mod catalog;
pub mod credits;
pub mod error;
pub mod instant;
pub mod invoices;
pub mod money;
pub mod names;
pub mod payments;
pub mod period;
pub mod promotions;
pub mod usage;

pub use error::DomainError;
