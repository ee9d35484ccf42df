//! The initial schema, designed for the whole product (SPEC sections 2 to 9).
//!
//! Storage rules that hold for every table:
//! - Amounts of money are `BIGINT` integers of the currency's minor unit (`*_minor`), so every
//!   SQL sum is exact on SQLite and PostgreSQL alike. The currency sits beside them.
//! - Unit prices (up to 12 decimals) and tax rates are exact decimal strings (`TEXT`); they are
//!   read into `rust_decimal::Decimal`, never summed in SQL.
//! - Usage quantities in rollups are `BIGINT` integers of millionths of a unit (`*_micros`), exact
//!   and summable in SQL; the raw quantity of each event is kept as its exact decimal string.
//! - Instants are timestamps with time zone, stored in UTC.
//! - Exactly-once rules are unique constraints: one usage event id per account, one idempotency
//!   key per scope, one invoice per account and period, one registration of a credit code per
//!   account, one redemption of a promotion code per account, one lease per job and period.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const ID_LEN: u32 = 40;
const USER_LEN: u32 = 255;
const NAME_LEN: u32 = 200;
const CODE_LEN: u32 = 64;

fn id_col<T: IntoIden>(name: T) -> ColumnDef {
    string_len(name, ID_LEN)
}

fn fk(
    table: Alias,
    column: Alias,
    ref_table: Alias,
    ref_column: Alias,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(table, column)
        .to(ref_table, ref_column)
        .on_delete(ForeignKeyAction::Restrict)
        .on_update(ForeignKeyAction::Restrict)
        .to_owned()
}

fn index(name: &str, table: Alias, columns: &[&'static str]) -> IndexCreateStatement {
    let mut stmt = Index::create();
    stmt.name(name).table(table);
    for column in columns {
        stmt.col(Alias::new(*column));
    }
    stmt.to_owned()
}

fn unique(name: &str, table: Alias, columns: &[&'static str]) -> IndexCreateStatement {
    let mut stmt = index(name, table, columns);
    stmt.unique();
    stmt
}

/// Every table of this migration, in creation order; `down` drops them in reverse.
const TABLES: &[&str] = &[
    "accounts",
    "account_members",
    "projects",
    "project_participants",
    "products",
    "plans",
    "plan_prices",
    "project_plans",
    "usage_events",
    "usage_rollups",
    "invoices",
    "invoice_lines",
    "credit_codes",
    "credits",
    "credit_applications",
    "promotion_codes",
    "promotions",
    "promotion_applications",
    "payment_methods",
    "payments",
    "payment_attempts",
    "balance_entries",
    "idempotency_keys",
    "email_outbox",
    "job_leases",
];

fn t(name: &'static str) -> Alias {
    Alias::new(name)
}

fn c(name: &'static str) -> Alias {
    Alias::new(name)
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in tables() {
            manager.create_table(table).await?;
        }
        for idx in indexes() {
            manager.create_index(idx).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in TABLES.iter().rev() {
            manager
                .drop_table(Table::drop().table(t(name)).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}

fn tables() -> Vec<TableCreateStatement> {
    vec![
        // --- Access (SPEC 8) -------------------------------------------------------------------
        Table::create()
            .table(t("accounts"))
            .col(id_col(c("id")).primary_key())
            .col(string_len(c("name"), NAME_LEN * 4))
            .col(string_len(c("currency"), 3))
            .col(integer(c("billing_offset_minutes")))
            .col(string_len(c("tax_rate"), 16))
            .col(string_len_null(c("billing_email"), 254))
            .col(timestamp_with_time_zone(c("created_at")))
            .col(timestamp_with_time_zone(c("updated_at")))
            .to_owned(),
        Table::create()
            .table(t("account_members"))
            .col(id_col(c("account_id")))
            .col(string_len(c("user_id"), USER_LEN))
            .col(string_len(c("role"), 20))
            .col(timestamp_with_time_zone(c("created_at")))
            .primary_key(Index::create().col(c("account_id")).col(c("user_id")))
            .foreign_key(&mut fk(
                t("account_members"),
                c("account_id"),
                t("accounts"),
                c("id"),
            ))
            .to_owned(),
        Table::create()
            .table(t("projects"))
            .col(id_col(c("id")).primary_key())
            .col(id_col(c("account_id")))
            .col(string_len(c("name"), NAME_LEN * 4))
            .col(timestamp_with_time_zone(c("created_at")))
            .col(timestamp_with_time_zone_null(c("closed_at")))
            .foreign_key(&mut fk(
                t("projects"),
                c("account_id"),
                t("accounts"),
                c("id"),
            ))
            .to_owned(),
        Table::create()
            .table(t("project_participants"))
            .col(id_col(c("project_id")))
            .col(string_len(c("user_id"), USER_LEN))
            .col(boolean(c("billing_permission")))
            .col(timestamp_with_time_zone(c("created_at")))
            .primary_key(Index::create().col(c("project_id")).col(c("user_id")))
            .foreign_key(&mut fk(
                t("project_participants"),
                c("project_id"),
                t("projects"),
                c("id"),
            ))
            .to_owned(),
        // --- Catalog (SPEC 3) ------------------------------------------------------------------
        Table::create()
            .table(t("products"))
            .col(id_col(c("id")).primary_key())
            .col(string_len(c("code"), CODE_LEN).unique_key())
            .col(string_len(c("name"), NAME_LEN * 4))
            .col(string_len(c("unit"), 32))
            .col(string_len(c("aggregation"), 16))
            .col(timestamp_with_time_zone(c("created_at")))
            .to_owned(),
        Table::create()
            .table(t("plans"))
            .col(id_col(c("id")).primary_key())
            .col(string_len(c("code"), CODE_LEN).unique_key())
            .col(string_len(c("name"), NAME_LEN * 4))
            .col(string_len(c("currency"), 3))
            // A price (exact decimal text, up to 12 decimals), rounded only on invoice lines.
            .col(string_len(c("base_fee"), 48))
            // Set when an invoice first uses the plan: its prices can no longer change.
            .col(timestamp_with_time_zone_null(c("locked_at")))
            .col(timestamp_with_time_zone(c("created_at")))
            .to_owned(),
        Table::create()
            .table(t("plan_prices"))
            .col(id_col(c("plan_id")))
            .col(id_col(c("product_id")))
            // per_unit | package | graduated | volume | hourly
            .col(string_len(c("model"), 16))
            // Exact decimal text: the unit price (per_unit), the package price (package) or the
            // monthly price (hourly); NULL for tiered models.
            .col(string_len_null(c("unit_price"), 48))
            .col(string_len_null(c("package_size"), 48))
            .col(string_len(c("free_quantity"), 48))
            // JSON array of {up_to, unit_price, flat_fee} for graduated and volume tiers.
            .col(text_null(c("tiers")))
            .primary_key(Index::create().col(c("plan_id")).col(c("product_id")))
            .foreign_key(&mut fk(t("plan_prices"), c("plan_id"), t("plans"), c("id")))
            .foreign_key(&mut fk(
                t("plan_prices"),
                c("product_id"),
                t("products"),
                c("id"),
            ))
            .to_owned(),
        Table::create()
            .table(t("project_plans"))
            .col(id_col(c("id")).primary_key())
            .col(id_col(c("project_id")))
            .col(id_col(c("plan_id")))
            .col(timestamp_with_time_zone(c("effective_from")))
            .col(timestamp_with_time_zone(c("created_at")))
            .foreign_key(&mut fk(
                t("project_plans"),
                c("project_id"),
                t("projects"),
                c("id"),
            ))
            .foreign_key(&mut fk(
                t("project_plans"),
                c("plan_id"),
                t("plans"),
                c("id"),
            ))
            .to_owned(),
        // --- Usage (SPEC 4) --------------------------------------------------------------------
        Table::create()
            .table(t("usage_events"))
            .col(id_col(c("account_id")))
            .col(string_len(c("event_id"), USER_LEN))
            .col(id_col(c("project_id")))
            .col(id_col(c("product_id")))
            .col(string_len(c("quantity"), 48))
            .col(timestamp_with_time_zone(c("occurred_at")))
            .col(timestamp_with_time_zone(c("received_at")))
            .col(text_null(c("properties")))
            .primary_key(Index::create().col(c("account_id")).col(c("event_id")))
            .foreign_key(&mut fk(
                t("usage_events"),
                c("account_id"),
                t("accounts"),
                c("id"),
            ))
            .to_owned(),
        Table::create()
            .table(t("usage_rollups"))
            .col(id_col(c("project_id")))
            .col(id_col(c("product_id")))
            // Start of the hour bucket (UTC instant; hours of every whole-minute offset align
            // to quarter hours, so buckets are hours of the account's billing offset).
            .col(timestamp_with_time_zone(c("bucket_start")))
            .col(big_integer(c("sum_micros")))
            .col(big_integer(c("max_micros")))
            .col(big_integer(c("latest_micros")))
            .col(timestamp_with_time_zone(c("latest_at")))
            .col(big_integer(c("event_count")))
            .primary_key(
                Index::create()
                    .col(c("project_id"))
                    .col(c("product_id"))
                    .col(c("bucket_start")),
            )
            .to_owned(),
        // --- Invoices (SPEC 5) -----------------------------------------------------------------
        Table::create()
            .table(t("invoices"))
            .col(id_col(c("id")).primary_key())
            .col(id_col(c("account_id")))
            .col(string_len(c("period"), 7))
            .col(string_len(c("currency"), 3))
            // open | finalized | paid | void
            .col(string_len(c("status"), 16))
            .col(big_integer(c("usage_amount_minor")))
            .col(big_integer(c("discount_minor")))
            .col(big_integer(c("credit_minor")))
            .col(big_integer(c("determined_amount_minor")))
            .col(string_len(c("tax_rate"), 16))
            .col(big_integer(c("tax_minor")))
            .col(big_integer(c("total_minor")))
            .col(big_integer(c("balance_applied_minor")))
            .col(big_integer(c("payment_amount_minor")))
            .col(big_integer(c("paid_minor")))
            .col(timestamp_with_time_zone(c("billing_date")))
            .col(timestamp_with_time_zone(c("finalized_at")))
            .col(timestamp_with_time_zone_null(c("paid_at")))
            .foreign_key(&mut fk(
                t("invoices"),
                c("account_id"),
                t("accounts"),
                c("id"),
            ))
            .to_owned(),
        Table::create()
            .table(t("invoice_lines"))
            .col(id_col(c("invoice_id")))
            .col(integer(c("position")))
            // usage | base_fee | discount | credit | tax
            .col(string_len(c("kind"), 16))
            .col(id_col_null("project_id"))
            .col(id_col_null("product_id"))
            .col(string_len(c("description"), 400))
            .col(string_len_null(c("quantity"), 48))
            .col(string_len_null(c("unit_price"), 48))
            .col(string_len_null(c("hours"), 48))
            .col(big_integer(c("amount_minor")))
            .primary_key(Index::create().col(c("invoice_id")).col(c("position")))
            .foreign_key(&mut fk(
                t("invoice_lines"),
                c("invoice_id"),
                t("invoices"),
                c("id"),
            ))
            .to_owned(),
        // --- Credits (SPEC 6) ------------------------------------------------------------------
        Table::create()
            .table(t("credit_codes"))
            .col(id_col(c("id")).primary_key())
            .col(string_len(c("code"), CODE_LEN).unique_key())
            .col(string_len(c("name"), NAME_LEN * 4))
            .col(string_len(c("currency"), 3))
            .col(big_integer(c("amount_minor")))
            .col(timestamp_with_time_zone_null(c("expires_at")))
            .col(integer_null(c("valid_days")))
            .col(integer(c("max_registrations")))
            .col(integer(c("registrations")))
            .col(timestamp_with_time_zone(c("created_at")))
            .to_owned(),
        Table::create()
            .table(t("credits"))
            .col(id_col(c("id")).primary_key())
            .col(id_col(c("account_id")))
            .col(id_col(c("credit_code_id")))
            .col(string_len(c("name"), NAME_LEN * 4))
            .col(big_integer(c("charged_minor")))
            .col(big_integer(c("used_minor")))
            .col(timestamp_with_time_zone(c("registered_at")))
            .col(timestamp_with_time_zone(c("expires_at")))
            .foreign_key(&mut fk(
                t("credits"),
                c("account_id"),
                t("accounts"),
                c("id"),
            ))
            .foreign_key(&mut fk(
                t("credits"),
                c("credit_code_id"),
                t("credit_codes"),
                c("id"),
            ))
            .to_owned(),
        Table::create()
            .table(t("credit_applications"))
            .col(id_col(c("credit_id")))
            .col(id_col(c("invoice_id")))
            .col(big_integer(c("amount_minor")))
            .primary_key(Index::create().col(c("credit_id")).col(c("invoice_id")))
            .foreign_key(&mut fk(
                t("credit_applications"),
                c("credit_id"),
                t("credits"),
                c("id"),
            ))
            .foreign_key(&mut fk(
                t("credit_applications"),
                c("invoice_id"),
                t("invoices"),
                c("id"),
            ))
            .to_owned(),
        // --- Promotions (SPEC 6) ---------------------------------------------------------------
        Table::create()
            .table(t("promotion_codes"))
            .col(id_col(c("id")).primary_key())
            .col(string_len(c("code"), CODE_LEN).unique_key())
            .col(string_len(c("name"), NAME_LEN * 4))
            // percent | fixed
            .col(string_len(c("kind"), 16))
            .col(string_len_null(c("percent"), 16))
            .col(big_integer_null(c("amount_minor")))
            .col(string_len_null(c("currency"), 3))
            // JSON array of product codes; NULL means every product.
            .col(text_null(c("product_codes")))
            // NULL means forever.
            .col(integer_null(c("duration_months")))
            .col(timestamp_with_time_zone_null(c("redeemable_until")))
            .col(integer_null(c("max_redemptions")))
            .col(integer(c("redemptions")))
            .col(timestamp_with_time_zone(c("created_at")))
            .to_owned(),
        Table::create()
            .table(t("promotions"))
            .col(id_col(c("id")).primary_key())
            .col(id_col(c("account_id")))
            .col(id_col(c("promotion_code_id")))
            .col(string_len(c("first_period"), 7))
            .col(timestamp_with_time_zone(c("applied_at")))
            .foreign_key(&mut fk(
                t("promotions"),
                c("account_id"),
                t("accounts"),
                c("id"),
            ))
            .foreign_key(&mut fk(
                t("promotions"),
                c("promotion_code_id"),
                t("promotion_codes"),
                c("id"),
            ))
            .to_owned(),
        Table::create()
            .table(t("promotion_applications"))
            .col(id_col(c("promotion_id")))
            .col(id_col(c("invoice_id")))
            .col(big_integer(c("amount_minor")))
            .primary_key(Index::create().col(c("promotion_id")).col(c("invoice_id")))
            .foreign_key(&mut fk(
                t("promotion_applications"),
                c("promotion_id"),
                t("promotions"),
                c("id"),
            ))
            .foreign_key(&mut fk(
                t("promotion_applications"),
                c("invoice_id"),
                t("invoices"),
                c("id"),
            ))
            .to_owned(),
        // --- Payments and balance (SPEC 7) -----------------------------------------------------
        Table::create()
            .table(t("payment_methods"))
            .col(id_col(c("id")).primary_key())
            .col(id_col(c("account_id")))
            .col(string_len(c("gateway_reference"), 255))
            .col(string_len(c("brand"), 32))
            .col(string_len(c("last4"), 4))
            .col(small_integer(c("exp_month")))
            .col(small_integer(c("exp_year")))
            .col(boolean(c("is_default")))
            .col(timestamp_with_time_zone(c("created_at")))
            .col(timestamp_with_time_zone_null(c("removed_at")))
            .foreign_key(&mut fk(
                t("payment_methods"),
                c("account_id"),
                t("accounts"),
                c("id"),
            ))
            .to_owned(),
        Table::create()
            .table(t("payments"))
            .col(id_col(c("id")).primary_key())
            .col(id_col(c("account_id")))
            .col(id_col(c("invoice_id")))
            .col(string_len(c("receipt_id"), ID_LEN).unique_key())
            .col(id_col_null("payment_method_id"))
            // pending | successful | failed
            .col(string_len(c("status"), 16))
            .col(big_integer(c("amount_minor")))
            .col(string_len(c("currency"), 3))
            .col(timestamp_with_time_zone(c("billing_date")))
            .col(timestamp_with_time_zone_null(c("paid_at")))
            .col(timestamp_with_time_zone_null(c("next_retry_at")))
            .col(integer(c("attempts")))
            .col(timestamp_with_time_zone(c("created_at")))
            .foreign_key(&mut fk(
                t("payments"),
                c("account_id"),
                t("accounts"),
                c("id"),
            ))
            .foreign_key(&mut fk(
                t("payments"),
                c("invoice_id"),
                t("invoices"),
                c("id"),
            ))
            .to_owned(),
        Table::create()
            .table(t("payment_attempts"))
            .col(id_col(c("payment_id")))
            .col(integer(c("attempt")))
            .col(string_len(c("outcome"), 32))
            .col(string_len_null(c("gateway_reference"), 255))
            .col(string_len_null(c("failure_code"), 64))
            .col(timestamp_with_time_zone(c("attempted_at")))
            .primary_key(Index::create().col(c("payment_id")).col(c("attempt")))
            .foreign_key(&mut fk(
                t("payment_attempts"),
                c("payment_id"),
                t("payments"),
                c("id"),
            ))
            .to_owned(),
        Table::create()
            .table(t("balance_entries"))
            .col(id_col(c("id")).primary_key())
            .col(id_col(c("account_id")))
            // deposit | deduction | refund | adjustment; amounts are signed
            .col(string_len(c("kind"), 16))
            .col(big_integer(c("amount_minor")))
            .col(string_len(c("currency"), 3))
            .col(id_col_null("invoice_id"))
            .col(string_len(c("description"), 400))
            .col(timestamp_with_time_zone(c("created_at")))
            .foreign_key(&mut fk(
                t("balance_entries"),
                c("account_id"),
                t("accounts"),
                c("id"),
            ))
            .to_owned(),
        // --- Cross-cutting ---------------------------------------------------------------------
        Table::create()
            .table(t("idempotency_keys"))
            // The account id, or `admin` for operator requests.
            .col(string_len(c("scope"), ID_LEN))
            .col(string_len(c("key"), USER_LEN))
            .col(string_len(c("request_hash"), 64))
            .col(integer_null(c("response_status")))
            .col(text_null(c("response_body")))
            .col(timestamp_with_time_zone(c("created_at")))
            .primary_key(Index::create().col(c("scope")).col(c("key")))
            .to_owned(),
        Table::create()
            .table(t("email_outbox"))
            .col(id_col(c("id")).primary_key())
            .col(id_col(c("account_id")))
            .col(string_len(c("kind"), 32))
            // The invoice or receipt this mail is about; unique with kind, so it is sent once.
            .col(id_col(c("subject_id")))
            .col(string_len(c("recipient"), 254))
            .col(string_len(c("subject"), 400))
            .col(text(c("body")))
            .col(integer(c("attempts")))
            .col(timestamp_with_time_zone(c("next_attempt_at")))
            .col(timestamp_with_time_zone_null(c("sent_at")))
            .col(text_null(c("last_error")))
            .col(timestamp_with_time_zone(c("created_at")))
            .to_owned(),
        Table::create()
            .table(t("job_leases"))
            // e.g. finalize:2026-11, charge:2026-12-05
            .col(string_len(c("job"), 128).primary_key())
            .col(string_len(c("holder"), 128))
            .col(timestamp_with_time_zone(c("leased_until")))
            .col(timestamp_with_time_zone_null(c("completed_at")))
            .to_owned(),
    ]
}

fn id_col_null(name: &'static str) -> ColumnDef {
    string_len_null(c(name), ID_LEN)
}

fn indexes() -> Vec<IndexCreateStatement> {
    vec![
        index(
            "ix_account_members_user",
            t("account_members"),
            &["user_id", "account_id"],
        ),
        index("ix_projects_account", t("projects"), &["account_id", "id"]),
        index(
            "ix_project_participants_user",
            t("project_participants"),
            &["user_id", "project_id"],
        ),
        unique(
            "ux_project_plans_effective",
            t("project_plans"),
            &["project_id", "effective_from"],
        ),
        index(
            "ix_usage_events_project",
            t("usage_events"),
            &["project_id", "occurred_at"],
        ),
        index(
            "ix_usage_rollups_product",
            t("usage_rollups"),
            &["product_id", "bucket_start"],
        ),
        unique(
            "ux_invoices_account_period",
            t("invoices"),
            &["account_id", "period"],
        ),
        unique(
            "ux_credits_account_code",
            t("credits"),
            &["account_id", "credit_code_id"],
        ),
        index(
            "ix_credits_account_expiry",
            t("credits"),
            &["account_id", "expires_at"],
        ),
        unique(
            "ux_promotions_account_code",
            t("promotions"),
            &["account_id", "promotion_code_id"],
        ),
        index(
            "ix_payment_methods_account",
            t("payment_methods"),
            &["account_id", "id"],
        ),
        index("ix_payments_account", t("payments"), &["account_id", "id"]),
        index(
            "ix_payments_retry",
            t("payments"),
            &["status", "next_retry_at"],
        ),
        index(
            "ix_balance_entries_account",
            t("balance_entries"),
            &["account_id", "id"],
        ),
        unique(
            "ux_email_outbox_subject",
            t("email_outbox"),
            &["kind", "subject_id"],
        ),
        index(
            "ix_email_outbox_due",
            t("email_outbox"),
            &["sent_at", "next_attempt_at"],
        ),
    ]
}
