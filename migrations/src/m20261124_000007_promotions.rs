//! Promotions (issue 12). Migration 1 created `promotion_codes`, `promotions` and
//! `promotion_applications` ahead of the feature; nothing ever wrote to them, so they are
//! dropped and made again in the shape the feature needs:
//!
//! - `promotion_codes`: what an operator offers under a code: a percentage or a fixed amount
//!   off, maybe only some products, lasting once, N months or for ever, a redemption limit and
//!   a last day to apply (a date, read in the applying account's offset);
//! - `applied_promotions`: one per account and code (unique);
//! - `promotion_discounts`: what each finalized invoice was discounted, once per invoice, so
//!   a promotion lasting N months discounts N invoices.

use sea_orm_migration::prelude::*;

use crate::columns::{a, fk, id};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["promotion_applications", "promotions", "promotion_codes"] {
            manager
                .drop_table(Table::drop().table(a(table)).to_owned())
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(a("promotion_codes"))
                    .col(id("id").primary_key())
                    .col(
                        ColumnDef::new(a("code"))
                            .string_len(32)
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(a("name")).string_len(800).not_null())
                    // percent | amount
                    .col(ColumnDef::new(a("kind")).string_len(16).not_null())
                    .col(ColumnDef::new(a("percent")).string_len(16).null())
                    .col(ColumnDef::new(a("amount_minor")).big_integer().null())
                    .col(ColumnDef::new(a("currency")).string_len(3).null())
                    // A JSON array of product codes; null for every product.
                    .col(ColumnDef::new(a("products")).text().null())
                    // once | months | forever
                    .col(ColumnDef::new(a("lasting")).string_len(16).not_null())
                    .col(ColumnDef::new(a("months")).integer().null())
                    .col(ColumnDef::new(a("last_day")).string_len(10).null())
                    .col(ColumnDef::new(a("redemption_limit")).integer().null())
                    .col(ColumnDef::new(a("redemptions")).integer().not_null())
                    .col(
                        ColumnDef::new(a("created_at"))
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .check(Expr::cust(
                        "redemption_limit IS NULL OR redemptions <= redemption_limit",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(a("applied_promotions"))
                    .col(id("id").primary_key())
                    .col(id("account_id"))
                    .col(id("promotion_code_id"))
                    .col(
                        ColumnDef::new(a("applied_at"))
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(&mut fk("applied_promotions", "account_id", "accounts"))
                    .foreign_key(&mut fk(
                        "applied_promotions",
                        "promotion_code_id",
                        "promotion_codes",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_applied_promotions_by_account_and_code")
                    .table(a("applied_promotions"))
                    .col(a("account_id"))
                    .col(a("promotion_code_id"))
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(a("promotion_discounts"))
                    .col(id("applied_promotion_id"))
                    .col(id("invoice_id"))
                    .col(ColumnDef::new(a("amount_minor")).big_integer().not_null())
                    .primary_key(
                        Index::create()
                            .col(a("applied_promotion_id"))
                            .col(a("invoice_id")),
                    )
                    .foreign_key(&mut fk(
                        "promotion_discounts",
                        "applied_promotion_id",
                        "applied_promotions",
                    ))
                    .foreign_key(&mut fk("promotion_discounts", "invoice_id", "invoices"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // The tables of migration 1 are not made again: nothing used them.
        for table in [
            "promotion_discounts",
            "applied_promotions",
            "promotion_codes",
        ] {
            manager
                .drop_table(Table::drop().table(a(table)).to_owned())
                .await?;
        }
        Ok(())
    }
}
