//! The billing run: what `billing serve` does on a schedule, `billing run --as-of` once, and
//! `POST /v1/admin/billing-runs` on request. It finalizes the periods that are due
//! ([`invoices::finalize`]), writes off what expired credits had left, and then charges the
//! invoices that are due ([`payments::charge`]):
//! pending payments are settled first, then each invoice from its charge day on and on its
//! retry schedule. Both halves do their work once however many runs overlap.
//!
//! [`invoices::finalize`]: crate::invoices::finalize
//! [`payments::charge`]: crate::payments::charge

use billing_domain::payments::{PaymentMethodKind, PaymentStatus};
use serde::Serialize;
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

/// What a run did, as plain data: what `billing run` prints as JSON, field for field what
/// `POST /v1/admin/billing-runs` answers (a test of the HTTP layer keeps the two equal).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Summary {
    #[serde(with = "time::serde::rfc3339")]
    pub as_of: OffsetDateTime,
    /// How many accounts the run looked at.
    pub accounts_examined: u64,
    /// The accounts for which it finalized invoices.
    pub finalized: Vec<AccountSummary>,
    /// The payments it made or settled, in order.
    pub payments: Vec<PaymentSummary>,
}

/// The invoices a run finalized for one account.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct AccountSummary {
    pub account_id: String,
    pub invoices: Vec<InvoiceSummary>,
}

/// One invoice a run finalized.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct InvoiceSummary {
    pub period: String,
    pub invoice_id: String,
    pub number: String,
    pub currency: String,
    pub total: String,
}

/// One payment a run made or settled.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct PaymentSummary {
    pub payment_id: String,
    pub account_id: String,
    pub invoice_id: String,
    #[serde(serialize_with = "method_name")]
    pub method: PaymentMethodKind,
    #[serde(serialize_with = "status_name")]
    pub status: PaymentStatus,
    pub currency: String,
    pub amount: String,
}

fn method_name<S: serde::Serializer>(kind: &PaymentMethodKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(kind.as_str())
}

fn status_name<S: serde::Serializer>(status: &PaymentStatus, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(status.as_str())
}

impl BillingRun {
    pub fn summary(&self) -> Summary {
        let report = &self.finalized;
        Summary {
            as_of: report.as_of,
            accounts_examined: report.accounts_examined,
            finalized: report
                .finalized
                .iter()
                .map(|(account, invoices)| AccountSummary {
                    account_id: account.to_string(),
                    invoices: invoices
                        .iter()
                        .map(|f| InvoiceSummary {
                            period: f.period.to_string(),
                            invoice_id: f.invoice.to_string(),
                            number: f.number.clone(),
                            currency: f.total.currency().code().to_owned(),
                            total: f.total.to_string(),
                        })
                        .collect(),
                })
                .collect(),
            payments: self
                .charged
                .reconciled
                .iter()
                .chain(&self.charged.payments)
                .map(|p| PaymentSummary {
                    payment_id: p.id.to_string(),
                    account_id: p.account.to_string(),
                    invoice_id: p.invoice.to_string(),
                    method: p.method,
                    status: p.status,
                    currency: p.amount.currency().code().to_owned(),
                    amount: p.amount.to_string(),
                })
                .collect(),
        }
    }
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
