//! The `billing` command: serve the API, migrate, mint tokens, write the OpenAPI document.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use billing_api::config::Settings;
use billing_api::demo;
use billing_api::http::auth::{Signer, SCOPE_ADMIN, SCOPE_USAGE_WRITE};
use billing_api::http::openapi;
use billing_api::startup::{init_telemetry, open_database, Application};
use billing_application::clock::SystemClock;
use billing_persistence::db;
use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(name = "billing", version, about = "Headless billing API")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Migrate the database and serve the API (SQLite `billing.db` unless DATABASE_URL is set).
    Serve {
        /// Load demo accounts, projects and members, and print ready-to-use tokens. Without a
        /// configured key, tokens are signed with the public development key (a local trial).
        #[arg(long)]
        demo: bool,
        /// Without a configured key, accept tokens signed with the public development key,
        /// which anyone can mint: only for a server nobody else can reach.
        #[arg(long)]
        insecure_dev_key: bool,
        /// Address to listen on (default from configuration: 127.0.0.1:8080).
        #[arg(long)]
        bind: Option<String>,
    },
    /// Apply pending migrations.
    Migrate {
        /// Roll every migration back and apply them again (checks each `down`).
        #[arg(long)]
        down_up: bool,
    },
    /// Mint a bearer token with the configured signing key.
    Token {
        /// Subject: the user id, or the operator's or service's name.
        #[arg(long)]
        sub: String,
        /// Limit a user token to one account; required for `usage:write`.
        #[arg(long)]
        account: Option<String>,
        #[arg(long, value_enum)]
        scope: Option<Scope>,
        /// Lifetime, such as 15m, 1h or 30d.
        #[arg(long, default_value = "1h")]
        ttl: String,
        /// Without a configured key, sign with the public development key (for a server run
        /// with --demo or --insecure-dev-key).
        #[arg(long)]
        insecure_dev_key: bool,
    },
    /// Run billing once: finalize every period due as of an instant, and print what it did.
    Run {
        /// The instant to run as of (RFC 3339), never in the future. Default: now.
        #[arg(long)]
        as_of: Option<String>,
    },
    /// Write the OpenAPI document (to stdout without --output).
    Openapi {
        #[arg(long)]
        output: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Scope {
    Admin,
    #[value(name = "usage:write")]
    UsageWrite,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("billing: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut settings = Settings::load()?;
    match cli.command {
        Command::Serve {
            demo,
            insecure_dev_key,
            bind,
        } => {
            if let Some(bind) = bind {
                settings.server.bind = bind;
            }
            settings.auth.insecure_dev_key = demo || insecure_dev_key;
            if demo {
                // The demo's webhook endpoints are on this machine.
                settings.billing.webhooks.allow_private_targets = true;
            }
            init_telemetry(&settings);
            serve(settings, demo).await
        }
        Command::Migrate { down_up } => {
            init_telemetry(&settings);
            let db = db::connect(&billing_api::startup::db_config(&settings)).await?;
            if down_up {
                db::migrate_down_and_up(&db).await?;
            } else {
                db::migrate(&db).await?;
            }
            tracing::info!(
                database = db::backend_name(&settings.database.url),
                "migrations applied"
            );
            Ok(())
        }
        Command::Token {
            sub,
            account,
            scope,
            ttl,
            insecure_dev_key,
        } => {
            settings.auth.insecure_dev_key = insecure_dev_key;
            let ttl = humantime::parse_duration(&ttl).context("--ttl")?;
            let ttl = time::Duration::try_from(ttl).context("--ttl")?;
            let scope = scope.map(|s| match s {
                Scope::Admin => SCOPE_ADMIN,
                Scope::UsageWrite => SCOPE_USAGE_WRITE,
            });
            if scope == Some(SCOPE_USAGE_WRITE) && account.is_none() {
                anyhow::bail!("a usage:write token needs --account");
            }
            let signer = Signer::new(&settings.auth)?;
            let token = signer.mint(
                &sub,
                account.as_deref(),
                scope,
                time::OffsetDateTime::now_utc(),
                ttl,
            )?;
            print_line(&token);
            Ok(())
        }
        Command::Run { as_of } => {
            init_telemetry(&settings);
            let as_of = match as_of {
                Some(text) => time::OffsetDateTime::parse(
                    &text,
                    &time::format_description::well_known::Rfc3339,
                )
                .context("--as-of must be an RFC 3339 instant such as 2026-12-05T00:00:00+09:00")?,
                None => time::OffsetDateTime::now_utc(),
            };
            let db = open_database(&settings)
                .await
                .context("opening the database")?;
            let state = billing_api::startup::app_state(&settings, Arc::new(SystemClock), db)?;
            let report = billing_application::billing_run::run(&state, as_of)
                .await
                .map_err(|e| match e {
                    billing_application::AppError::Validation(errors) => anyhow::anyhow!(
                        "billing run: {}",
                        errors
                            .iter()
                            .map(|f| format!("{}: {}", f.field, f.message))
                            .collect::<Vec<_>>()
                            .join("; ")
                    ),
                    other => anyhow::anyhow!("billing run: {other}"),
                })?;
            print_line(&serde_json::to_string_pretty(&report.summary())?);
            Ok(())
        }
        Command::Openapi { output } => {
            let text = openapi::document_json()?;
            match output {
                Some(path) => std::fs::write(&path, text)
                    .with_context(|| format!("writing {}", path.display()))?,
                None => print_line(text.trim_end()),
            }
            Ok(())
        }
    }
}

async fn serve(settings: Settings, load_demo: bool) -> anyhow::Result<()> {
    // No key, no server: checked before the database is touched.
    billing_api::http::auth::Verifier::new(&settings.auth)?;
    let database = db::backend_name(&settings.database.url);
    let db = open_database(&settings)
        .await
        .context("opening the database")?;
    tracing::info!(database, "database migrated");
    let app = Application::with_database(&settings, Arc::new(SystemClock), db.clone())?;
    let base = format!("http://{}", settings.server.bind);
    tracing::info!(address = %settings.server.bind, port = app.port(), database, "listening");
    let state = billing_api::startup::app_state(&settings, Arc::new(SystemClock), db)?;
    if load_demo {
        let users = demo::load(&state)
            .await
            .map_err(|e| anyhow::anyhow!("loading demo data: {e}"))?;
        print_demo(&settings, &base, &users)?;
    }
    // After the demo is in: the first run (at once) finalizes its last month.
    billing_api::jobs::spawn(state.clone(), settings.billing_run_every()?);
    let mailer = billing_application::mail::ConfiguredMailer::new(
        &settings.mail.smtp_url,
        &settings.mail.from,
    )
    .map_err(|e| anyhow::anyhow!(e))?;
    billing_api::jobs::spawn_mailer(state.clone(), mailer, std::time::Duration::from_secs(30));
    billing_api::jobs::spawn_webhooks(
        state,
        settings.webhook_poll_every()?,
        settings.event_retention()?,
    )?;
    app.run_until_stopped().await?;
    Ok(())
}

fn print_demo(settings: &Settings, base: &str, users: &[demo::DemoUser]) -> anyhow::Result<()> {
    let signer = Signer::new(&settings.auth)?;
    let now = time::OffsetDateTime::now_utc();
    let ttl = time::Duration::days(30);
    print_line("");
    print_line(&format!("Billing API demo at {base} (docs: {base}/docs/)"));
    print_line("Tokens (valid 30 days):");
    let operator = signer.mint(demo::OPERATOR, None, Some(SCOPE_ADMIN), now, ttl)?;
    print_line(&format!(
        "  operator (admin)  {}\n    {operator}",
        demo::OPERATOR
    ));
    let mut accounts_seen = Vec::new();
    for user in users {
        let token = signer.mint(&user.user, None, None, now, ttl)?;
        print_line(&format!(
            "  {:<14} {} @ {} ({})\n    {token}",
            user.role.as_str(),
            user.user,
            user.account_name,
            user.account
        ));
        if !accounts_seen.contains(&user.account) {
            accounts_seen.push(user.account.clone());
        }
    }
    for account in accounts_seen {
        let token = signer.mint(
            "metering@provider.example",
            Some(account.as_str()),
            Some(SCOPE_USAGE_WRITE),
            now,
            ttl,
        )?;
        print_line(&format!("  usage:write for {account}\n    {token}"));
    }
    print_line(&format!(
        "Try: curl -H \"Authorization: Bearer <token>\" {base}/v1/accounts"
    ));
    Ok(())
}

#[allow(clippy::print_stdout)]
fn print_line(text: &str) {
    println!("{text}");
}
