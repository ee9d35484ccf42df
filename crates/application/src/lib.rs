//! The application layer: the use cases, which the HTTP handlers, the `billing` commands and
//! the jobs inside `billing serve` all call. It knows no HTTP: this crate does not depend on
//! actix-web, so the compiler keeps the rule. Each use case authorizes, loads through
//! repositories, applies domain rules, stores the result and commits, in one transaction when
//! it writes, and answers domain types, its own, or an [`AppError`] when it cannot. A long use
//! case reads as its steps, each a function.
//!
//! One module per bounded context, named like its routes, OpenAPI tag, tables and test file:
//! [`accounts`] (accounts, members, projects, participants and who may see what), [`catalog`]
//! (products, plans, plan changes), [`usage`] (ingestion and reads), [`rating`] (usage charged
//! by the plans, the one way every charge is computed), [`invoices`] (the preview,
//! finalization, the history and the PDF), [`payments`] (cards, charges, retries, the history
//! and receipts, paying now), [`balance`] (the prepaid ledger), [`credits`], [`promotions`],
//! [`billing_run`] (finalize, expire credits, charge), [`mail`] (the billing mail's outbox
//! sender), [`idempotency`] (once per `Idempotency-Key`), [`health`] (readiness).
//! Adapters for the outside world are traits owned here, with their implementations beside
//! them: [`mail::Mailer`] and [`payments::gateway::PaymentGateway`], each chosen by
//! configuration.

pub mod accounts;
pub mod balance;
pub mod billing_run;
pub mod catalog;
pub mod clock;
pub mod credits;
pub mod error;
pub mod events;
pub mod health;
pub mod idempotency;
pub mod invoices;
pub mod mail;
pub mod payments;
pub mod promotions;
pub mod rating;
pub mod state;
pub mod usage;
pub mod webhooks;

pub use error::{out_of_range, AppError, ConflictKind, FieldCheck, FieldError};
pub use state::AppState;
