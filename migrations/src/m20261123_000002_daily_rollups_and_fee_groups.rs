//! Daily usage rollups and the fee group of a product.
//!
//! - `usage_daily_rollups`: the same aggregates as `usage_rollups`, per project x product x day
//!   of the account's billing offset, kept up to date in the ingesting transaction. Monthly reads
//!   and invoice previews sum at most 31 rows per project and product, however many events and
//!   hours the month holds; hourly rows are read only for the hours of a day split by a plan
//!   change and for the metering drill-down.
//! - `products.fee_group`: which fee of the per-project billing summary (seed 000) a product's
//!   charges fall under: `api` (API usage fee), `disk` (disk usage fee) or `other`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn a(name: &'static str) -> Alias {
    Alias::new(name)
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(a("usage_daily_rollups"))
                    .col(string_len(a("project_id"), 40))
                    .col(string_len(a("product_id"), 40))
                    // The instant the day starts at in the account's billing offset (UTC).
                    .col(timestamp_with_time_zone(a("day_start")))
                    .col(big_integer(a("sum_micros")))
                    .col(big_integer(a("max_micros")))
                    .col(big_integer(a("latest_micros")))
                    .col(timestamp_with_time_zone(a("latest_at")))
                    .col(big_integer(a("event_count")))
                    .primary_key(
                        Index::create()
                            .col(a("project_id"))
                            .col(a("product_id"))
                            .col(a("day_start")),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(a("products"))
                    .add_column(string_len(a("fee_group"), 16).default("other"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(a("products"))
                    .drop_column(a("fee_group"))
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(a("usage_daily_rollups")).to_owned())
            .await
    }
}
