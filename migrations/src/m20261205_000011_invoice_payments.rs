//! What an invoice says about its payment (docs/invoices.md, "What was paid, and how").
//!
//! - `paid_from_balance_minor`: what the prepaid balance paid of the invoice (`paid_minor` is
//!   what the balance and the card paid together), filled here from the successful balance
//!   payments already made.
//! - `payment_amount_minor` becomes `amount_due_minor`: it always held the total the invoice
//!   asks for, paid by the balance and the card together, never what the card alone pays.
//! - `balance_applied_minor` goes: it was written zero on every invoice (the balance pays when
//!   the invoice is charged, not when it is finalized), and what the balance did pay is now
//!   `paid_from_balance_minor`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

async fn run(manager: &SchemaManager<'_>, statements: &[&str]) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let backend = db.get_database_backend();
    for sql in statements {
        db.execute(Statement::from_string(backend, *sql)).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(
            manager,
            &[
                "ALTER TABLE invoices ADD COLUMN paid_from_balance_minor BIGINT NOT NULL DEFAULT 0",
                "UPDATE invoices SET paid_from_balance_minor = COALESCE((\
                 SELECT SUM(p.amount_minor) FROM payments p \
                 WHERE p.invoice_id = invoices.id AND p.method = 'balance' \
                 AND p.status = 'successful'), 0)",
                "ALTER TABLE invoices RENAME COLUMN payment_amount_minor TO amount_due_minor",
                "ALTER TABLE invoices DROP COLUMN balance_applied_minor",
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(
            manager,
            &[
                "ALTER TABLE invoices ADD COLUMN balance_applied_minor BIGINT NOT NULL DEFAULT 0",
                "ALTER TABLE invoices RENAME COLUMN amount_due_minor TO payment_amount_minor",
                "ALTER TABLE invoices DROP COLUMN paid_from_balance_minor",
            ],
        )
        .await
    }
}
