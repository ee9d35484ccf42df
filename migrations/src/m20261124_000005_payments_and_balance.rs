//! Payments and the prepaid balance (issue 11). Migration 1 created `payments`,
//! `payment_attempts` and `balance_entries` ahead of the feature; nothing ever wrote to them, so
//! they are dropped and made again in the shape the feature needs:
//!
//! - `payments`: one row per payment, by the balance or by the card, each attempt its own row
//!   (the payment history shows a failed charge and the retry that succeeded). A card payment
//!   is written `pending` with its gateway idempotency key before the gateway is called.
//! - `balance_entries`: the prepaid ledger, signed amounts; a deduction names its payment
//!   (unique: a payment deducts once).
//! - `sandbox_charges`: the built-in sandbox gateway's own record of the charges it made, by
//!   idempotency key, as a real gateway keeps one: a charge asked for twice is made once, and
//!   a charge whose answer was lost can be looked up.

use sea_orm_migration::prelude::*;

use crate::columns::{a, fk, id, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["payment_attempts", "balance_entries", "payments"] {
            manager
                .drop_table(Table::drop().table(a(table)).to_owned())
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(a("payments"))
                    .col(id("id").primary_key())
                    .col(id("account_id"))
                    .col(id("invoice_id"))
                    .col(id("receipt_id").unique_key())
                    // balance | card
                    .col(ColumnDef::new(a("method")).string_len(16).not_null())
                    .col(ColumnDef::new(a("payment_method_id")).string_len(40).null())
                    // What the customer sees of the card: "visa ending 4242, 12/2030".
                    .col(ColumnDef::new(a("method_label")).string_len(64).null())
                    .col(ColumnDef::new(a("attempt")).integer().not_null())
                    .col(
                        ColumnDef::new(a("gateway_key"))
                            .string_len(100)
                            .null()
                            .unique_key(),
                    )
                    // pending | successful | failed
                    .col(ColumnDef::new(a("status")).string_len(16).not_null())
                    .col(ColumnDef::new(a("amount_minor")).big_integer().not_null())
                    .col(ColumnDef::new(a("currency")).string_len(3).not_null())
                    .col(ColumnDef::new(a("failure_code")).string_len(64).null())
                    // hard | soft
                    .col(ColumnDef::new(a("decline")).string_len(8).null())
                    .col(
                        ColumnDef::new(a("next_attempt_at"))
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(a("created_at"))
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(a("paid_at"))
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .foreign_key(&mut fk("payments", "account_id", "accounts"))
                    .foreign_key(&mut fk("payments", "invoice_id", "invoices"))
                    .foreign_key(&mut fk("payments", "payment_method_id", "payment_methods"))
                    .to_owned(),
            )
            .await?;
        for statement in [
            index(
                "ux_payments_attempt",
                "payments",
                &["invoice_id", "attempt", "method"],
            )
            .unique()
            .to_owned(),
            index("ix_payments_by_account", "payments", &["account_id", "id"]),
            index(
                "ix_payments_by_status",
                "payments",
                &["status", "next_attempt_at"],
            ),
        ] {
            manager.create_index(statement).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(a("balance_entries"))
                    .col(id("id").primary_key())
                    .col(id("account_id"))
                    // deposit | deduction | refund | adjustment; amounts are signed
                    .col(ColumnDef::new(a("kind")).string_len(16).not_null())
                    .col(ColumnDef::new(a("amount_minor")).big_integer().not_null())
                    .col(ColumnDef::new(a("currency")).string_len(3).not_null())
                    .col(
                        ColumnDef::new(a("payment_id"))
                            .string_len(40)
                            .null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(a("description")).string_len(400).not_null())
                    .col(
                        ColumnDef::new(a("created_at"))
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(&mut fk("balance_entries", "account_id", "accounts"))
                    .foreign_key(&mut fk("balance_entries", "payment_id", "payments"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_balance_entries_by_account",
                "balance_entries",
                &["account_id", "id"],
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(a("sandbox_charges"))
                    .col(
                        ColumnDef::new(a("key"))
                            .string_len(100)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(a("token")).string_len(64).not_null())
                    .col(ColumnDef::new(a("amount_minor")).big_integer().not_null())
                    .col(ColumnDef::new(a("currency")).string_len(3).not_null())
                    // succeeded | declined
                    .col(ColumnDef::new(a("outcome")).string_len(16).not_null())
                    .col(ColumnDef::new(a("code")).string_len(64).null())
                    .col(
                        ColumnDef::new(a("created_at"))
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // The tables of migration 1 are not made again: nothing used them.
        for table in ["sandbox_charges", "balance_entries", "payments"] {
            manager
                .drop_table(Table::drop().table(a(table)).to_owned())
                .await?;
        }
        Ok(())
    }
}
