//! The test harness: the real app on a random port with its own fresh database.
//!
//! SQLite always (a temp file per test); PostgreSQL too when `TEST_DATABASE_URL` is set (a new
//! schema per test), so tests run in parallel and never depend on order. `db_test!` runs one test
//! body on both. Under `CI=true` a missing `TEST_DATABASE_URL` fails the PostgreSQL variant
//! instead of skipping it.

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;

use billing_api::config::Settings;
use billing_api::http::auth::{Signer, SCOPE_ADMIN, SCOPE_USAGE_WRITE};
use billing_api::startup::Application;
use billing_application::clock::FixedClock;
use futures_util::FutureExt;
use reqwest::header::HeaderMap;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::{json, Value};
use time::OffsetDateTime;

pub const TEST_SECRET: &str = "test-secret-0123456789-0123456789-0123456789";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

enum Cleanup {
    SqliteFile(PathBuf),
    PostgresSchema { admin_url: String, schema: String },
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub clock: FixedClock,
    pub db: DatabaseConnection,
    pub backend: Backend,
    signer: Option<Signer>,
    server: actix_web::dev::ServerHandle,
    cleanup: Cleanup,
    /// The settings it runs with (its database included), for a twin server.
    settings: Settings,
    twins: std::sync::Mutex<Vec<actix_web::dev::ServerHandle>>,
}

/// What a request answered.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts an RFC 9457 problem of the given status and `type`, and returns its body.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, kind: &str) -> &Value {
        assert_eq!(
            self.status, status,
            "unexpected status, body: {}",
            self.body
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "not a problem+json body: {}",
            self.body
        );
        assert_eq!(
            self.body["type"],
            format!("/problems/{kind}"),
            "body: {}",
            self.body
        );
        assert_eq!(self.body["status"], status);
        assert!(self.body["title"].as_str().is_some_and(|t| !t.is_empty()));
        let request_id = self.body["request_id"].as_str().unwrap_or_default();
        assert!(!request_id.is_empty(), "no request id in {}", self.body);
        assert_eq!(self.header("x-request-id"), Some(request_id));
        &self.body
    }

    /// The fields named by a problem's `errors`.
    pub fn error_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .filter_map(|e| e["field"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

pub fn test_settings() -> Settings {
    let mut settings = Settings::default();
    settings.server.bind = "127.0.0.1:0".into();
    settings.server.workers = 1;
    settings.database.max_connections = 5;
    settings.auth.hs256_secret = TEST_SECRET.into();
    settings.billing.default_offset = "+09:00".into();
    // The webhook receivers of the tests listen on 127.0.0.1.
    settings.billing.webhooks.allow_private_targets = true;
    settings.billing.webhooks.timeout = "2s".into();
    settings
}

impl TestApp {
    /// Spawns the app on `backend` with default test settings; `None` when the backend is not
    /// configured here (PostgreSQL without `TEST_DATABASE_URL`, outside CI).
    pub async fn spawn(backend: Backend) -> Option<TestApp> {
        Self::spawn_with(backend, test_settings()).await
    }

    pub async fn spawn_with(backend: Backend, mut settings: Settings) -> Option<TestApp> {
        let cleanup = match backend {
            Backend::Sqlite => {
                let path = std::env::temp_dir()
                    .join(format!("billing-test-{}.db", uuid::Uuid::new_v4().simple()));
                settings.database.url = format!("sqlite://{}?mode=rwc", path.display());
                Cleanup::SqliteFile(path)
            }
            Backend::Postgres => {
                let admin_url = match std::env::var("TEST_DATABASE_URL") {
                    Ok(url) if !url.is_empty() => url,
                    _ => {
                        assert!(
                            std::env::var("CI").as_deref() != Ok("true"),
                            "TEST_DATABASE_URL must be set in CI: the suite runs on PostgreSQL too"
                        );
                        eprintln!("skipping the PostgreSQL variant: TEST_DATABASE_URL is not set");
                        return None;
                    }
                };
                let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
                let admin = Database::connect(&admin_url)
                    .await
                    .expect("connect to TEST_DATABASE_URL");
                admin
                    .execute_unprepared(&format!("CREATE SCHEMA \"{schema}\""))
                    .await
                    .expect("create test schema");
                admin.close().await.ok();
                settings.database.url = admin_url.clone();
                settings.database.schema = schema.clone();
                Cleanup::PostgresSchema { admin_url, schema }
            }
        };
        let clock = FixedClock::new(OffsetDateTime::now_utc());
        let app = Application::build(&settings, Arc::new(clock.clone()))
            .await
            .expect("build the application");
        let address = format!("http://127.0.0.1:{}", app.port());
        let db = app.database().clone();
        let server = app.into_server();
        let handle = server.handle();
        tokio::spawn(server);
        // Apps configured with only a public key have no signing key; their tests sign tokens.
        let signer = Signer::new(&settings.auth).ok();
        Some(TestApp {
            address,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            clock,
            db,
            backend,
            signer,
            server: handle,
            cleanup,
            settings,
            twins: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// The use cases' state on this app's database and clock, for tests that call them without
    /// HTTP (the demo loader, the billing run, the mail sender), as `billing serve` does.
    pub fn state(&self) -> billing_application::state::AppState {
        billing_api::startup::app_state(
            &self.settings,
            Arc::new(self.clock.clone()),
            self.db.clone(),
        )
        .expect("the test settings are valid")
    }

    /// A second server on the same database, with its own connection pool and the same clock:
    /// what a second `billing serve` process against the same database does. Its address.
    pub async fn twin(&self) -> String {
        let app = Application::build(&self.settings, Arc::new(self.clock.clone()))
            .await
            .expect("build the twin");
        let address = format!("http://127.0.0.1:{}", app.port());
        let server = app.into_server();
        self.twins
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(server.handle());
        tokio::spawn(server);
        address
    }

    pub async fn teardown(self) {
        let twins: Vec<_> = self
            .twins
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
            .collect();
        for twin in twins {
            twin.stop(false).await;
        }
        self.server.stop(false).await;
        self.db.close().await.ok();
        match self.cleanup {
            Cleanup::SqliteFile(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut file = path.clone().into_os_string();
                    file.push(suffix);
                    std::fs::remove_file(file).ok();
                }
            }
            Cleanup::PostgresSchema { admin_url, schema } => {
                if let Ok(admin) = Database::connect(&admin_url).await {
                    admin
                        .execute_unprepared(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
                        .await
                        .ok();
                    admin.close().await.ok();
                }
            }
        }
    }

    // --- What the server kept -----------------------------------------------------------------

    /// Everything the database holds, as text: the SQLite file (and its write-ahead log) read
    /// byte for byte, or `pg_dump` of the test's PostgreSQL schema (each table's rows as text
    /// when `pg_dump` is not installed).
    pub async fn stored_text(&self) -> String {
        match &self.cleanup {
            Cleanup::SqliteFile(path) => {
                let mut text = String::new();
                for suffix in ["", "-wal"] {
                    let mut file = path.clone().into_os_string();
                    file.push(suffix);
                    if let Ok(bytes) = std::fs::read(&file) {
                        text.push_str(&String::from_utf8_lossy(&bytes));
                    }
                }
                assert!(!text.is_empty(), "the SQLite file is missing");
                text
            }
            Cleanup::PostgresSchema { admin_url, schema } => {
                let dump = std::process::Command::new("pg_dump")
                    .args(["--dbname", admin_url, "--schema", schema])
                    .output();
                match dump {
                    Ok(out) if out.status.success() => {
                        String::from_utf8_lossy(&out.stdout).into_owned()
                    }
                    _ => {
                        eprintln!("pg_dump is not available: reading every table's rows instead");
                        self.rows_as_text(schema).await
                    }
                }
            }
        }
    }

    async fn rows_as_text(&self, schema: &str) -> String {
        use sea_orm::Statement;
        let backend = self.db.get_database_backend();
        let tables = self
            .db
            .query_all(Statement::from_sql_and_values(
                backend,
                "SELECT table_name FROM information_schema.tables WHERE table_schema = $1",
                [schema.into()],
            ))
            .await
            .expect("list tables");
        let mut text = String::new();
        for table in tables {
            let name: String = table.try_get("", "table_name").expect("table name");
            let rows = self
                .db
                .query_all(Statement::from_string(
                    backend,
                    format!("SELECT CAST(t AS TEXT) AS row FROM \"{schema}\".\"{name}\" t"),
                ))
                .await
                .expect("read table");
            for row in rows {
                let row: String = row.try_get("", "row").expect("row text");
                text.push_str(&row);
                text.push('\n');
            }
        }
        text
    }

    // --- Tokens ------------------------------------------------------------------------------

    pub fn mint(&self, sub: &str, account: Option<&str>, scope: Option<&str>) -> String {
        self.signer
            .as_ref()
            .expect("this app has no signing key")
            .mint(
                sub,
                account,
                scope,
                OffsetDateTime::now_utc(),
                time::Duration::hours(1),
            )
            .expect("mint")
    }

    pub fn admin_token(&self) -> String {
        self.mint("operator@test", None, Some(SCOPE_ADMIN))
    }

    pub fn user_token(&self, user: &str) -> String {
        self.mint(user, None, None)
    }

    pub fn usage_token(&self, account: &str) -> String {
        self.mint("metering@test", Some(account), Some(SCOPE_USAGE_WRITE))
    }

    // --- Requests ----------------------------------------------------------------------------

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Resp {
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Resp {
            status,
            headers,
            body,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// The bytes of a 200 answer (a PDF).
    pub async fn get_bytes(&self, path: &str, token: &str) -> Vec<u8> {
        let response = self
            .client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        response.bytes().await.unwrap().to_vec()
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.send(self.client.get(self.url(path)).bearer_auth(token))
            .await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Resp {
        self.send(
            self.client
                .post(self.url(path))
                .bearer_auth(token)
                .json(&body),
        )
        .await
    }

    /// POSTs a raw body with the given content type.
    pub async fn post_raw(
        &self,
        path: &str,
        token: &str,
        content_type: &str,
        body: String,
    ) -> Resp {
        self.send(
            self.client
                .post(self.url(path))
                .bearer_auth(token)
                .header("content-type", content_type)
                .body(body),
        )
        .await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> Resp {
        self.send(
            self.client
                .put(self.url(path))
                .bearer_auth(token)
                .json(&body),
        )
        .await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Resp {
        self.send(
            self.client
                .patch(self.url(path))
                .bearer_auth(token)
                .json(&body),
        )
        .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Resp {
        self.send(self.client.delete(self.url(path)).bearer_auth(token))
            .await
    }

    // --- Fixtures (through the API, as an operator would) -------------------------------------

    /// Opens an account and returns its id.
    pub async fn create_account(&self, name: &str, currency: &str) -> String {
        let resp = self
            .post(
                "/v1/admin/accounts",
                &self.admin_token(),
                json!({"name": name, "currency": currency}),
            )
            .await;
        assert_eq!(resp.status, 201, "create account: {}", resp.body);
        resp.body["id"].as_str().expect("account id").to_owned()
    }

    pub async fn add_member(&self, account: &str, user: &str, role: &str) {
        let resp = self
            .put(
                &format!("/v1/admin/accounts/{account}/members/{user}"),
                &self.admin_token(),
                json!({"role": role}),
            )
            .await;
        assert_eq!(resp.status, 200, "add member: {}", resp.body);
    }

    /// Creates a product (named after its code); an existing code is fine.
    pub async fn create_product(&self, code: &str, unit: &str, aggregation: &str) {
        let resp = self
            .post(
                "/v1/admin/products",
                &self.admin_token(),
                json!({"code": code, "name": code, "unit": unit, "aggregation": aggregation}),
            )
            .await;
        assert!(
            resp.status == 201 || resp.status == 409,
            "create product: {}",
            resp.body
        );
    }

    pub async fn create_project(&self, account: &str, name: &str) -> String {
        let resp = self
            .post(
                &format!("/v1/admin/accounts/{account}/projects"),
                &self.admin_token(),
                json!({"name": name}),
            )
            .await;
        assert_eq!(resp.status, 201, "create project: {}", resp.body);
        resp.body["id"].as_str().expect("project id").to_owned()
    }

    pub async fn add_participant(&self, project: &str, user: &str, billing_permission: bool) {
        let resp = self
            .put(
                &format!("/v1/admin/projects/{project}/participants/{user}"),
                &self.admin_token(),
                json!({"billing_permission": billing_permission}),
            )
            .await;
        assert_eq!(resp.status, 200, "add participant: {}", resp.body);
    }
}

/// The server's log lines since the first call, in the format `billing serve` writes (JSON).
/// Some fields of each item of a JSON list, in order: what a test compares a list by.
pub fn pluck(list: &Value, keys: &[&str]) -> Vec<Vec<Value>> {
    list.as_array()
        .map(|items| {
            items
                .iter()
                .map(|item| keys.iter().map(|k| item[*k].clone()).collect())
                .collect()
        })
        .unwrap_or_default()
}

/// The first call installs the process's log subscriber; every test app of this process logs
/// into it from then on.
pub fn captured_log() -> String {
    use std::sync::{Mutex, OnceLock};
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

    struct Writer(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Writer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    let log = LOG.get_or_init(|| {
        let log = Arc::new(Mutex::new(Vec::new()));
        let shared = log.clone();
        let mut settings = Settings::default();
        settings.log.filter = "info".into();
        billing_api::startup::init_telemetry_to(&settings, move || Writer(shared.clone()));
        log
    });
    let bytes = log.lock().unwrap_or_else(|p| p.into_inner());
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Runs a test body against a fresh app on `backend`, then tears the app down, also when the
/// body fails.
pub async fn run_on(backend: Backend, test: impl AsyncFnOnce(&TestApp)) {
    run_with(backend, test_settings(), test).await;
}

/// [`run_on`] with the given settings.
pub async fn run_with(backend: Backend, settings: Settings, test: impl AsyncFnOnce(&TestApp)) {
    let Some(app) = TestApp::spawn_with(backend, settings).await else {
        return;
    };
    let outcome = AssertUnwindSafe(test(&app)).catch_unwind().await;
    app.teardown().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Defines a test that runs the same body on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! db_test {
    ($(#[$meta:meta])* $name:ident, $body:expr) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $crate::helpers::run_on($crate::helpers::Backend::Sqlite, $body).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $crate::helpers::run_on($crate::helpers::Backend::Postgres, $body).await;
            }
        }
    };
}

/// One message an [`SmtpCapture`] received: its envelope recipients and its data.
#[derive(Clone, Debug)]
pub struct CapturedMail {
    pub recipients: Vec<String>,
    pub data: String,
}

/// A local SMTP server that accepts every message and keeps it: what the mail tests send to.
pub struct SmtpCapture {
    pub url: String,
    mails: Arc<std::sync::Mutex<Vec<CapturedMail>>>,
}

impl SmtpCapture {
    pub async fn start() -> SmtpCapture {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("smtp://{}", listener.local_addr().expect("address"));
        let mails = Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = mails.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(smtp_session(stream, kept.clone()));
            }
        });
        SmtpCapture { url, mails }
    }

    pub fn mails(&self) -> Vec<CapturedMail> {
        self.mails.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Just enough SMTP for a client that sends: greeting, EHLO, MAIL, RCPT, DATA, QUIT.
async fn smtp_session(
    stream: tokio::net::TcpStream,
    mails: Arc<std::sync::Mutex<Vec<CapturedMail>>>,
) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let _ = write.write_all(b"220 capture ESMTP\r\n").await;
    let mut recipients = Vec::new();
    while let Ok(Some(line)) = lines.next_line().await {
        let verb = line
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-capture\r\n250 8BITMIME\r\n",
            "HELO" | "MAIL" | "RSET" | "NOOP" => b"250 OK\r\n",
            "RCPT" => {
                let to = line
                    .split_once(':')
                    .map(|(_, to)| to.trim().trim_matches(|c| c == '<' || c == '>').to_owned())
                    .unwrap_or_default();
                recipients.push(to);
                b"250 OK\r\n"
            }
            "DATA" => {
                let _ = write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await;
                let mut data = String::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    if line == "." {
                        break;
                    }
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                    data.push('\n');
                }
                mails
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(CapturedMail {
                        recipients: std::mem::take(&mut recipients),
                        data,
                    });
                b"250 OK queued\r\n"
            }
            "QUIT" => {
                let _ = write.write_all(b"221 bye\r\n").await;
                return;
            }
            _ => b"502 not implemented\r\n",
        };
        if write.write_all(reply).await.is_err() {
            return;
        }
    }
}

/// The text of a PDF, by `pdftotext` (poppler-utils, installed by `.ci/run`); `None` outside CI
/// when it is not installed.
pub fn pdf_text(bytes: &[u8]) -> Option<String> {
    let path = std::env::temp_dir().join(format!("invoice-{}.pdf", uuid::Uuid::new_v4().simple()));
    std::fs::write(&path, bytes).unwrap();
    let out = std::process::Command::new("pdftotext")
        .arg("-layout")
        .arg(&path)
        .arg("-")
        .output();
    std::fs::remove_file(&path).ok();
    match out {
        Ok(out) if out.status.success() => Some(String::from_utf8_lossy(&out.stdout).into_owned()),
        Ok(out) => panic!("pdftotext failed: {}", String::from_utf8_lossy(&out.stderr)),
        Err(_) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "pdftotext must be installed in CI (poppler-utils)"
            );
            eprintln!("skipping the PDF's text: pdftotext is not installed");
            None
        }
    }
}

/// One request a [`WebhookReceiver`] took: its headers (lowercase names) and body, and the
/// status it answered (or would have, had the sender waited).
#[derive(Clone, Debug)]
pub struct Received {
    pub headers: std::collections::HashMap<String, String>,
    pub body: String,
    pub status: u16,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(String::as_str)
            .unwrap_or_default()
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// A real HTTP server on 127.0.0.1 that takes webhooks: it answers the statuses it is told to,
/// in order (then 200), or stalls for as long as it is told, and keeps every request.
pub struct WebhookReceiver {
    pub url: String,
    received: Arc<std::sync::Mutex<Vec<Received>>>,
    script: Arc<std::sync::Mutex<std::collections::VecDeque<u16>>>,
    stall: Arc<std::sync::Mutex<Option<std::time::Duration>>>,
    server: actix_web::dev::ServerHandle,
}

impl WebhookReceiver {
    pub async fn start() -> WebhookReceiver {
        use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
        let received: Arc<std::sync::Mutex<Vec<Received>>> = Arc::default();
        let script: Arc<std::sync::Mutex<std::collections::VecDeque<u16>>> = Arc::default();
        let stall: Arc<std::sync::Mutex<Option<std::time::Duration>>> = Arc::default();
        let (r, sc, st) = (received.clone(), script.clone(), stall.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the receiver");
        let port = listener.local_addr().expect("its address").port();
        let server = HttpServer::new(move || {
            let (r, sc, st) = (r.clone(), sc.clone(), st.clone());
            App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
                let (r, sc, st) = (r.clone(), sc.clone(), st.clone());
                async move {
                    let status = sc.lock().unwrap().pop_front().unwrap_or(200);
                    let headers = req
                        .headers()
                        .iter()
                        .map(|(k, v)| {
                            (
                                k.as_str().to_owned(),
                                v.to_str().unwrap_or_default().to_owned(),
                            )
                        })
                        .collect();
                    r.lock().unwrap().push(Received {
                        headers,
                        body: String::from_utf8_lossy(&body).into_owned(),
                        status,
                    });
                    // Kept as it arrives: a sender that gives up waiting still sent it.
                    let wait = *st.lock().unwrap();
                    if let Some(wait) = wait {
                        tokio::time::sleep(wait).await;
                    }
                    HttpResponse::build(
                        actix_web::http::StatusCode::from_u16(status).expect("a status"),
                    )
                    .finish()
                }
            }))
        })
        .workers(1)
        .listen(listener)
        .expect("listen")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        WebhookReceiver {
            url: format!("http://127.0.0.1:{port}/hooks"),
            received,
            script,
            stall,
            server: handle,
        }
    }

    /// Answers these statuses to the next requests, in order.
    pub fn answer(&self, statuses: &[u16]) {
        self.script.lock().unwrap().extend(statuses.iter().copied());
    }

    /// Waits this long before answering each request (`None`: answers at once).
    pub fn stall(&self, wait: Option<std::time::Duration>) {
        *self.stall.lock().unwrap() = wait;
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    pub async fn stop(self) {
        self.server.stop(false).await;
    }
}
