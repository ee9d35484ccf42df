//! The billing domain: pure rules, no I/O.
//!
//! A shared kernel — money and its rounding ([`money`]), billing periods and hourly proration
//! ([`period`]), validated names and ids ([`names`]), instants ([`instant`]), card numbers,
//! which no request may carry ([`card`]), pages of a list ([`page`]) and the one error type
//! ([`error`]) — and one module per bounded context: [`accounts`] (accounts, projects and who
//! may see what), [`catalog`] (products, plans and rating), [`usage`] (events, rollups, and
//! reading usage back and rating a project's month), [`invoices`] (the one assembly of an
//! invoice from rated lines, promotions, credits and tax; a finalized invoice as kept),
//! [`payments`] (cards and payments, the charge day, the split between balance and card,
//! retries), [`balance`] (the prepaid ledger and its entries), [`credits`] (codes, validity,
//! the credits and their ledger) and [`promotions`] (offers, applied promotions, who may apply
//! one, which invoices it discounts), [`events`] (what happened, by type) and [`webhooks`]
//! (their signatures, targets and retries). The persistence crate stores and loads these types; the
//! application and HTTP layers speak them. Everything here is deterministic; time is passed
//! in, never read.

pub mod accounts;
pub mod balance;
pub mod card;
pub mod catalog;
pub mod credits;
pub mod error;
pub mod events;
pub mod instant;
pub mod invoices;
pub mod money;
pub mod names;
pub mod page;
pub mod payments;
pub mod period;
pub mod promotions;
pub mod usage;
pub mod webhooks;

pub use error::DomainError;
