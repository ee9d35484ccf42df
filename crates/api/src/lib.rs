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
