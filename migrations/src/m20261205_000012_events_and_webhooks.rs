//! Events and their webhooks (docs/events.md, docs/webhooks.md).
//!
//! - `events`: what happened, written in the transaction that made it happen. `seq` orders
//!   them: every transaction that records an account's events holds that account's row, so
//!   an account's events take their numbers in the order they happened.
//! - `webhook_endpoints`: where operators want events sent, with the signing secret (and the
//!   previous one while a rotation's grace runs).
//! - `webhook_deliveries`: one per event and endpoint that wants it, written with the event.
//!   `seq` orders an account's deliveries to an endpoint; the partial index finds each
//!   account's oldest undelivered one.
//! - `webhook_attempts`: every time a delivery was sent, and how it went.

use sea_orm_migration::prelude::*;

use crate::columns::{a, at, fk, id, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn seq() -> ColumnDef {
    ColumnDef::new(a("seq"))
        .big_integer()
        .not_null()
        .auto_increment()
        .primary_key()
        .to_owned()
}

fn text(name: &'static str) -> ColumnDef {
    ColumnDef::new(a(name)).text().not_null().to_owned()
}

fn maybe_at(name: &'static str) -> ColumnDef {
    ColumnDef::new(a(name))
        .timestamp_with_time_zone()
        .null()
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(a("events"))
                    .col(seq())
                    .col(id("id").unique_key())
                    // invoice.finalized, payment.failed, ...
                    .col(ColumnDef::new(a("type")).string_len(64).not_null())
                    .col(id("account_id"))
                    // The id of what it is about: an invoice, a payment, a credit, ...
                    .col(ColumnDef::new(a("object_id")).string_len(64).not_null())
                    // The whole event as it is listed and sent (JSON).
                    .col(text("body"))
                    .col(at("created_at"))
                    .foreign_key(&mut fk("events", "account_id", "accounts"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "events_account_seq",
                "events",
                &["account_id", "seq"],
            ))
            .await?;
        manager
            .create_index(index("events_created_at", "events", &["created_at"]))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(a("webhook_endpoints"))
                    .col(id("id").primary_key())
                    .col(ColumnDef::new(a("url")).string_len(2048).not_null())
                    .col(ColumnDef::new(a("description")).string_len(500).null())
                    // Only this account's events; every account's when null.
                    .col(ColumnDef::new(a("account_id")).string_len(40).null())
                    // A JSON array of event types.
                    .col(text("event_types"))
                    .col(ColumnDef::new(a("enabled")).boolean().not_null())
                    // Why it was disabled, when it was (by an operator, a 410, 3 days failing).
                    .col(ColumnDef::new(a("disabled_reason")).string_len(500).null())
                    // Since when every attempt has failed (none since a success); 3 days of it
                    // disable the endpoint.
                    .col(maybe_at("failing_since"))
                    .col(ColumnDef::new(a("secret")).string_len(100).not_null())
                    .col(ColumnDef::new(a("previous_secret")).string_len(100).null())
                    .col(maybe_at("previous_secret_expires_at"))
                    .col(at("created_at"))
                    .col(at("updated_at"))
                    .foreign_key(&mut fk("webhook_endpoints", "account_id", "accounts"))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(a("webhook_deliveries"))
                    .col(seq())
                    .col(id("id").unique_key())
                    .col(id("endpoint_id"))
                    .col(id("event_id"))
                    .col(ColumnDef::new(a("event_type")).string_len(64).not_null())
                    .col(id("account_id"))
                    .col(ColumnDef::new(a("attempts")).integer().not_null())
                    .col(at("next_attempt_at"))
                    // A sender holds it until then; another may take it after.
                    .col(maybe_at("claimed_until"))
                    .col(maybe_at("delivered_at"))
                    .col(ColumnDef::new(a("last_status_code")).integer().null())
                    .col(ColumnDef::new(a("last_error")).string_len(500).null())
                    .col(at("created_at"))
                    .foreign_key(&mut fk(
                        "webhook_deliveries",
                        "endpoint_id",
                        "webhook_endpoints",
                    ))
                    .foreign_key(&mut fk("webhook_deliveries", "event_id", "events"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "webhook_deliveries_endpoint_seq",
                "webhook_deliveries",
                &["endpoint_id", "seq"],
            ))
            .await?;
        manager
            .create_index(index(
                "webhook_deliveries_event",
                "webhook_deliveries",
                &["event_id"],
            ))
            .await?;
        // The undelivered ones: each account's oldest per endpoint, and what is due.
        let db = manager.get_connection();
        db.execute_unprepared(
            "CREATE INDEX webhook_deliveries_pending ON webhook_deliveries \
             (endpoint_id, account_id, seq) WHERE delivered_at IS NULL",
        )
        .await?;
        db.execute_unprepared(
            "CREATE INDEX webhook_deliveries_due ON webhook_deliveries \
             (next_attempt_at) WHERE delivered_at IS NULL",
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(a("webhook_attempts"))
                    .col(id("id").primary_key())
                    .col(id("delivery_id"))
                    .col(ColumnDef::new(a("number")).integer().not_null())
                    .col(at("started_at"))
                    .col(ColumnDef::new(a("duration_ms")).big_integer().not_null())
                    .col(ColumnDef::new(a("status_code")).integer().null())
                    // succeeded | failed
                    .col(ColumnDef::new(a("outcome")).string_len(16).not_null())
                    .col(ColumnDef::new(a("error")).string_len(500).null())
                    .foreign_key(&mut fk(
                        "webhook_attempts",
                        "delivery_id",
                        "webhook_deliveries",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "webhook_attempts_delivery",
                "webhook_attempts",
                &["delivery_id", "number"],
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "webhook_attempts",
            "webhook_deliveries",
            "webhook_endpoints",
            "events",
        ] {
            manager
                .drop_table(Table::drop().table(a(table)).to_owned())
                .await?;
        }
        Ok(())
    }
}
