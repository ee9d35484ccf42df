//! The billing run: what `billing serve` does on a schedule, `billing run --as-of` once, and
//! `POST /v1/admin/billing-runs` on request. It finalizes the periods that are due
//! ([`invoices::finalize`]), writes off what expired credits had left, and then charges the
//! invoices that are due ([`payments::charge`]):
//! pending payments are settled first, then each invoice from its charge day on and on its
//! retry schedule. Both halves do their work once however many runs overlap.
//!
//! [`invoices::finalize`]: crate::invoices::finalize
//! [`payments::charge`]: crate::payments::charge

use time::OffsetDateTime;

use crate::error::AppError;
use crate::idempotency::{self, Answer, Done, Idempotent};
use crate::invoices::finalize::{self, RunReport};
use crate::payments::charge::{self, ChargeReport};
use crate::state::AppState;

/// What one billing run did.
pub struct BillingRun {
    pub finalized: RunReport,
    pub charged: ChargeReport,
}

pub async fn run(state: &AppState, as_of: OffsetDateTime) -> Result<BillingRun, AppError> {
    let finalized = finalize::run(state, as_of).await?;
    // Credits past their expiry lose what is left, after the invoices that could still use it.
    crate::credits::expire(state, as_of).await?;
    let charged = charge::run(state, as_of).await?;
    Ok(BillingRun { finalized, charged })
}

/// [`run`] on request, once per `Idempotency-Key`: a retry with the key answers the first run's
/// answer instead of running again.
pub async fn run_once<R>(
    state: &AppState,
    as_of: OffsetDateTime,
    request: Idempotent,
    render: R,
) -> Result<Done<BillingRun>, AppError>
where
    R: FnOnce(&BillingRun) -> Result<Answer, AppError>,
{
    idempotency::run_with_calls(state, request, || run(state, as_of), render).await
}
