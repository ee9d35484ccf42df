//! Credit codes and credits (issue 12). Migration 1 created `credit_codes`, `credits` and
//! `credit_applications` ahead of the feature; nothing ever wrote to them, so they are dropped
//! and made again in the shape the feature needs:
//!
//! - `credit_codes`: the code in its plain form (unique), an expiry date (`expires_on`, read in
//!   the registering account's offset) or a validity in days, how many accounts may register it
//!   and how many have, and when it was revoked.
//! - `credits`: one per account and code (unique), with what it was charged, used and lost to
//!   expiry; a check keeps used + expired within charged.
//! - `credit_entries`: the ledger behind those sums: charged, used (per invoice, once), expired.
//! - `credit_attempts`: failed registrations per account, to slow down guessing.

use sea_orm_migration::prelude::*;

use crate::columns::{a, at, fk, id, money};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["credit_applications", "credits", "credit_codes"] {
            manager
                .drop_table(Table::drop().table(a(table)).to_owned())
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(a("credit_codes"))
                    .col(id("id").primary_key())
                    .col(
                        ColumnDef::new(a("code"))
                            .string_len(20)
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(a("name")).string_len(800).not_null())
                    .col(ColumnDef::new(a("currency")).string_len(3).not_null())
                    .col(money("amount_minor"))
                    .col(ColumnDef::new(a("expires_on")).string_len(10).null())
                    .col(ColumnDef::new(a("valid_days")).integer().null())
                    .col(ColumnDef::new(a("max_registrations")).integer().not_null())
                    .col(ColumnDef::new(a("registrations")).integer().not_null())
                    .col(
                        ColumnDef::new(a("revoked_at"))
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(at("created_at"))
                    .check(Expr::cust("registrations <= max_registrations"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(a("credits"))
                    .col(id("id").primary_key())
                    .col(id("account_id"))
                    .col(id("credit_code_id"))
                    .col(ColumnDef::new(a("name")).string_len(800).not_null())
                    .col(ColumnDef::new(a("currency")).string_len(3).not_null())
                    .col(money("charged_minor"))
                    .col(money("used_minor"))
                    .col(money("expired_minor"))
                    .col(at("registered_at"))
                    .col(at("expires_at"))
                    .check(Expr::cust(
                        "used_minor >= 0 AND expired_minor >= 0 \
                         AND used_minor + expired_minor <= charged_minor",
                    ))
                    .foreign_key(&mut fk("credits", "account_id", "accounts"))
                    .foreign_key(&mut fk("credits", "credit_code_id", "credit_codes"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_credits_by_account_and_code")
                    .table(a("credits"))
                    .col(a("account_id"))
                    .col(a("credit_code_id"))
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(a("credit_entries"))
                    .col(id("id").primary_key())
                    .col(id("credit_id"))
                    // charged | used | expired; amounts are positive
                    .col(ColumnDef::new(a("kind")).string_len(16).not_null())
                    .col(money("amount_minor"))
                    .col(ColumnDef::new(a("invoice_id")).string_len(40).null())
                    .col(at("created_at"))
                    .foreign_key(&mut fk("credit_entries", "credit_id", "credits"))
                    .foreign_key(&mut fk("credit_entries", "invoice_id", "invoices"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_credit_entries_by_invoice")
                    .table(a("credit_entries"))
                    .col(a("credit_id"))
                    .col(a("invoice_id"))
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(a("credit_attempts"))
                    .col(id("id").primary_key())
                    .col(id("account_id"))
                    .col(at("attempted_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_credit_attempts_by_account")
                    .table(a("credit_attempts"))
                    .col(a("account_id"))
                    .col(a("attempted_at"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // The tables of migration 1 are not made again: nothing used them.
        for table in [
            "credit_attempts",
            "credit_entries",
            "credits",
            "credit_codes",
        ] {
            manager
                .drop_table(Table::drop().table(a(table)).to_owned())
                .await?;
        }
        Ok(())
    }
}
