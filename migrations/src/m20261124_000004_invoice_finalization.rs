//! Finalized invoices (issue 10): what migration 1 created ahead of time gets what finalization
//! stores.
//!
//! - `invoices.number`: the human number (`INV-000001`), unique; every finalized invoice has one.
//! - `invoice_numbers`: the last number given, one row per series, taken in the finalizing
//!   transaction: a rolled-back finalization gives its number back, so numbers have no gaps.
//! - `invoice_lines` keeps what was charged and why, frozen at finalization: the plan and product
//!   codes, the project's name at the time, the promotion or credit of a discount or credit line,
//!   the exact amount before rounding, the free quantity and the month's reference hours.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn a(name: &'static str) -> Alias {
    Alias::new(name)
}

/// The nullable columns added to `invoice_lines`, with their lengths (`None`: an integer).
const LINE_COLUMNS: [(&str, Option<u32>); 7] = [
    ("plan_code", Some(64)),
    ("product_code", Some(64)),
    ("project_name", Some(400)),
    ("reference", Some(40)),
    ("exact_amount", Some(64)),
    ("free_quantity", Some(48)),
    ("reference_hours", None),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(a("invoices"))
                    .add_column(ColumnDef::new(a("number")).string_len(16).null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_invoices_number")
                    .table(a("invoices"))
                    .col(a("number"))
                    .unique()
                    .to_owned(),
            )
            .await?;
        // SQLite alters one column per statement.
        for (name, len) in LINE_COLUMNS {
            let mut column = ColumnDef::new(a(name));
            match len {
                Some(len) => column.string_len(len),
                None => column.integer(),
            };
            manager
                .alter_table(
                    Table::alter()
                        .table(a("invoice_lines"))
                        .add_column(column.null())
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(a("invoice_numbers"))
                    .col(ColumnDef::new(a("series")).string_len(32).primary_key())
                    .col(ColumnDef::new(a("last_number")).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        let insert = Query::insert()
            .into_table(a("invoice_numbers"))
            .columns([a("series"), a("last_number")])
            .values_panic(["invoice".into(), 0i64.into()])
            .to_owned();
        manager.exec_stmt(insert).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(a("invoice_numbers")).to_owned())
            .await?;
        for (name, _) in LINE_COLUMNS {
            manager
                .alter_table(
                    Table::alter()
                        .table(a("invoice_lines"))
                        .drop_column(a(name))
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_index(
                Index::drop()
                    .name("ux_invoices_number")
                    .table(a("invoices"))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(a("invoices"))
                    .drop_column(a("number"))
                    .to_owned(),
            )
            .await
    }
}
