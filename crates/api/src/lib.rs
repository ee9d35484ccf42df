//! The billing API: the application layer (use cases, no HTTP), the HTTP layer (actix-web
//! handlers, auth, problem+json errors, the OpenAPI document) and the `billing` binary's
//! commands.

pub mod application;
pub mod config;
pub mod demo;
pub mod http;
pub mod jobs;
pub mod startup;

/// The server allocates and frees many small strings per request (a batch of 1,000 usage events
/// is some 6,000 of them); mimalloc does that with less CPU than the system allocator, leaving
/// more of the machine to the database. Every binary linking this crate (the `billing` command,
/// the benchmark, the tests) uses it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
