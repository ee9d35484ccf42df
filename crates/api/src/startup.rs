//! Building and running the server.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use billing_persistence::db::{self, DbConfig};
use billing_persistence::DatabaseConnection;
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;

use crate::config::Settings;
use crate::http::auth::Verifier;
use crate::http::extract::{path_error, query_error, JsonLimit};
use crate::http::middleware::request_context;
use crate::http::openapi;
use crate::http::{self, RouteTable};
use billing_application::clock::Clock;
use billing_application::events::Events;
use billing_application::mail::MailSubscriber;
use billing_application::state::AppState;
use billing_application::webhooks::send::Sender;

/// A bound, not yet running server.
pub struct Application {
    port: u16,
    server: Server,
    db: DatabaseConnection,
}

pub fn db_config(settings: &Settings) -> DbConfig {
    DbConfig {
        url: settings.database.url.clone(),
        schema: (!settings.database.schema.is_empty()).then(|| settings.database.schema.clone()),
        max_connections: settings.database.max_connections,
    }
}

/// Connects and migrates.
pub async fn open_database(settings: &Settings) -> anyhow::Result<DatabaseConnection> {
    let db = db::connect(&db_config(settings)).await?;
    db::migrate(&db).await?;
    Ok(db)
}

/// The use cases' state for these settings: what the server, `billing run` and the jobs share.
pub fn app_state(
    settings: &Settings,
    clock: Arc<dyn Clock>,
    db: DatabaseConnection,
) -> anyhow::Result<AppState> {
    let gateway =
        billing_application::payments::gateway::configured(&settings.billing.gateway, db.clone())
            .ok_or_else(|| anyhow::anyhow!("billing.gateway: unknown payment gateway"))?;
    let charge_day = settings.charge_day()?;
    let events = Events {
        render: Arc::new(crate::http::events::Renderer),
        subscribers: vec![Arc::new(MailSubscriber { charge_day })],
    };
    let mut state = AppState::new(db, clock, settings.default_offset(), events);
    state.gateway = gateway;
    state.webhooks = settings.webhook_settings()?;
    state.finalize_grace = settings.finalize_grace()?;
    state.seller_name = settings.billing.seller_name.clone();
    state.charge_day = settings.charge_day()?;
    state.retries = settings.retry_schedule()?;
    Ok(state)
}

impl Application {
    /// Connects to and migrates the database, then binds the listener (port 0 picks a free one).
    pub async fn build(settings: &Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        // The keys first: a server that could not check a token does not touch the database.
        Verifier::new(&settings.auth)?;
        let db = open_database(settings).await?;
        Self::with_database(settings, clock, db)
    }

    pub fn with_database(
        settings: &Settings,
        clock: Arc<dyn Clock>,
        db: DatabaseConnection,
    ) -> anyhow::Result<Self> {
        let verifier = Arc::new(Verifier::new(&settings.auth)?);
        if verifier.dev_secret {
            tracing::warn!(
                "INSECURE: tokens are checked with the public development key (--demo or \
                 --insecure-dev-key); anyone can mint them. Set BILLING_AUTH__HS256_SECRET or \
                 BILLING_AUTH__PUBLIC_KEY_PEM before anyone else can reach this server."
            );
        }
        let listener = TcpListener::bind(&settings.server.bind)?;
        let port = listener.local_addr()?.port();
        let state = app_state(settings, clock, db.clone())?;
        let document = openapi::document_for(&settings.server.public_url);
        let route_table = web::Data::new(RouteTable::from_openapi(&document));
        let json_limit = JsonLimit(settings.server.json_limit_bytes);
        let sender = web::Data::new(Sender::new(state.webhooks)?);
        let state = web::Data::new(state);
        let verifier = web::Data::new(verifier);

        let server = HttpServer::new(move || {
            let (app, _) = App::new()
                .into_utoipa_app()
                .configure(http::configure)
                .split_for_parts();
            app.app_data(state.clone())
                .app_data(sender.clone())
                .app_data(verifier.clone())
                .app_data(route_table.clone())
                .app_data(json_limit)
                .app_data(web::PathConfig::default().error_handler(path_error))
                .app_data(web::QueryConfig::default().error_handler(query_error))
                .service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", document.clone()))
                .service(web::redirect("/docs", "/docs/"))
                .default_service(web::to(http::fallback))
                .wrap(from_fn(request_context))
        })
        .workers(settings.server.workers.max(1))
        .shutdown_timeout(10)
        .listen(listener)?
        .run();
        Ok(Self { port, server, db })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn database(&self) -> &DatabaseConnection {
        &self.db
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }

    pub fn into_server(self) -> Server {
        self.server
    }
}

/// Structured logs: JSON by default, `pretty` for people; `RUST_LOG` overrides the filter.
pub fn init_telemetry(settings: &Settings) {
    init_telemetry_to(settings, std::io::stderr);
}

/// The same logs, written to `writer` (the tests read them back to check what is never logged).
pub fn init_telemetry_to<W>(settings: &Settings, writer: W)
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(settings.log.filter.clone()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    let _ = if settings.log.format == "pretty" {
        builder.try_init()
    } else {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init()
    };
}
