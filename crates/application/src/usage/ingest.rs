//! Ingesting usage events: one transaction per batch; every event answered as accepted,
//! duplicate or rejected with a reason; a bad event never sinks the batch.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use billing_domain::accounts::Account;
use billing_domain::catalog::{Aggregation, Code};
use billing_domain::names::{AccountId, ProjectId};
use billing_domain::period::{BillingOffset, BillingPeriod};
use billing_domain::usage::{
    accumulate_runs, check_timestamp, fold_batch, judge, month_bucket, parse_event_quantity,
    run_starts, ClosedPeriodRejection, EventContext, EventId, Folded, Grain, Rejection, Rollup,
    RollupKey, UsageEvent,
};
use billing_persistence::repo;
use billing_persistence::repo::accounts::AccountLock;
use billing_persistence::repo::catalog::ProductRef;
use billing_persistence::repo::usage::{Locked, NewEvent};
use billing_persistence::{ConnectionTrait, DatabaseTransaction, DbBackend, PersistenceError};
use time::OffsetDateTime;

use crate::error::AppError;
use crate::events::Occurred;
use crate::state::AppState;

/// One event as the client sent it.
pub struct EventInput {
    pub id: String,
    pub project_id: String,
    pub product: String,
    pub quantity: String,
    pub timestamp: OffsetDateTime,
    /// A JSON object, as text.
    pub properties: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum EventOutcome {
    Accepted,
    Duplicate,
    Rejected(Rejection),
}

struct Candidate {
    index: usize,
    event: UsageEvent,
    properties: Option<String>,
}

fn parse(
    input: &EventInput,
    now: OffsetDateTime,
    offset: BillingOffset,
) -> Result<UsageEvent, Rejection> {
    let id = EventId::parse(&input.id).map_err(|_| Rejection::InvalidId)?;
    let project = ProjectId::parse(&input.project_id).map_err(|_| Rejection::UnknownProject)?;
    let product = Code::parse(&input.product).map_err(|_| Rejection::UnknownProduct)?;
    let quantity = parse_event_quantity(&input.quantity)?;
    let timestamp = check_timestamp(input.timestamp, now, offset)?;
    Ok(UsageEvent {
        id,
        project,
        product,
        quantity,
        timestamp,
    })
}

/// The optimistic try met what only the careful way handles: a rollup sum past the largest
/// quantity, or a concurrent batch storing one of the same event ids.
struct Retry;

/// Stores a batch of an account's usage. Answers one outcome per event, in order.
///
/// On PostgreSQL the batch first runs optimistically, as if every event were new: they are
/// inserted with a plain `INSERT`, and the hour, day and month rollups are added to without
/// being read under lock (a `BIGINT` addition past the largest quantity fails the statement).
/// If one of the ids is stored already, by an earlier or a concurrent request (the primary key
/// refuses the insert), or a rollup would overflow, the try is rolled back and the batch runs
/// again the careful way: the account's row held alone, `INSERT ... ON CONFLICT DO NOTHING`,
/// and day and month rollups read under lock so that overflowing events are refused one by
/// one. SQLite runs one writer at a time and always goes the careful way. Either way the
/// primary key decides what is new: each event is counted once.
pub async fn ingest(
    state: &AppState,
    account_id: &AccountId,
    inputs: Vec<EventInput>,
) -> Result<Vec<EventOutcome>, AppError> {
    if state.db.get_database_backend() == DbBackend::Postgres {
        if let Ok(outcomes) = ingest_once(state, account_id, &inputs, false).await? {
            return Ok(outcomes);
        }
    }
    match ingest_once(state, account_id, &inputs, true).await? {
        Ok(outcomes) => Ok(outcomes),
        Err(Retry) => Err(AppError::Internal(
            "a rollup overflowed although its day and month were checked under lock".into(),
        )),
    }
}

/// One try at a batch, careful or optimistic (see [`ingest`]), as its steps: [`lock_account`],
/// [`parse_all`], [`judge_all`] (unknown projects and products, closed periods), for the
/// careful way [`mark_stored`] (duplicates of earlier batches), [`fold`] (the rollups the batch
/// adds, and what would overflow), [`insert`], [`runs_of`] (the plan-run rollups) and
/// [`write_rollups`]. `Err(Retry)` when the optimistic try met what only the careful way
/// handles.
async fn ingest_once(
    state: &AppState,
    account_id: &AccountId,
    inputs: &[EventInput],
    careful: bool,
) -> Result<Result<Vec<EventOutcome>, Retry>, AppError> {
    let now = state.clock.now();
    let txn = billing_persistence::db::begin_write(&state.db).await?;
    let account = lock_account(&txn, account_id, careful).await?;
    let offset = account.billing_offset;
    let mut batch = parse_all(inputs, now, offset);
    let products = judge_all(state, &txn, &account, &mut batch, now).await?;
    if careful {
        mark_stored(&txn, account_id, &mut batch).await?;
    }
    let Ok(folded) = fold(&txn, &mut batch, offset, &products, careful).await? else {
        return Ok(Err(Retry));
    };
    if insert(&txn, account_id, &batch, &products, now, careful)
        .await?
        .is_err()
    {
        return Ok(Err(Retry));
    }
    let runs = runs_of(&txn, &batch, offset, &products).await?;
    match write_rollups(&txn, offset, &folded, &runs, &products).await {
        Ok(()) => {}
        // Dropping the transaction rolls it back: nothing of this try is kept.
        Err(e) if e.is_out_of_range() => return Ok(Err(Retry)),
        Err(e) => return Err(e.into()),
    }
    txn.commit().await?;
    batch.finish().map(Ok)
}

/// A batch on its way: each event's outcome once known, and the events still in the running.
struct Batch {
    outcomes: Vec<Option<EventOutcome>>,
    candidates: Vec<Candidate>,
}

impl Batch {
    /// Takes the candidates `keep` refuses out of the running, with the outcome it gives.
    fn settle(&mut self, mut keep: impl FnMut(&Candidate) -> Result<(), EventOutcome>) {
        let outcomes = &mut self.outcomes;
        self.candidates.retain(|c| match keep(c) {
            Ok(()) => true,
            Err(outcome) => {
                outcomes[c.index] = Some(outcome);
                false
            }
        });
    }

    /// Every candidate left is accepted: the outcomes, in order.
    fn finish(mut self) -> Result<Vec<EventOutcome>, AppError> {
        for c in &self.candidates {
            self.outcomes[c.index] = Some(EventOutcome::Accepted);
        }
        self.outcomes
            .into_iter()
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| AppError::Internal("an event was left without an outcome".into()))
    }
}

/// The account's row, first: its offset cannot change under this batch. An optimistic try
/// shares it with the account's other optimistic batches, which write rollups in one order
/// (hours, days, months; each in key order) and so never wait on each other in a circle. The
/// careful way locks day and month rows before it writes hours, which an optimistic batch
/// holding those hours and waiting for those days would deadlock with; so it takes the row
/// alone, after every batch of the account in flight and before any new one. Holding it alone
/// also means no other batch of the account stores events meanwhile.
async fn lock_account(
    txn: &DatabaseTransaction,
    account_id: &AccountId,
    careful: bool,
) -> Result<Account, AppError> {
    let lock = if careful {
        AccountLock::Update
    } else {
        AccountLock::Share
    };
    repo::accounts::find_locked(txn, account_id, lock)
        .await?
        .ok_or(AppError::NotFound)
}

/// Parses every event; a repeated id within the batch counts once: the first one.
fn parse_all(inputs: &[EventInput], now: OffsetDateTime, offset: BillingOffset) -> Batch {
    let mut batch = Batch {
        outcomes: vec![None; inputs.len()],
        candidates: Vec::with_capacity(inputs.len()),
    };
    let mut seen = HashSet::new();
    for (index, input) in inputs.iter().enumerate() {
        match parse(input, now, offset) {
            Err(reason) => batch.outcomes[index] = Some(EventOutcome::Rejected(reason)),
            Ok(event) if !seen.insert(event.id.clone()) => {
                batch.outcomes[index] = Some(EventOutcome::Duplicate)
            }
            Ok(event) => batch.candidates.push(Candidate {
                index,
                event,
                properties: input.properties.clone(),
            }),
        }
    }
    batch
}

/// Refuses the events of unknown or closed projects, of unknown products and of closed
/// (invoiced) periods, and records a `usage.period_closed_rejected` event when it refused
/// some for a closed period. Answers the batch's products.
async fn judge_all(
    state: &AppState,
    txn: &DatabaseTransaction,
    account: &Account,
    batch: &mut Batch,
    now: OffsetDateTime,
) -> Result<HashMap<Code, ProductRef>, AppError> {
    let account_id = &account.id;
    let offset = account.billing_offset;
    let project_ids: Vec<&ProjectId> = batch.candidates.iter().map(|c| &c.event.project).collect();
    let projects = repo::accounts::projects::find_many(txn, account_id, &project_ids).await?;
    let codes: Vec<&Code> = batch.candidates.iter().map(|c| &c.event.product).collect();
    let products = state.catalog.by_codes(txn, &codes).await?;
    // A period is closed once it is invoiced.
    let closed = repo::invoices::invoiced_periods(txn, account_id, offset).await?;
    let mut event_ids = Vec::new();
    let mut periods: Vec<BillingPeriod> = Vec::new();
    batch.settle(|c| {
        let e = &c.event;
        let period = BillingPeriod::containing(e.timestamp, offset).ok();
        let context = EventContext {
            project: projects.get(&e.project).copied(),
            product_known: products.contains_key(&e.product),
            period_closed: period.is_some_and(|p| closed.contains(&p)),
        };
        let verdict = judge(e, context);
        if verdict == Err(Rejection::PeriodClosed) {
            event_ids.push(e.id.as_str().to_owned());
            periods.extend(period.filter(|p| !periods.contains(p)));
        }
        verdict.map_err(EventOutcome::Rejected)
    });
    if !event_ids.is_empty() {
        let rejection = ClosedPeriodRejection {
            id: format!("rej_{}", uuid::Uuid::now_v7().simple()),
            event_ids,
            periods: {
                periods.sort_by_key(|p| p.start());
                periods
            },
        };
        crate::events::record(
            &state.events,
            txn,
            &[(account, Occurred::UsagePeriodClosedRejected(&rejection))],
            now,
        )
        .await?;
    }
    Ok(products)
}

/// The careful way: the events an earlier batch stored are duplicates. (The account's row is
/// held alone, so no batch stores one meanwhile.)
async fn mark_stored(
    txn: &DatabaseTransaction,
    account_id: &AccountId,
    batch: &mut Batch,
) -> Result<(), AppError> {
    let ids: Vec<&str> = batch
        .candidates
        .iter()
        .map(|c| c.event.id.as_str())
        .collect();
    let stored = repo::usage::stored_event_ids(txn, account_id, &ids).await?;
    batch.settle(|c| {
        if stored.contains(c.event.id.as_str()) {
            Err(EventOutcome::Duplicate)
        } else {
            Ok(())
        }
    });
    Ok(())
}

/// Folds the new events into the rollups they add to, once. The careful way reads the stored
/// day and month rollups under lock first and refuses the events that would overflow them; the
/// optimistic try reads nothing (the database refuses an overflowing addition) and gives up on
/// an event that overflows within the batch (`Err(Retry)`).
async fn fold(
    txn: &DatabaseTransaction,
    batch: &mut Batch,
    offset: BillingOffset,
    products: &HashMap<Code, ProductRef>,
    careful: bool,
) -> Result<Result<Folded, Retry>, AppError> {
    let (days, months) = if careful {
        let keys = |bucket: &dyn Fn(OffsetDateTime) -> OffsetDateTime| -> BTreeSet<RollupKey> {
            batch
                .candidates
                .iter()
                .map(|c| RollupKey {
                    project: c.event.project.clone(),
                    product: c.event.product.clone(),
                    bucket_start: bucket(c.event.timestamp),
                })
                .collect()
        };
        let day_keys = keys(&|at| Grain::Day.bucket(at, offset));
        let month_keys = keys(&|at| month_bucket(at, offset));
        let days = repo::usage::lock_rollups(
            txn,
            Locked::Days,
            &day_keys.iter().collect::<Vec<_>>(),
            products,
        )
        .await?;
        let months = repo::usage::lock_rollups(
            txn,
            Locked::Months(offset),
            &month_keys.iter().collect::<Vec<_>>(),
            products,
        )
        .await?;
        (days, months)
    } else {
        (BTreeMap::new(), BTreeMap::new())
    };
    let folded = fold_batch(
        batch.candidates.iter().map(|c| (c.index, &c.event)),
        offset,
        |code: &Code| aggregation(products, code),
        &days,
        &months,
    );
    if !careful && !folded.refused.is_empty() {
        return Ok(Err(Retry));
    }
    let refused: HashSet<usize> = folded.refused.iter().copied().collect();
    batch.settle(|c| {
        if refused.contains(&c.index) {
            Err(EventOutcome::Rejected(Rejection::QuantityOutOfRange))
        } else {
            Ok(())
        }
    });
    Ok(Ok(folded))
}

fn aggregation(products: &HashMap<Code, ProductRef>, code: &Code) -> Aggregation {
    products
        .get(code)
        .map_or(Aggregation::Sum, |p| p.product.aggregation)
}

/// Stores the accepted events. The careful way knows they are new (`ON CONFLICT DO NOTHING`
/// backs it); the optimistic try inserts them plainly and meets a stored id as `Err(Retry)`.
async fn insert(
    txn: &DatabaseTransaction,
    account_id: &AccountId,
    batch: &Batch,
    products: &HashMap<Code, ProductRef>,
    now: OffsetDateTime,
    careful: bool,
) -> Result<Result<(), Retry>, AppError> {
    let new_events: Vec<NewEvent> = batch
        .candidates
        .iter()
        .map(|c| NewEvent {
            event: &c.event,
            product_id: products
                .get(&c.event.product)
                .map(|p| p.id.as_str())
                .unwrap_or_default(),
            properties: c.properties.clone(),
        })
        .collect();
    let inserted = if careful {
        repo::usage::insert_events(txn, account_id, &new_events, now).await?
    } else {
        match repo::usage::insert_new_events(txn, account_id, &new_events, now).await {
            Ok(inserted) => inserted,
            Err(PersistenceError::AlreadyExists) => return Ok(Err(Retry)),
            Err(e) => return Err(e.into()),
        }
    };
    if inserted.len() != new_events.len() {
        return Err(AppError::Internal(
            "an event stored meanwhile although the account was held".into(),
        ));
    }
    Ok(Ok(()))
}

/// The plan-run rollups the accepted events add to, for the periods plan changes cut. The
/// account's row, held, keeps plan changes out until this batch commits (a change cuts the
/// runs again under it alone).
async fn runs_of(
    txn: &DatabaseTransaction,
    batch: &Batch,
    offset: BillingOffset,
    products: &HashMap<Code, ProductRef>,
) -> Result<BTreeMap<RollupKey, Rollup>, AppError> {
    let mut batch_projects: Vec<ProjectId> = batch
        .candidates
        .iter()
        .map(|c| c.event.project.clone())
        .collect();
    batch_projects.sort();
    batch_projects.dedup();
    let histories = repo::catalog::assignments_of(txn, &batch_projects).await?;
    let mut run_starts_of: BTreeMap<(ProjectId, OffsetDateTime), Vec<OffsetDateTime>> =
        BTreeMap::new();
    for c in &batch.candidates {
        let e = &c.event;
        let (Some(history), Ok(period)) = (
            histories.get(&e.project),
            BillingPeriod::containing(e.timestamp, offset),
        ) else {
            continue;
        };
        run_starts_of
            .entry((e.project.clone(), period.start()))
            .or_insert_with(|| run_starts(&period, history));
    }
    Ok(accumulate_runs(
        batch.candidates.iter().map(|c| &c.event),
        offset,
        |code: &Code| aggregation(products, code),
        |project, month| {
            run_starts_of
                .get(&(project.clone(), month))
                .map_or(&[][..], Vec::as_slice)
        },
    ))
}

/// Adds the batch to its hour, day, month and run rollups, in that order (see
/// [`lock_account`]).
async fn write_rollups(
    txn: &DatabaseTransaction,
    offset: BillingOffset,
    folded: &Folded,
    runs: &BTreeMap<RollupKey, Rollup>,
    products: &HashMap<Code, ProductRef>,
) -> Result<(), PersistenceError> {
    repo::usage::add_to_rollups(txn, Grain::Hour, &folded.hours, products).await?;
    repo::usage::add_to_rollups(txn, Grain::Day, &folded.days, products).await?;
    repo::usage::add_to_monthly_rollups(txn, offset, &folded.months, products).await?;
    repo::usage::add_to_run_rollups(txn, offset, runs, products).await
}
