//! The billing API: actix-web handlers, auth, problem+json errors, the OpenAPI document and the
//! `billing` binary's commands.

pub mod auth;
pub mod clock;
pub mod config;
pub mod core;
pub mod demo;
pub mod dto;
pub mod dto_catalog;
pub mod dto_metering;
pub mod dto_usage;
pub mod error;
pub mod extract;
pub mod middleware;
pub mod openapi;
pub mod routes;
pub mod startup;
pub mod state;

/// The server allocates and frees many small strings per request (a batch of 1,000 usage events
/// is some 6,000 of them); mimalloc does that with less CPU than the system allocator, leaving
/// more of the machine to the database. Every binary linking this crate (the `billing` command,
/// the benchmark, the tests) uses it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
