//! sea-orm models. They never leave this crate: repositories convert them to domain types.

pub mod account_members;
pub mod accounts;
pub mod idempotency_keys;
pub mod plan_prices;
pub mod plans;
pub mod products;
pub mod project_participants;
pub mod project_plans;
pub mod projects;
