//! Black-box tests of the billing API: the real server on a random port, on SQLite and on
//! PostgreSQL.

// Test code: a panic here is a failing test, which is the point. The workspace denies these
// lints everywhere else.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod fixtures;
mod helpers;

mod access;
mod accounts;
mod auth;
mod balance;
mod catalog;
mod credits;
mod demo;
mod health;
mod idempotency;
mod invoices;
mod mail;
mod migrations;
mod openapi;
mod payments;
mod problems;
mod promotions;
mod security;
mod usage;
mod webhooks;
