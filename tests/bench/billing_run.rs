//! The billing run at scale (issue 10): one run finalizing N accounts (100,000 by default), each
//! with 3 projects on a plan and usage in every project, on PostgreSQL and on SQLite, timed and
//! printed as accounts per second. Target: the whole run in under a minute on the 2-core machine.
//!
//! ```sh
//! cargo run --release -p billing-tests --bin billing-run-bench
//! cargo run --release -p billing-tests --bin billing-run-bench -- --accounts 10000 --skip-sqlite
//! ```
//!
//! The accounts are written in bulk (multi-row inserts, the rows an API would have made: an
//! account, its projects, their plan from the start of the period, a day of usage each), on the
//! demo's catalog; only the billing run is timed, through the same use case as
//! `POST /v1/admin/billing-runs` and `billing run`.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::float_arithmetic,
    clippy::print_stdout,
    reason = "a measuring tool: it stops on the first failure and prints figures"
)]

use std::sync::Arc;
use std::time::Instant;

use billing_api::config::Settings;
use billing_api::startup::{app_state, open_database};
use billing_application::clock::SystemClock;
use billing_application::invoices::finalize;
use billing_domain::instant::normalize;
use clap::Parser;
use sea_orm::sea_query::{Alias, InsertStatement, PostgresQueryBuilder, Query, SqliteQueryBuilder};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, TransactionTrait};
use time::macros::datetime;
use time::OffsetDateTime;

#[derive(Parser)]
#[command(
    name = "billing-run-bench",
    about = "Times one billing run over many accounts"
)]
struct Options {
    /// How many accounts to finalize.
    #[arg(long, default_value_t = 100_000)]
    accounts: u64,
    #[arg(long)]
    skip_postgres: bool,
    #[arg(long)]
    skip_sqlite: bool,
}

const PROJECTS: u64 = 3;
/// Rows per insert statement.
const CHUNK: u64 = 500;

fn a(name: &str) -> Alias {
    Alias::new(name)
}

fn hex_id(prefix: &str, n: u64) -> String {
    format!("{prefix}_{:032x}", u128::from(n))
}

async fn exec(db: &impl ConnectionTrait, insert: &InsertStatement) {
    let backend = db.get_database_backend();
    let (sql, values) = match backend {
        DbBackend::Postgres => insert.build(PostgresQueryBuilder),
        _ => insert.build(SqliteQueryBuilder),
    };
    db.execute(Statement::from_sql_and_values(backend, sql, values))
        .await
        .expect("seed insert");
}

async fn id_of(db: &DatabaseConnection, table: &str, code: &str) -> String {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => format!("SELECT id FROM {table} WHERE code = $1"),
        _ => format!("SELECT id FROM {table} WHERE code = ?"),
    };
    let row = db
        .query_one(Statement::from_sql_and_values(backend, sql, [code.into()]))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no {table} {code}"));
    row.try_get("", "id").unwrap()
}

/// Accounts numbered from 1_000_000 up (clear of anything else), in Seoul, KRW, 10 % tax; each
/// with 3 projects on `plan` from 2026-09-01 and 1,000 API calls on 2026-09-10 in each.
async fn seed(db: &DatabaseConnection, accounts: u64, plan: &str, product: &str) {
    let now = normalize(OffsetDateTime::now_utc());
    let from = normalize(datetime!(2026-09-01 00:00 +09:00));
    let day = normalize(datetime!(2026-09-10 00:00 +09:00));
    let first = 1_000_000u64;
    let mut start = 0;
    while start < accounts {
        let end = (start + CHUNK).min(accounts);
        let txn = db.begin().await.unwrap();
        let mut rows = Query::insert();
        rows.into_table(a("accounts")).columns(
            [
                "id",
                "name",
                "currency",
                "billing_offset_minutes",
                "tax_rate",
                "created_at",
                "updated_at",
            ]
            .map(a),
        );
        let mut projects = Query::insert();
        projects
            .into_table(a("projects"))
            .columns(["id", "account_id", "name", "name_key", "created_at"].map(a));
        let mut plans = Query::insert();
        plans.into_table(a("project_plans")).columns(
            [
                "id",
                "project_id",
                "plan_id",
                "effective_from",
                "created_at",
            ]
            .map(a),
        );
        let mut usage = Query::insert();
        usage.into_table(a("usage_daily_rollups")).columns(
            [
                "project_id",
                "product_id",
                "day_start",
                "sum_micros",
                "max_micros",
                "latest_micros",
                "latest_at",
                "event_count",
            ]
            .map(a),
        );
        for n in start..end {
            let account = hex_id("acct", first + n);
            rows.values_panic([
                account.clone().into(),
                format!("Bench {n}").into(),
                "KRW".into(),
                540i32.into(),
                "0.1".into(),
                now.into(),
                now.into(),
            ]);
            for p in 0..PROJECTS {
                let key = (first + n) * PROJECTS + p;
                let project = hex_id("proj", key);
                projects.values_panic([
                    project.clone().into(),
                    account.clone().into(),
                    format!("p{p}").into(),
                    format!("p{p}").into(),
                    now.into(),
                ]);
                plans.values_panic([
                    hex_id("pp", key).into(),
                    project.clone().into(),
                    plan.into(),
                    from.into(),
                    now.into(),
                ]);
                let calls = 1_000i64 * 1_000_000;
                usage.values_panic([
                    project.into(),
                    product.into(),
                    day.into(),
                    calls.into(),
                    calls.into(),
                    calls.into(),
                    day.into(),
                    1_000i64.into(),
                ]);
            }
        }
        for insert in [&rows, &projects, &plans, &usage] {
            exec(&txn, insert).await;
        }
        txn.commit().await.unwrap();
        start = end;
    }
}

async fn invoices_of(db: &DatabaseConnection) -> i64 {
    let backend = db.get_database_backend();
    let row = db
        .query_one(Statement::from_string(
            backend,
            "SELECT COUNT(*) AS n FROM invoices WHERE period = '2026-09'",
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get("", "n").unwrap()
}

async fn bench(name: &str, mut settings: Settings, accounts: u64) {
    settings.auth.hs256_secret = "bench-secret-0123456789-0123456789-0123".into();
    let db = open_database(&settings).await.expect("open the database");
    let state = app_state(&settings, Arc::new(SystemClock), db.clone()).unwrap();
    billing_api::demo::load(&state)
        .await
        .expect("the demo catalog");
    let plan = id_of(&db, "plans", "standard-krw").await;
    let product = id_of(&db, "products", "api_calls").await;
    let seeding = Instant::now();
    seed(&db, accounts, &plan, &product).await;
    // The statistics a database gathers on its own after a bulk load (autovacuum; this
    // machine's PostgreSQL runs without it), so the planner knows the tables are large.
    db.execute_unprepared("ANALYZE").await.unwrap();
    println!(
        "{name:<9} seeded {accounts} accounts x {PROJECTS} projects in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );
    // September 2026 (Seoul) is due from 2026-10-01 15:00 UTC with a day of grace; the demo's
    // own months are not yet.
    let as_of = datetime!(2026-10-03 00:00 UTC);
    // Autovacuum's other part: as the run fills `invoices` and its lines, a real PostgreSQL
    // analyzes them again (after each 10% of growth), and the plans cached by every connection
    // (among them the foreign-key checks of each line insert) are made again for the tables'
    // new size. This machine's PostgreSQL runs with autovacuum off, so the bench does it.
    let analyzer = (db.get_database_backend() == DbBackend::Postgres).then(|| {
        let db = db.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                db.execute_unprepared("ANALYZE invoices, invoice_lines, email_outbox")
                    .await
                    .unwrap();
            }
        })
    });
    let started = Instant::now();
    let report = finalize::run(&state, as_of).await.expect("the billing run");
    let elapsed = started.elapsed();
    if let Some(analyzer) = analyzer {
        analyzer.abort();
    }
    let finalized: usize = report.finalized.iter().map(|(_, f)| f.len()).sum();
    assert_eq!(
        invoices_of(&db).await,
        accounts as i64,
        "one invoice per account"
    );
    assert_eq!(finalized as u64, accounts);
    println!(
        "{name:<9} billing run: {finalized} invoices for {} accounts in {:.1} s: {:.0} accounts/s (target: {accounts} in under 60 s)",
        report.accounts_examined,
        elapsed.as_secs_f64(),
        accounts as f64 / elapsed.as_secs_f64()
    );
    db.close().await.ok();
}

fn main() {
    let o = Options::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        if !o.skip_postgres {
            let url = std::env::var("BENCH_DATABASE_URL")
                .or_else(|_| std::env::var("TEST_DATABASE_URL"))
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
            let schema = format!("bench_run_{}", uuid::Uuid::new_v4().simple());
            let admin = sea_orm::Database::connect(&url).await.expect("PostgreSQL");
            admin
                .execute_unprepared(&format!("CREATE SCHEMA \"{schema}\""))
                .await
                .unwrap();
            let mut settings = Settings::default();
            settings.database.url = url.clone();
            settings.database.schema = schema.clone();
            bench("postgres", settings, o.accounts).await;
            admin
                .execute_unprepared(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
                .await
                .ok();
        }
        if !o.skip_sqlite {
            let path = std::env::temp_dir().join(format!(
                "billing-run-bench-{}.db",
                uuid::Uuid::new_v4().simple()
            ));
            let mut settings = Settings::default();
            settings.database.url = format!("sqlite://{}?mode=rwc", path.display());
            bench("sqlite", settings, o.accounts).await;
            for suffix in ["", "-wal", "-shm"] {
                let mut file = path.clone().into_os_string();
                file.push(suffix);
                std::fs::remove_file(file).ok();
            }
        }
    });
}
