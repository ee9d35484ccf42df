//! Sending webhooks: the job inside `billing serve` claims the deliveries that are due (each
//! account's oldest undelivered one per endpoint, so an endpoint receives an account's events
//! in order), sends them at once, and records how each went. At least once: a sender killed
//! after sending and before recording sends the same event again, under the same
//! `webhook-id`, once its claim runs out; receivers drop what they have seen.
//!
//! Each request is signed as the Standard Webhooks specification says: `webhook-id` (the
//! event's id), `webhook-timestamp` (when it is sent, in Unix seconds of the wall clock) and
//! `webhook-signature` (`v1,` and the base64 HMAC-SHA256 of `id.timestamp.body`, one per
//! secret that signs now). Redirects are not followed; a host that resolves to a private
//! address is refused at every send unless private targets are allowed.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use billing_domain::events::Event;
use billing_domain::names::{EventId, WebhookDeliveryId, WebhookEndpointId};
use billing_domain::webhooks::{
    after_failure, is_public, signature_header, AfterFailure, Attempt, Delivery, Endpoint,
};
use billing_persistence::repo;
use billing_persistence::repo::webhooks::Outcome;
use futures_util::StreamExt;
use time::OffsetDateTime;

use crate::error::{AppError, ConflictKind};
use crate::idempotency::{self, Answer, Done, Idempotent};
use crate::state::{AppState, WebhookSettings};
use crate::webhooks::DeliveryView;

/// How many requests one sender has in flight at most.
const IN_FLIGHT: usize = 64;

/// Sends webhook requests: one HTTP client, shared by every delivery.
#[derive(Clone)]
pub struct Sender {
    client: reqwest::Client,
    settings: WebhookSettings,
}

/// Resolves host names to their public addresses only: a name that points inside the network
/// is refused however it was registered.
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|addr| is_public(addr.ip()))
                .collect();
            if found.is_empty() {
                return Err("the host resolves to no public address".into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}

impl Sender {
    pub fn new(settings: WebhookSettings) -> Result<Sender, AppError> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .user_agent("billing-webhooks/1");
        if !settings.allow_private_targets {
            builder = builder.dns_resolver(Arc::new(PublicOnly));
        }
        let client = builder
            .build()
            .map_err(|e| AppError::Internal(format!("webhook client: {e}")))?;
        Ok(Sender { client, settings })
    }

    /// How long a claim holds a delivery: longer than any attempt may take.
    fn lease(&self) -> time::Duration {
        let timeout =
            time::Duration::try_from(self.settings.timeout).unwrap_or(time::Duration::seconds(15));
        timeout * 2 + time::Duration::seconds(5)
    }

    /// Sends one event to one endpoint, signed; answers how it went.
    async fn send(
        &self,
        endpoint: &Endpoint,
        event: &Event,
        number: u32,
        now: OffsetDateTime,
    ) -> Attempt {
        let timestamp = OffsetDateTime::now_utc().unix_timestamp();
        let started = std::time::Instant::now();
        let refused = |error: &str| Attempt {
            number,
            started_at: now,
            duration_ms: 0,
            status_code: None,
            succeeded: false,
            error: Some(error.to_owned()),
        };
        // Checked again at every send: an endpoint registered while private targets were
        // allowed is not sent to once they are not.
        if billing_domain::webhooks::check_target(
            &endpoint.url,
            self.settings.allow_private_targets,
        )
        .is_err()
        {
            return refused("the URL is not an allowed target");
        }
        let signature = signature_header(
            &endpoint.signing_secrets(now),
            event.id.as_str(),
            timestamp,
            &event.body,
        );
        let result = self
            .client
            .post(&endpoint.url)
            .header("content-type", "application/json")
            .header("webhook-id", event.id.as_str())
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(event.body.clone())
            .send()
            .await;
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match result {
            Ok(response) => {
                let status = response.status();
                let (succeeded, error) = if status.is_success() {
                    (true, None)
                } else if status.is_redirection() {
                    (
                        false,
                        Some(format!("answered {status}: redirects are not followed")),
                    )
                } else {
                    (false, Some(format!("answered {status}")))
                };
                Attempt {
                    number,
                    started_at: now,
                    duration_ms,
                    status_code: Some(status.as_u16()),
                    succeeded,
                    error,
                }
            }
            Err(e) => {
                let why = if e.is_timeout() {
                    format!("no answer within {} s", self.settings.timeout.as_secs())
                } else if e.is_connect() {
                    "could not connect".to_owned()
                } else {
                    // Without the URL: it may carry a token in its query.
                    e.without_url().to_string()
                };
                Attempt {
                    duration_ms,
                    ..refused(&why)
                }
            }
        }
    }
}

/// What one pass of the sender did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sent {
    pub delivered: usize,
    pub failed: usize,
}

/// Sends the deliveries due now, at most `limit`, and records how each went.
pub async fn deliver_due(state: &AppState, sender: &Sender, limit: u64) -> Result<Sent, AppError> {
    let now = state.clock.now();
    let claimed = repo::webhooks::claim_due(&state.db, now, now + sender.lease(), limit).await?;
    if claimed.is_empty() {
        return Ok(Sent::default());
    }
    let done = send_all(state, sender, claimed, now).await?;
    let sent = Sent {
        delivered: done.iter().filter(|(_, a)| a.succeeded).count(),
        failed: done.iter().filter(|(_, a)| !a.succeeded).count(),
    };
    settle(state, &done, now).await?;
    Ok(sent)
}

/// What sending a delivery again did.
pub struct Retried {
    /// The delivery after it, with all its attempts.
    pub delivery: DeliveryView,
    /// The attempt just made.
    pub attempt: Attempt,
}

/// Sends one delivery again now, whether delivered or not, and answers the attempt (an
/// operator's retry), once per `Idempotency-Key`. 409 while a sender holds it.
pub async fn retry<R>(
    state: &AppState,
    sender: &Sender,
    id: &WebhookDeliveryId,
    request: Idempotent,
    render: R,
) -> Result<Done<Retried>, AppError>
where
    R: FnOnce(&Retried) -> Result<Answer, AppError>,
{
    idempotency::run_with_calls(state, request, || retry_now(state, sender, id), render).await
}

async fn retry_now(
    state: &AppState,
    sender: &Sender,
    id: &WebhookDeliveryId,
) -> Result<Retried, AppError> {
    let now = state.clock.now();
    let Some(delivery) =
        repo::webhooks::claim_one(&state.db, id, now, now + sender.lease()).await?
    else {
        return match repo::webhooks::find_delivery(&state.db, id).await? {
            None => Err(AppError::NotFound),
            Some(_) => Err(AppError::conflict(
                ConflictKind::DeliveryInProgress,
                "a sender is sending this delivery now",
            )),
        };
    };
    let mut done = send_all(state, sender, vec![delivery], now).await?;
    settle(state, &done, now).await?;
    let (delivery, attempt) = done
        .pop()
        .ok_or_else(|| AppError::Internal("a retry sent nothing".into()))?;
    let delivery = repo::webhooks::find_delivery(&state.db, &delivery.id)
        .await?
        .unwrap_or(delivery);
    let attempts = repo::webhooks::attempts_of(&state.db, &[&delivery.id])
        .await?
        .into_iter()
        .map(|(_, a)| a)
        .collect();
    Ok(Retried {
        delivery: DeliveryView { delivery, attempts },
        attempt,
    })
}

/// Sends claimed deliveries, many at once.
async fn send_all(
    state: &AppState,
    sender: &Sender,
    claimed: Vec<Delivery>,
    now: OffsetDateTime,
) -> Result<Vec<(Delivery, Attempt)>, AppError> {
    let event_ids: Vec<&EventId> = claimed.iter().map(|d| &d.event).collect();
    let events: HashMap<EventId, Event> = repo::events::find_all(&state.db, &event_ids)
        .await?
        .into_iter()
        .map(|e| (e.id.clone(), e))
        .collect();
    let mut endpoint_ids: Vec<&WebhookEndpointId> = claimed.iter().map(|d| &d.endpoint).collect();
    endpoint_ids.sort();
    endpoint_ids.dedup();
    let endpoints: HashMap<WebhookEndpointId, Endpoint> =
        repo::webhooks::find_endpoints(&state.db, &endpoint_ids)
            .await?
            .into_iter()
            .map(|e| (e.id.clone(), e))
            .collect();
    let done = futures_util::stream::iter(claimed)
        .map(|delivery| {
            let event = events.get(&delivery.event);
            let endpoint = endpoints.get(&delivery.endpoint);
            async move {
                let number = delivery.attempts + 1;
                let attempt = match (event, endpoint) {
                    (Some(event), Some(endpoint)) => {
                        sender.send(endpoint, event, number, now).await
                    }
                    _ => Attempt {
                        number,
                        started_at: now,
                        duration_ms: 0,
                        status_code: None,
                        succeeded: false,
                        error: Some("the event or the endpoint is gone".into()),
                    },
                };
                (delivery, attempt)
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect::<Vec<_>>()
        .await;
    Ok(done)
}

/// A number in -1000..=1000 from the operating system's randomness (none: no jitter).
fn jitter() -> i64 {
    let mut bytes = [0u8; 2];
    if getrandom::fill(&mut bytes).is_err() {
        return 0;
    }
    i64::from(u16::from_le_bytes(bytes) % 2001) - 1000
}

/// Records the attempts, in one transaction: delivered ones done, failed ones tried again
/// later; an endpoint that answered 410 or has failed for three days is disabled (its
/// deliveries wait for it to be enabled again).
async fn settle(
    state: &AppState,
    done: &[(Delivery, Attempt)],
    now: OffsetDateTime,
) -> Result<(), AppError> {
    let txn = billing_persistence::db::begin_write(&state.db).await?;
    let mut outcomes = Vec::with_capacity(done.len());
    let mut answered_well: Vec<&WebhookEndpointId> = Vec::new();
    for (delivery, attempt) in done {
        if attempt.succeeded {
            answered_well.push(&delivery.endpoint);
            outcomes.push(Outcome {
                delivery: &delivery.id,
                attempt,
                delivered_at: Some(now),
                next_attempt_at: now,
            });
            continue;
        }
        let next_attempt_at = if attempt.status_code == Some(410) {
            repo::webhooks::disable(
                &txn,
                &delivery.endpoint,
                "the endpoint answered 410 Gone",
                now,
            )
            .await?;
            now
        } else {
            let since = repo::webhooks::note_failure(&txn, &delivery.endpoint, now).await?;
            match after_failure(since, attempt.number, now, jitter()) {
                AfterFailure::RetryAt(at) => at,
                AfterFailure::Disable => {
                    let reason = format!(
                        "every attempt failed for 3 days (since {})",
                        billing_domain::instant::normalize(since)
                    );
                    repo::webhooks::disable(&txn, &delivery.endpoint, &reason, now).await?;
                    now
                }
            }
        };
        outcomes.push(Outcome {
            delivery: &delivery.id,
            attempt,
            delivered_at: None,
            next_attempt_at,
        });
    }
    answered_well.sort();
    answered_well.dedup();
    repo::webhooks::note_success(&txn, &answered_well).await?;
    repo::webhooks::record(&txn, &outcomes).await?;
    txn.commit().await?;
    Ok(())
}
