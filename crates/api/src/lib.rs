//! The billing API's outer layer: HTTP (actix-web handlers, auth, problem+json errors, the
//! OpenAPI document), the `billing` binary's commands, start-up, configuration, the demo and
//! the jobs inside `billing serve`. The use cases are the `billing_application` crate's.

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
