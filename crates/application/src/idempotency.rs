//! Idempotent requests: a retry with the same `Idempotency-Key` gets the first answer and
//! changes nothing twice.
//!
//! The rule for transactions: a use case owns its transaction; an idempotent one opens it through
//! [`run`], which claims the key in that same transaction, lets the use case write, stores the
//! answer and commits, so the effect and the stored answer land together or not at all. A key
//! reused for a different request (another path or body) is a conflict, and so is a key whose
//! first request is still running.
//!
//! An answer is data ([`Answer`]: status, location, JSON body); only the HTTP layer turns it into
//! a response.

use std::future::Future;
use std::pin::Pin;

use billing_domain::accounts::Account;
use billing_domain::names::AccountId;
use billing_persistence::repo;
use billing_persistence::repo::accounts::AccountLock;
use billing_persistence::repo::idempotency::{self, Claim};
use billing_persistence::{ConnectionTrait, DatabaseTransaction};
use serde::{Deserialize, Serialize};

use crate::error::{AppError, ConflictKind};
use crate::state::AppState;

/// Who a key belongs to: keys of different scopes never collide, so one caller can never be
/// answered another's stored answer.
pub enum KeyScope<'a> {
    /// An operator, by the token's subject: two operators sending the same key each get their
    /// own answer.
    Operator(&'a str),
    /// A customer account, for the requests its users make on it.
    Account(&'a str),
}

impl KeyScope<'_> {
    /// The stored scope (at most 40 characters): the account id, or `op_` and a digest of the
    /// operator's subject (subjects may be longer, and are not worth storing).
    fn stored(&self) -> String {
        match self {
            KeyScope::Operator(subject) => {
                use sha2::{Digest, Sha256};
                let digest = Sha256::digest(subject.as_bytes());
                let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
                format!("op_{hex}")
            }
            KeyScope::Account(id) => (*id).to_owned(),
        }
    }
}

/// A request that may carry an idempotency key: the key (if any), its scope, and the
/// fingerprint of the request (what makes two requests the same: method, path and body).
pub struct Idempotent {
    scope: String,
    key: Option<String>,
    fingerprint: String,
}

impl Idempotent {
    /// A request without a key (the demo loader, jobs): run plainly.
    pub fn without_key() -> Self {
        Idempotent {
            scope: String::new(),
            key: None,
            fingerprint: String::new(),
        }
    }

    pub fn new(scope: KeyScope<'_>, key: Option<String>, fingerprint: String) -> Self {
        Idempotent {
            scope: scope.stored(),
            key,
            fingerprint,
        }
    }
}

/// An answer that can be stored and replayed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    #[serde(skip)]
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    pub body: serde_json::Value,
    /// Whether this is the stored answer of an earlier request.
    #[serde(skip)]
    pub replayed: bool,
}

/// 201 Created.
const CREATED: u16 = 201;

impl Answer {
    /// No content: for callers that keep the value, not the answer.
    pub fn none() -> Result<Self, AppError> {
        Ok(Answer {
            status: 204,
            location: None,
            body: serde_json::Value::Null,
            replayed: false,
        })
    }

    /// 200 OK with a body.
    pub fn ok(body: impl Serialize) -> Result<Self, AppError> {
        Ok(Answer {
            status: 200,
            location: None,
            body: serde_json::to_value(body).map_err(|e| AppError::Internal(e.to_string()))?,
            replayed: false,
        })
    }

    /// A resource was created at `location`.
    pub fn created(location: String, body: impl Serialize) -> Result<Self, AppError> {
        Ok(Answer {
            status: CREATED,
            location: Some(location),
            body: serde_json::to_value(body).map_err(|e| AppError::Internal(e.to_string()))?,
            replayed: false,
        })
    }
}

/// What an idempotent use case did: the answer to give, and the value it made (`None` when the
/// answer is the replay of an earlier request's).
pub struct Done<T> {
    pub value: Option<T>,
    pub answer: Answer,
}

impl<T> Done<T> {
    /// The value made now; a replay made none.
    pub fn made(self) -> Result<T, AppError> {
        self.value
            .ok_or_else(|| AppError::Internal("a replayed request made nothing".into()))
    }
}

/// The writes of an idempotent use case, run inside its transaction.
pub type Work<'c, T> = Pin<Box<dyn Future<Output = Result<T, AppError>> + Send + 'c>>;

/// Runs `work` once per idempotency key (or plainly, without a key) in one transaction, and
/// answers what `render` makes of its result.
pub async fn run<T, F, R>(
    state: &AppState,
    request: Idempotent,
    work: F,
    render: R,
) -> Result<Done<T>, AppError>
where
    F: for<'c> FnOnce(&'c DatabaseTransaction) -> Work<'c, T>,
    R: FnOnce(&T) -> Result<Answer, AppError>,
{
    let txn = billing_persistence::db::begin_write(&state.db).await?;
    if let Some(key) = &request.key {
        if let Some(done) = claim(state, &txn, &request, key).await? {
            return Ok(done);
        }
    }
    let done = work(&txn).await?;
    let answer = render(&done)?;
    if let Some(key) = &request.key {
        settle(&txn, &request, key, &answer).await?;
    }
    txn.commit().await?;
    Ok(Done {
        value: Some(done),
        answer,
    })
}

/// The writes of an idempotent use case on one account, run inside its transaction with the
/// account's row held.
pub type AccountWork<T> =
    Box<dyn for<'c> FnOnce(&'c DatabaseTransaction, Account) -> Work<'c, T> + Send>;

/// [`run`] for a use case that changes one account's money (a deposit, a credit, a promotion):
/// the key is claimed, then the account's row is held for update (so the account's balance,
/// credits and promotions change one request at a time) and `work` runs with the account as
/// locked. 404 when there is no such account.
pub async fn run_locked<T, R>(
    state: &AppState,
    account_id: &AccountId,
    request: Idempotent,
    work: AccountWork<T>,
    render: R,
) -> Result<Done<T>, AppError>
where
    T: Send + 'static,
    R: FnOnce(&T) -> Result<Answer, AppError>,
{
    let account_id = account_id.clone();
    run(
        state,
        request,
        move |txn| {
            Box::pin(async move {
                let account = repo::accounts::find_locked(txn, &account_id, AccountLock::Update)
                    .await?
                    .ok_or(AppError::NotFound)?;
                work(txn, account).await
            })
        },
        render,
    )
    .await
}

/// Like [`run`], for work that calls the outside world (a payment gateway) and so cannot sit in
/// one transaction: the key is claimed and committed first (a second request with it meanwhile
/// gets 409, one with another body 422), the work runs in its own transactions, and its answer
/// is stored after. A failure gives the key back, so a retry runs afresh; the work itself must
/// be safe to run again (a charge is, by its pending payment and its gateway key). A process
/// that dies mid-request leaves the key claimed for ten minutes.
pub async fn run_with_calls<T, W, Fut, R>(
    state: &AppState,
    request: Idempotent,
    work: W,
    render: R,
) -> Result<Done<T>, AppError>
where
    W: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, AppError>>,
    R: FnOnce(&T) -> Result<Answer, AppError>,
{
    let Some(key) = &request.key else {
        let done = work().await?;
        let answer = render(&done)?;
        return Ok(Done {
            value: Some(done),
            answer,
        });
    };
    let txn = billing_persistence::db::begin_write(&state.db).await?;
    if let Some(done) = claim(state, &txn, &request, key).await? {
        return Ok(done);
    }
    txn.commit().await?;
    let outcome = match work().await {
        Ok(done) => render(&done).map(|answer| (done, answer)),
        Err(e) => Err(e),
    };
    match outcome {
        Ok((done, answer)) => {
            settle(&state.db, &request, key, &answer).await?;
            Ok(Done {
                value: Some(done),
                answer,
            })
        }
        Err(error) => {
            idempotency::release(&state.db, &request.scope, key).await?;
            Err(error)
        }
    }
}

/// Claims the request's key in `txn`: `None` when the claim is fresh (the work is the
/// caller's to do), else what the key answers by itself: the stored answer replayed, or a
/// conflict.
async fn claim<T>(
    state: &AppState,
    txn: &DatabaseTransaction,
    request: &Idempotent,
    key: &str,
) -> Result<Option<Done<T>>, AppError> {
    let claim = idempotency::claim(
        txn,
        &request.scope,
        key,
        &request.fingerprint,
        state.clock.now(),
    )
    .await?;
    settled_claim(claim, &request.fingerprint)
}

/// Stores the answer of a claimed key, to replay to its retries.
async fn settle<C: ConnectionTrait>(
    db: &C,
    request: &Idempotent,
    key: &str,
    answer: &Answer,
) -> Result<(), AppError> {
    let stored = serde_json::to_string(answer).map_err(|e| AppError::Internal(e.to_string()))?;
    idempotency::complete(db, &request.scope, key, answer.status, &stored).await?;
    Ok(())
}

/// What a claim that was not fresh answers: the stored answer replayed, or a conflict. `None`
/// for a fresh claim: the work is the caller's to do.
fn settled_claim<T>(claim: Claim, fingerprint: &str) -> Result<Option<Done<T>>, AppError> {
    match claim {
        Claim::Fresh => Ok(None),
        Claim::Completed {
            request_hash,
            status,
            body,
        } => {
            if request_hash != fingerprint {
                return Err(reused());
            }
            let mut answer: Answer = serde_json::from_str(&body)
                .map_err(|e| AppError::Internal(format!("stored answer: {e}")))?;
            answer.status = status;
            answer.replayed = true;
            Ok(Some(Done {
                value: None,
                answer,
            }))
        }
        Claim::InProgress { request_hash } => Err(if request_hash != fingerprint {
            reused()
        } else {
            AppError::conflict(
                ConflictKind::IdempotencyKeyInProgress,
                "a request with this Idempotency-Key is still running",
            )
        }),
    }
}

/// Forgets keys whose answers are no longer replayed: the housekeeping of `billing serve`.
pub async fn purge_expired(state: &AppState, now: time::OffsetDateTime) -> Result<u64, AppError> {
    Ok(idempotency::purge(&state.db, now).await?)
}

fn reused() -> AppError {
    AppError::conflict(
        ConflictKind::IdempotencyKeyReused,
        "this Idempotency-Key was used for a different request",
    )
}
