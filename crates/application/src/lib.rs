//! The application layer: the use cases, which the HTTP handlers, the `billing` commands and
//! the jobs inside `billing serve` all call. It knows no HTTP (no actix-web: `.ci/run` checks):
//! each use case authorizes, loads through repositories, applies domain rules, stores the result
//! and commits, in one transaction when it writes, and answers an [`AppError`] when it cannot.
//!
//! One module per bounded context, named like its routes, OpenAPI tag, tables and test file:
//! [`accounts`] (accounts, members, projects, participants and who may see what), [`catalog`]
//! (products, plans, plan changes), [`usage`] (ingestion and reads), [`invoices`] (the
//! preview, the billing run, the history and the PDF), [`payments`] (cards, charges, retries,
//! receipts), [`balance`] (the prepaid ledger), [`mail`] (the billing mail's outbox sender).
//! Adapters for the outside world are traits owned here, with their implementations beside
//! them: [`mail::Mailer`] and [`payments::gateway::PaymentGateway`].

pub mod accounts;
pub mod balance;
pub mod billing_run;
pub mod catalog;
pub mod clock;
pub mod credits;
pub mod error;
pub mod health;
pub mod idempotency;
pub mod invoices;
pub mod mail;
pub mod payments;
pub mod promotions;
pub mod rating;
pub mod state;
pub mod usage;

pub use error::{out_of_range, AppError, ConflictKind, FieldCheck, FieldError};
pub use state::AppState;
