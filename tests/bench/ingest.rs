//! Ingestion benchmark (not a test): one million usage events through HTTP in batches of
//! 1,000 from four concurrent clients, over 8 projects and 4 products, into PostgreSQL and into
//! SQLite, with dedup and rollups; the same rows loaded by one PostgreSQL `COPY` stream; and the
//! monthly usage read timed at 1e3 and at 1e6 events in the month. It prints its figures.
//!
//!   cargo run --release -p billing-tests --bin ingest-bench
//!   cargo run --release -p billing-tests --bin ingest-bench -- --events 200000 --skip-sqlite
//!
//! PostgreSQL: `BENCH_DATABASE_URL`, else `TEST_DATABASE_URL`, else
//! `postgres://postgres@127.0.0.1:5432/test`; each run works in fresh schemas it drops after.
//! The server runs in this process on its own actix workers, as `billing serve` would.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::float_arithmetic,
    clippy::print_stdout,
    reason = "a measuring tool: it stops on the first failure and prints figures"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use billing_api::config::Settings;
use billing_api::http::auth::{Signer, SCOPE_ADMIN, SCOPE_USAGE_WRITE};
use billing_api::startup::Application;
use billing_application::clock::SystemClock;
use billing_domain::period::{BillingOffset, BillingPeriod};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

const SECRET: &str = "benchmark-secret-benchmark-secret-0123456789";
const BATCH: usize = 1000;
const PROJECTS: usize = 8;
const PRODUCTS: [(&str, &str, &str); 4] = [
    ("api_calls", "call", "sum"),
    ("egress", "byte", "sum"),
    ("disk", "byte", "max"),
    ("agents", "hour", "sum"),
];
const READS: usize = 200;

struct Options {
    events: usize,
    clients: usize,
    postgres: Option<String>,
    sqlite: bool,
}

/// One million usage events through HTTP into PostgreSQL and SQLite, the same rows with one
/// PostgreSQL COPY, and the monthly reads timed at 1e3 and 1e6 events; prints the ratios.
#[derive(clap::Parser)]
#[command(name = "ingest-bench")]
struct Args {
    /// How many events to ingest (a multiple of 1,000 x clients).
    #[arg(long, default_value_t = 1_000_000)]
    events: usize,
    /// Concurrent HTTP clients.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Leave PostgreSQL out (it comes from BENCH_DATABASE_URL, else TEST_DATABASE_URL, else the
    /// local server).
    #[arg(long)]
    skip_postgres: bool,
    /// Leave SQLite out.
    #[arg(long)]
    skip_sqlite: bool,
}

fn options() -> Options {
    use clap::Parser;
    let args = Args::parse();
    if args.clients == 0 || !args.events.is_multiple_of(BATCH * args.clients) {
        eprintln!("--events must be a positive multiple of {BATCH} x --clients");
        std::process::exit(2);
    }
    Options {
        events: args.events,
        clients: args.clients,
        postgres: (!args.skip_postgres).then(|| {
            std::env::var("BENCH_DATABASE_URL")
                .or_else(|_| std::env::var("TEST_DATABASE_URL"))
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
        }),
        sqlite: !args.skip_sqlite,
    }
}

/// One event as generated: the same rows go through HTTP and through COPY.
#[derive(Clone)]
struct Event {
    id: String,
    project: usize,
    product: usize,
    quantity: u64,
    at: OffsetDateTime,
}

/// `count` events of the month `period`, split among `clients`; each client's events are in
/// time order (as a metering service sends them) and spread over the whole month.
fn generate(count: usize, clients: usize, period: &BillingPeriod, tag: &str) -> Vec<Vec<Event>> {
    let span = (period.end() - period.start()).whole_seconds();
    (0..clients)
        .map(|c| {
            let per = count / clients;
            (0..per)
                .map(|i| {
                    let global = i * clients + c;
                    let second = (global as i64) * span / (count as i64);
                    // Each client meters its own projects (all of them when alone).
                    let own = (PROJECTS / clients).max(1);
                    Event {
                        id: format!("{tag}-{c}-{i:08}"),
                        project: (c * PROJECTS / clients + i % own) % PROJECTS,
                        product: (i / own) % PRODUCTS.len(),
                        quantity: (global % 7 + 1) as u64,
                        at: period.start() + time::Duration::seconds(second),
                    }
                })
                .collect()
        })
        .collect()
}

struct Bench {
    address: String,
    client: reqwest::Client,
    db: DatabaseConnection,
    signer: Signer,
    server: actix_web::dev::ServerHandle,
}

impl Bench {
    async fn start(url: String, schema: String) -> Bench {
        let mut settings = Settings::default();
        settings.server.bind = "127.0.0.1:0".into();
        settings.server.workers = 2;
        settings.database.url = url;
        settings.database.schema = schema;
        settings.database.max_connections = 10;
        settings.auth.hs256_secret = SECRET.into();
        settings.billing.default_offset = "+00:00".into();
        let app = Application::build(&settings, Arc::new(SystemClock))
            .await
            .expect("start the server");
        let address = format!("http://127.0.0.1:{}", app.port());
        let db = app.database().clone();
        let server = app.into_server();
        let handle = server.handle();
        tokio::spawn(server);
        Bench {
            address,
            client: reqwest::Client::new(),
            db,
            signer: Signer::new(&settings.auth).expect("signer"),
            server: handle,
        }
    }

    fn token(&self, sub: &str, account: Option<&str>, scope: Option<&str>) -> String {
        self.signer
            .mint(
                sub,
                account,
                scope,
                OffsetDateTime::now_utc(),
                time::Duration::hours(6),
            )
            .expect("mint")
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Value {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.address))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let value: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{path}: {status} {value}");
        value
    }

    /// An account (UTC offset) with 8 projects on one plan, and its owner; the catalog once.
    async fn account(&self, name: &str, catalog: bool) -> Account {
        let admin = self.token("bench-operator", None, Some(SCOPE_ADMIN));
        let post = reqwest::Method::POST;
        if catalog {
            let mut prices = serde_json::Map::new();
            for (code, unit, aggregation) in PRODUCTS {
                self.send(
                    post.clone(),
                    "/v1/admin/products",
                    &admin,
                    Some(json!({"code": code, "name": code, "unit": unit, "aggregation": aggregation})),
                )
                .await;
                prices.insert(
                    code.into(),
                    json!({"model": "per_unit", "unit_price": "0.001"}),
                );
            }
            self.send(
                post.clone(),
                "/v1/admin/plans",
                &admin,
                Some(json!({"code": "bench", "name": "Bench", "currency": "USD", "base_fee": "10", "prices": prices})),
            )
            .await;
        }
        let account = self
            .send(
                post.clone(),
                "/v1/admin/accounts",
                &admin,
                Some(json!({"name": name, "currency": "USD", "billing_utc_offset": "+00:00"})),
            )
            .await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        self.send(
            reqwest::Method::PUT,
            &format!("/v1/admin/accounts/{account}/members/owner@bench"),
            &admin,
            Some(json!({"role": "owner"})),
        )
        .await;
        let mut projects = Vec::new();
        for p in 0..PROJECTS {
            let id = self
                .send(
                    post.clone(),
                    &format!("/v1/admin/accounts/{account}/projects"),
                    &admin,
                    Some(json!({"name": format!("project {p}")})),
                )
                .await["id"]
                .as_str()
                .unwrap()
                .to_owned();
            self.send(
                post.clone(),
                &format!("/v1/admin/projects/{id}/plans"),
                &admin,
                Some(json!({"plan": "bench", "effective_from": "2000-01-01T00:00:00Z"})),
            )
            .await;
            projects.push(id);
        }
        Account {
            usage_token: self.token("bench-meter", Some(&account), Some(SCOPE_USAGE_WRITE)),
            owner_token: self.token("owner@bench", None, None),
            id: account,
            projects,
        }
    }

    /// Sends every client's batches concurrently; returns the wall time and events accepted.
    async fn ingest(&self, account: &Account, events: &[Vec<Event>]) -> (Duration, u64) {
        // Bodies are serialized before the clock starts: the figure is the server's.
        let bodies: Vec<Vec<Vec<u8>>> = events
            .iter()
            .map(|mine| {
                mine.chunks(BATCH)
                    .map(|batch| {
                        let list: Vec<Value> = batch
                            .iter()
                            .map(|e| {
                                json!({"id": e.id, "project_id": account.projects[e.project],
                                       "product": PRODUCTS[e.product].0,
                                       "quantity": e.quantity.to_string(),
                                       "timestamp": e.at.format(&Rfc3339).unwrap()})
                            })
                            .collect();
                        serde_json::to_vec(&json!({"events": list})).unwrap()
                    })
                    .collect()
            })
            .collect();
        let url = format!("{}/v1/accounts/{}/usage-events", self.address, account.id);
        let cpu_before = (cpu_of_self(), cpu_of_postgres());
        let started = Instant::now();
        let mut tasks = Vec::new();
        for mine in bodies {
            let client = self.client.clone();
            let url = url.clone();
            let token = account.usage_token.clone();
            tasks.push(tokio::spawn(async move {
                let mut accepted = 0;
                for body in mine {
                    let response = client
                        .post(&url)
                        .bearer_auth(&token)
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await
                        .expect("send a batch");
                    let status = response.status();
                    let bytes = response.bytes().await.expect("batch answer");
                    assert!(
                        status.is_success(),
                        "batch: {status} {}",
                        String::from_utf8_lossy(&bytes)
                    );
                    // Only the counts: a sender reads the results only when something was
                    // rejected, and building a JSON tree of 1,000 results is the client's cost.
                    let answer: BatchCounts = serde_json::from_slice(&bytes).expect("batch counts");
                    assert_eq!(answer.rejected, 0, "no event is rejected");
                    accepted += answer.accepted;
                }
                accepted
            }));
        }
        let mut accepted = 0;
        for task in tasks {
            accepted += task.await.expect("client task");
        }
        let elapsed = started.elapsed();
        if events.iter().map(Vec::len).sum::<usize>() >= 100_000 {
            println!(
                "  CPU while ingesting: this process (server and clients) {:.2} s, PostgreSQL \
                 processes {:.2} s, in {:.2} s on {} cores",
                cpu_of_self() - cpu_before.0,
                cpu_of_postgres() - cpu_before.1,
                elapsed.as_secs_f64(),
                std::thread::available_parallelism().map_or(1, |n| n.get())
            );
        }
        (elapsed, accepted)
    }

    /// The p50 and p99 of `READS` monthly usage reads.
    async fn read_latency(
        &self,
        account: &Account,
        period: &BillingPeriod,
        path: &str,
    ) -> (Duration, Duration) {
        let path = format!("/v1/accounts/{}/{path}?period={period}", account.id);
        let mut times = Vec::with_capacity(READS);
        for _ in 0..READS {
            let started = Instant::now();
            self.send(reqwest::Method::GET, &path, &account.owner_token, None)
                .await;
            times.push(started.elapsed());
        }
        times.sort();
        (times[READS / 2], times[READS * 99 / 100 - 1])
    }

    async fn monthly_total(
        &self,
        account: &Account,
        period: &BillingPeriod,
        product: &str,
    ) -> (u64, u64) {
        let body = self
            .send(
                reqwest::Method::GET,
                &format!("/v1/accounts/{}/usage?period={period}", account.id),
                &account.owner_token,
                None,
            )
            .await;
        let mut quantity = 0;
        let mut events = 0;
        for project in body["projects"].as_array().unwrap() {
            for p in project["products"].as_array().unwrap() {
                if p["product"] == product {
                    quantity += p["quantity"].as_str().unwrap().parse::<u64>().unwrap();
                    events += p["event_count"].as_u64().unwrap();
                }
            }
        }
        (quantity, events)
    }

    async fn stop(self) {
        self.server.stop(true).await;
        self.db.close().await.ok();
    }
}

#[derive(serde::Deserialize)]
struct BatchCounts {
    accepted: u64,
    rejected: u64,
}

struct Account {
    id: String,
    projects: Vec<String>,
    usage_token: String,
    owner_token: String,
}

/// What one database's run measured.
struct Run {
    name: &'static str,
    http: Duration,
    events: usize,
    reads_small: (Duration, Duration),
    reads_large: (Duration, Duration),
    billing_small: (Duration, Duration),
    billing_large: (Duration, Duration),
    preview_small: (Duration, Duration),
    preview_large: (Duration, Duration),
}

fn rate(events: usize, elapsed: Duration) -> f64 {
    events as f64 / elapsed.as_secs_f64()
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

async fn run_http(
    name: &'static str,
    url: String,
    schema: String,
    o: &Options,
    period: &BillingPeriod,
) -> Run {
    let bench = Bench::start(url, schema).await;
    let large = bench.account("Large", true).await;
    let small = bench.account("Small", false).await;
    let events = generate(o.events, o.clients, period, "e");
    let few = generate(1000, 1, period, "s");
    println!(
        "{name}: ingesting {} events through HTTP from {} clients ...",
        o.events, o.clients
    );
    let (http, accepted) = bench.ingest(&large, &events).await;
    assert_eq!(accepted as usize, o.events, "every event is accepted once");
    let (_, small_accepted) = bench.ingest(&small, &few).await;
    assert_eq!(small_accepted, 1000);

    // The figures are only worth printing if the reads agree with what was sent.
    let expected: u64 = events
        .iter()
        .flatten()
        .filter(|e| e.product == 0)
        .map(|e| e.quantity)
        .sum();
    let count = events.iter().flatten().filter(|e| e.product == 0).count() as u64;
    assert_eq!(
        bench.monthly_total(&large, period, "api_calls").await,
        (expected, count),
        "the monthly read adds up to the events sent"
    );
    // A retried batch is all duplicates and changes nothing.
    let retry = vec![events[0][..BATCH].to_vec()];
    let (_, again) = bench.ingest(&large, &retry).await;
    assert_eq!(again, 0);

    let reads_small = bench.read_latency(&small, period, "usage").await;
    let reads_large = bench.read_latency(&large, period, "usage").await;
    let billing_small = bench.read_latency(&small, period, "billing/channels").await;
    let billing_large = bench.read_latency(&large, period, "billing/channels").await;
    let preview_small = bench.read_latency(&small, period, "invoices/preview").await;
    let preview_large = bench.read_latency(&large, period, "invoices/preview").await;
    bench.stop().await;
    Run {
        name,
        http,
        events: o.events,
        reads_small,
        reads_large,
        billing_small,
        billing_large,
        preview_small,
        preview_large,
    }
}

/// Loads the same rows as the HTTP run into `usage_events` of a fresh schema with one COPY.
async fn run_copy(url: String, schema: String, o: &Options, period: &BillingPeriod) -> Duration {
    use sea_orm::sqlx::{Connection, PgConnection};
    let bench = Bench::start(url.clone(), schema.clone()).await;
    let account = bench.account("Copy", true).await;
    let backend = bench.db.get_database_backend();
    let products: Vec<String> = {
        let mut ids = Vec::new();
        for (code, _, _) in PRODUCTS {
            let row = bench
                .db
                .query_one(Statement::from_string(
                    backend,
                    format!("SELECT id FROM products WHERE code = '{code}'"),
                ))
                .await
                .unwrap()
                .unwrap();
            ids.push(row.try_get::<String>("", "id").unwrap());
        }
        ids
    };
    let events = generate(o.events, o.clients, period, "e");
    let received = OffsetDateTime::now_utc().format(&Rfc3339).unwrap();
    let mut data = Vec::with_capacity(o.events * 200);
    for e in events.iter().flatten() {
        use std::io::Write;
        writeln!(
            data,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t\\N",
            account.id,
            e.id,
            account.projects[e.project],
            products[e.product],
            e.quantity,
            e.at.format(&Rfc3339).unwrap(),
            received
        )
        .unwrap();
    }
    bench.stop().await;
    let mut conn = PgConnection::connect(&url).await.expect("connect for COPY");
    sea_orm::sqlx::query(&format!("SET search_path TO \"{schema}\""))
        .execute(&mut conn)
        .await
        .unwrap();
    println!("postgres: loading {} events with COPY ...", o.events);
    let started = Instant::now();
    let mut copy = conn
        .copy_in_raw(
            "COPY usage_events (account_id, event_id, project_id, product_id, quantity, \
             occurred_at, received_at, properties) FROM STDIN",
        )
        .await
        .expect("COPY");
    for chunk in data.chunks(1 << 20) {
        copy.send(chunk).await.expect("COPY data");
    }
    let rows = copy.finish().await.expect("COPY finish");
    let elapsed = started.elapsed();
    assert_eq!(rows as usize, o.events);
    conn.close().await.ok();
    elapsed
}

async fn drop_schema(url: &str, schema: &str) {
    if let Ok(admin) = Database::connect(url).await {
        admin
            .execute_unprepared(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
            .await
            .ok();
        admin.close().await.ok();
    }
}

fn report(run: &Run) {
    println!(
        "{:<9} HTTP ingestion: {:>9.0} events/s ({} events in {:.2} s)",
        run.name,
        rate(run.events, run.http),
        run.events,
        run.http.as_secs_f64()
    );
    println!(
        "{:<9} monthly usage read  p50/p99: 1e3 events {} / {}   {} events {} / {}",
        run.name,
        ms(run.reads_small.0),
        ms(run.reads_small.1),
        run.events,
        ms(run.reads_large.0),
        ms(run.reads_large.1)
    );
    println!(
        "{:<9} billing table read  p50/p99: 1e3 events {} / {}   {} events {} / {}",
        run.name,
        ms(run.billing_small.0),
        ms(run.billing_small.1),
        run.events,
        ms(run.billing_large.0),
        ms(run.billing_large.1)
    );
    println!(
        "{:<9} invoice preview     p50/p99: 1e3 events {} / {}   {} events {} / {}   p99 ratio {:.2} (target <= 1.2)",
        run.name,
        ms(run.preview_small.0),
        ms(run.preview_small.1),
        run.events,
        ms(run.preview_large.0),
        ms(run.preview_large.1),
        run.preview_large.1.as_secs_f64() / run.preview_small.1.as_secs_f64()
    );
}

fn main() {
    let o = options();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        // Last month: every day of it is in the past, whatever today is.
        let now = OffsetDateTime::now_utc();
        let period = BillingPeriod::containing(now, BillingOffset::UTC)
            .unwrap()
            .previous();
        println!(
            "ingest-bench: {} events, {} clients, batches of {BATCH}, {PROJECTS} projects x {} products, period {period}",
            o.events,
            o.clients,
            PRODUCTS.len()
        );
        let mut pg_run = None;
        let mut copy = None;
        if let Some(url) = o.postgres.clone() {
            let schema = format!("bench_{}", uuid::Uuid::new_v4().simple());
            create_schema(&url, &schema).await;
            pg_run = Some(run_http("postgres", url.clone(), schema.clone(), &o, &period).await);
            drop_schema(&url, &schema).await;
            let schema = format!("bench_{}", uuid::Uuid::new_v4().simple());
            create_schema(&url, &schema).await;
            copy = Some(run_copy(url.clone(), schema.clone(), &o, &period).await);
            drop_schema(&url, &schema).await;
        }
        let mut sqlite_run = None;
        if o.sqlite {
            let path = std::env::temp_dir().join(format!("billing-bench-{}.db", uuid::Uuid::new_v4().simple()));
            let url = format!("sqlite://{}?mode=rwc", path.display());
            sqlite_run = Some(run_http("sqlite", url, String::new(), &o, &period).await);
            for suffix in ["", "-wal", "-shm"] {
                let mut file = path.clone().into_os_string();
                file.push(suffix);
                std::fs::remove_file(file).ok();
            }
        }

        println!();
        if let Some(run) = &pg_run {
            report(run);
        }
        if let Some(elapsed) = copy {
            println!(
                "postgres  COPY (one stream): {:>9.0} events/s ({} events in {:.2} s)",
                rate(o.events, elapsed),
                o.events,
                elapsed.as_secs_f64()
            );
        }
        if let Some(run) = &sqlite_run {
            report(run);
        }
        if let (Some(pg), Some(elapsed)) = (&pg_run, copy) {
            println!(
                "ratio PostgreSQL HTTP / COPY: {:.2} (target >= 0.8)",
                rate(pg.events, pg.http) / rate(o.events, elapsed)
            );
        }
        if let (Some(pg), Some(lite)) = (&pg_run, &sqlite_run) {
            println!(
                "ratio SQLite HTTP / PostgreSQL HTTP: {:.2} (target >= 0.5)",
                rate(lite.events, lite.http) / rate(pg.events, pg.http)
            );
        }
    });
}

async fn create_schema(url: &str, schema: &str) {
    let admin = Database::connect(url).await.expect("connect to PostgreSQL");
    admin
        .execute_unprepared(&format!("CREATE SCHEMA \"{schema}\""))
        .await
        .expect("create the bench schema");
    admin.close().await.ok();
}

/// User and system CPU seconds of a process, from `/proc` (0 where there is none).
fn cpu_of(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the parenthesized command name; utime and stime are the 12th and 13th.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11..13).map_or(0.0, |f| {
        f.iter().filter_map(|x| x.parse::<f64>().ok()).sum()
    });
    ticks / 100.0
}

fn cpu_of_self() -> f64 {
    cpu_of("self")
}

/// Every PostgreSQL process on this machine (a local server's backends and writers).
fn cpu_of_postgres() -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|pid| pid.bytes().all(|b| b.is_ascii_digit()))
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "postgres")
        })
        .map(|pid| cpu_of(&pid))
        .sum()
}
