//! The jobs inside `billing serve`: the billing run on a schedule (finalization now; charges,
//! retries and expiries with their issues). Each run calls the same use case as
//! `POST /v1/admin/billing-runs` and `billing run`, which does its work once however many runs
//! overlap (in this process or another), so a run that is late or doubled is harmless.

use std::time::Duration;

use crate::application::invoices::finalize;
use crate::application::state::AppState;

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
            match finalize::run(&state, as_of).await {
                Ok(report) => {
                    let invoices: usize = report.finalized.iter().map(|(_, f)| f.len()).sum();
                    tracing::info!(
                        accounts = report.accounts_examined,
                        invoices,
                        "billing run done"
                    );
                }
                // Logged and tried again at the next tick; nothing half-done stays behind (each
                // period is finalized in its own transaction).
                Err(error) => tracing::error!(error = %error, "billing run failed"),
            }
        }
    });
}
