//! The jobs inside `billing serve`: the billing run on a schedule (finalization, then charges
//! and their retries), the mail sender, and the webhook sender (with the purge of events
//! past their retention). Each run calls the same use
//! case as `POST /v1/admin/billing-runs` and `billing run`, which does its work once however
//! many runs overlap (in this process or another), so a run that is late or doubled is
//! harmless; the sender claims each mail before sending it.

use std::time::Duration;

use billing_application::billing_run;
use billing_application::events::reads::purge;
use billing_application::mail::{deliver_due, ConfiguredMailer};
use billing_application::state::AppState;
use billing_application::webhooks::send::{self, Sender};

/// Starts the billing run every `every` (none when `None`), the first one at once.
pub fn spawn(state: AppState, every: Option<Duration>) {
    let Some(every) = every else {
        tracing::info!("the billing job is off (billing.run_every = 0s)");
        return;
    };
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let as_of = state.clock.now();
            match billing_run::run(&state, as_of).await {
                Ok(report) => {
                    let finalized = &report.finalized;
                    let invoices: usize = finalized.finalized.iter().map(|(_, f)| f.len()).sum();
                    tracing::info!(
                        accounts = finalized.accounts_examined,
                        invoices,
                        payments = report.charged.payments.len(),
                        reconciled = report.charged.reconciled.len(),
                        "billing run done"
                    );
                }
                // Logged and tried again at the next tick; nothing half-done stays behind (each
                // page of accounts is finalized in one transaction, each payment recorded
                // before and after its charge).
                Err(error) => tracing::error!(error = %error, "billing run failed"),
            }
            // Housekeeping: keys whose answers are no longer replayed.
            if let Err(error) =
                billing_application::idempotency::purge_expired(&state, state.clock.now()).await
            {
                tracing::error!(error = %error, "purging idempotency keys failed");
            }
        }
    });
}

/// How many mails one pass of the sender takes.
const MAIL_BATCH: u64 = 100;

/// Starts the mail sender: every `every`, the mail that is due.
pub fn spawn_mailer(state: AppState, mailer: ConfiguredMailer, every: Duration) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match deliver_due(&state, &mailer, state.clock.now(), MAIL_BATCH).await {
                Ok(done) if done.sent + done.failed > 0 => {
                    tracing::info!(sent = done.sent, failed = done.failed, "mail sent");
                }
                Ok(_) => {}
                Err(error) => tracing::error!(error = %error, "the mail sender failed"),
            }
        }
    });
}

/// Deliveries one pass of the webhook sender claims.
const WEBHOOK_BATCH: u64 = 500;

/// How often events past their retention are deleted.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// Starts the webhook sender: every `every` (none when `None`), the deliveries that are due,
/// pass after pass while there are more; and, hourly, the purge of events older than
/// `retention`.
pub fn spawn_webhooks(
    state: AppState,
    every: Option<Duration>,
    retention: time::Duration,
) -> anyhow::Result<()> {
    let Some(every) = every else {
        tracing::info!("the webhook sender is off (billing.webhooks.poll_every = 0s)");
        return Ok(());
    };
    let sender = Sender::new(state.webhooks)?;
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_purge: Option<std::time::Instant> = None;
        loop {
            ticks.tick().await;
            loop {
                match send::deliver_due(&state, &sender, WEBHOOK_BATCH).await {
                    // A full batch: more may be due at once.
                    Ok(sent) if (sent.delivered + sent.failed) as u64 >= WEBHOOK_BATCH => continue,
                    Ok(sent) if sent.delivered + sent.failed > 0 => {
                        tracing::debug!(
                            delivered = sent.delivered,
                            failed = sent.failed,
                            "webhooks sent"
                        );
                    }
                    Ok(_) => {}
                    Err(error) => tracing::error!(error = %error, "the webhook sender failed"),
                }
                break;
            }
            if last_purge.is_none_or(|at| at.elapsed() >= PURGE_EVERY) {
                last_purge = Some(std::time::Instant::now());
                match purge(&state, state.clock.now(), retention).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(events = n, "events past their retention deleted"),
                    Err(error) => tracing::error!(error = %error, "purging events failed"),
                }
            }
        }
    });
    Ok(())
}
