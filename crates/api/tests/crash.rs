//! The charge survives a crash (issue 11): a `billing run` killed with SIGKILL in the middle of
//! charging cards, then started again, charges every invoice exactly once. The real `billing`
//! binary, on SQLite, and on PostgreSQL when `TEST_DATABASE_URL` is set.
//!
//! Three accounts owe 11,000 won each for January 2025 (a flat 10,000 won plan, 10 % tax);
//! their cards are the sandbox's slow card, whose charge takes two seconds, and one account has
//! 4,000 won prepaid. The first run is killed while a card charge is pending; the second
//! settles it with the gateway under the same key and charges the rest.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test: a panic is a failure"
)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::{json, Value};

const BILLING: &str = env!("CARGO_BIN_EXE_billing");
const SECRET: &str = "crash-test-secret-0123456789-0123456789";

struct Target {
    /// `BILLING_*` settings naming the database.
    env: Vec<(&'static str, String)>,
    db: DatabaseConnection,
}

fn command(target: &Target, args: &[&str]) -> Command {
    let mut command = Command::new(BILLING);
    command
        .args(args)
        .env("BILLING_AUTH__HS256_SECRET", SECRET)
        .env("BILLING_BILLING__RUN_EVERY", "0s")
        .env("BILLING_LOG__FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (name, value) in &target.env {
        command.env(name, value);
    }
    command
}

fn token(target: &Target, sub: &str, scope: Option<&str>) -> String {
    let mut args = vec!["token", "--sub", sub];
    if let Some(scope) = scope {
        args.extend(["--scope", scope]);
    }
    let out = command(target, &args).output().unwrap();
    assert!(out.status.success(), "billing token failed");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

async fn count(db: &DatabaseConnection, sql: &str) -> i64 {
    db.query_one(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap()
        .try_get("", "n")
        .unwrap()
}

/// Starts `billing serve` and sets the accounts up through the API; answers once it is stopped.
async fn set_up(target: &Target) {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut server = command(target, &["serve"])
        .env("BILLING_SERVER__BIND", format!("127.0.0.1:{port}"))
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}/v1");
    let client = reqwest::Client::new();
    let started = Instant::now();
    while client
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await
        .is_err()
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "serve did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let admin = token(target, "ops", Some("admin"));
    let post = |path: &str, token: &str, body: Value| {
        client
            .post(format!("{base}{path}"))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let resp = post(
        "/admin/plans",
        &admin,
        json!({"code": "flat", "name": "Flat", "currency": "KRW", "base_fee": "10000",
               "prices": {}}),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 201);
    let owner = token(target, "owner@crash", None);
    for n in 0..3 {
        let account: Value = post(
            "/admin/accounts",
            &admin,
            json!({"name": format!("Crash {n}"), "currency": "KRW",
                   "billing_utc_offset": "+09:00", "tax_rate": "0.1"}),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        let account = account["id"].as_str().unwrap().to_owned();
        let project: Value = post(
            &format!("/admin/accounts/{account}/projects"),
            &admin,
            json!({"name": "web"}),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        let project = project["id"].as_str().unwrap().to_owned();
        let resp = post(
            &format!("/admin/projects/{project}/plans"),
            &admin,
            json!({"plan": "flat", "effective_from": "2025-01-01T00:00:00+09:00"}),
        )
        .await
        .unwrap();
        assert_eq!(resp.status(), 201);
        let resp = client
            .put(format!(
                "{base}/admin/accounts/{account}/members/owner@crash"
            ))
            .bearer_auth(&admin)
            .json(&json!({"role": "owner"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let resp = client
            .put(format!("{base}/accounts/{account}/payment-method"))
            .bearer_auth(&owner)
            .json(&json!({"token": "tok_sandbox_slow"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        if n == 0 {
            let resp = post(
                &format!("/admin/accounts/{account}/balance/deposits"),
                &admin,
                json!({"amount": "4000", "description": "Prepaid"}),
            )
            .await
            .unwrap();
            assert_eq!(resp.status(), 201);
        }
    }
    server.kill().unwrap();
    server.wait().unwrap();
}

fn run(target: &Target) -> Child {
    command(target, &["run", "--as-of", "2025-02-05T00:00:00+09:00"])
        .spawn()
        .unwrap()
}

async fn killed_mid_charge_then_run_again(target: Target) {
    set_up(&target).await;
    let db = &target.db;
    let mut first = run(&target);
    // Kill it while a card charge is under way: its payment is pending, the gateway has not
    // answered.
    let started = Instant::now();
    while count(
        db,
        "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM payments WHERE status = 'pending'",
    )
    .await
        == 0
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no charge started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    let successful = "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM payments \
                      WHERE method = 'card' AND status = 'successful'";
    assert!(
        count(db, successful).await < 3,
        "killed too late to prove anything"
    );
    assert_eq!(
        count(
            db,
            "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM payments WHERE status = 'pending'"
        )
        .await,
        1
    );

    let second = run(&target).wait_with_output().unwrap();
    assert!(second.status.success());

    // Every invoice paid, by one card charge each (and the balance's 4,000 for one of them).
    assert_eq!(
        count(db, "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM invoices WHERE status = 'paid' AND paid_minor = 11000").await,
        3
    );
    assert_eq!(count(db, successful).await, 3);
    assert_eq!(
        count(
            db,
            "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM payments WHERE status <> 'successful'"
        )
        .await,
        0
    );
    // The gateway charged each card once: 11,000 - 4,000 = 7,000, then 11,000 twice.
    assert_eq!(
        count(
            db,
            "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM sandbox_charges WHERE outcome = 'succeeded'"
        )
        .await,
        3
    );
    assert_eq!(
        count(
            db,
            "SELECT CAST(SUM(amount_minor) AS BIGINT) AS n FROM sandbox_charges"
        )
        .await,
        7_000 + 11_000 + 11_000
    );
    // The balance is the sum of its entries: 4,000 in, 4,000 deducted once.
    assert_eq!(
        count(
            db,
            "SELECT CAST(SUM(amount_minor) AS BIGINT) AS n FROM balance_entries"
        )
        .await,
        0
    );
    assert_eq!(
        count(
            db,
            "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM balance_entries WHERE kind = 'deduction'"
        )
        .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_charge_run_charges_every_invoice_once_sqlite() {
    let path = std::env::temp_dir().join(format!(
        "billing-crash-{}.db",
        uuid::Uuid::new_v4().simple()
    ));
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let db = Database::connect(&url).await.unwrap();
    killed_mid_charge_then_run_again(Target {
        env: vec![("BILLING_DATABASE__URL", url)],
        db,
    })
    .await;
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.clone().into_os_string();
        file.push(suffix);
        std::fs::remove_file(file).ok();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_charge_run_charges_every_invoice_once_postgres() {
    let url = match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "TEST_DATABASE_URL must be set in CI"
            );
            return;
        }
    };
    let schema = format!("crash_{}", uuid::Uuid::new_v4().simple());
    let admin = Database::connect(&url).await.unwrap();
    admin
        .execute_unprepared(&format!("CREATE SCHEMA \"{schema}\""))
        .await
        .unwrap();
    let mut options = sea_orm::ConnectOptions::new(url.clone());
    options.set_schema_search_path(schema.clone());
    let db = Database::connect(options).await.unwrap();
    killed_mid_charge_then_run_again(Target {
        env: vec![
            ("BILLING_DATABASE__URL", url.clone()),
            ("BILLING_DATABASE__SCHEMA", schema.clone()),
        ],
        db,
    })
    .await;
    admin
        .execute_unprepared(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .await
        .ok();
}
