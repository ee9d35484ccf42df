//! Schema history of the billing API. One file per change, each with `up` and `down`; a landed
//! migration is never edited, a new one follows it.

pub use sea_orm_migration::prelude::*;

mod columns;

mod m20261123_000001_initial_schema;
mod m20261123_000002_daily_rollups_and_fee_groups;
mod m20261124_000003_project_search_key;
mod m20261124_000004_invoice_finalization;
mod m20261124_000005_payments_and_balance;
mod m20261124_000006_credits;
mod m20261124_000007_promotions;
mod m20261124_000008_monthly_rollups;
mod m20261124_000009_merged_segments_function;
mod m20261124_000010_run_rollups;
mod m20261205_000011_invoice_payments;
mod m20261205_000012_events_and_webhooks;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_initial_schema::Migration),
            Box::new(m20261123_000002_daily_rollups_and_fee_groups::Migration),
            Box::new(m20261124_000003_project_search_key::Migration),
            Box::new(m20261124_000004_invoice_finalization::Migration),
            Box::new(m20261124_000005_payments_and_balance::Migration),
            Box::new(m20261124_000006_credits::Migration),
            Box::new(m20261124_000007_promotions::Migration),
            Box::new(m20261124_000008_monthly_rollups::Migration),
            Box::new(m20261124_000009_merged_segments_function::Migration),
            Box::new(m20261124_000010_run_rollups::Migration),
            Box::new(m20261205_000011_invoice_payments::Migration),
            Box::new(m20261205_000012_events_and_webhooks::Migration),
        ]
    }
}
