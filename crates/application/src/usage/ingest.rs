//! Ingesting usage events: one transaction per batch; every event answered as accepted,
//! duplicate or rejected with a reason; a bad event never sinks the batch.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use billing_domain::catalog::{Aggregation, Code};
use billing_domain::names::{AccountId, ProjectId};
use billing_domain::period::{BillingOffset, BillingPeriod};
use billing_domain::usage::{
    accumulate, accumulate_months, accumulate_runs, check_timestamp, judge, month_bucket,
    parse_event_quantity, run_starts, EventContext, EventId, Grain, Rejection, RollupKey,
    UsageEvent,
};
use billing_persistence::repo;
use billing_persistence::repo::accounts::AccountLock;
use billing_persistence::repo::usage::NewEvent;
use billing_persistence::{ConnectionTrait, DbBackend, PersistenceError};
use time::OffsetDateTime;

use crate::error::AppError;
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

async fn ingest_once(
    state: &AppState,
    account_id: &AccountId,
    inputs: &[EventInput],
    careful: bool,
) -> Result<Result<Vec<EventOutcome>, Retry>, AppError> {
    let now = state.clock.now();
    let txn = billing_persistence::db::begin_write(&state.db).await?;
    // The account's row, first: its offset cannot change under this batch. An optimistic try
    // shares it with the account's other optimistic batches, which write rollups in one order
    // (hours, days, months; each in key order) and so never wait on each other in a circle.
    // The careful way locks day and month rows before it writes hours, which an optimistic
    // batch holding those hours and waiting for those days would deadlock with; so it takes the
    // row alone, after every batch of the account in flight and before any new one.
    let lock = if careful {
        AccountLock::Update
    } else {
        AccountLock::Share
    };
    let account = repo::accounts::find_locked(&txn, account_id, lock)
        .await?
        .ok_or(AppError::NotFound)?;
    let offset = account.billing_offset;

    let mut outcomes: Vec<Option<EventOutcome>> = vec![None; inputs.len()];
    let mut candidates = Vec::with_capacity(inputs.len());
    let mut seen = HashSet::new();
    for (index, input) in inputs.iter().enumerate() {
        match parse(input, now, offset) {
            Err(reason) => outcomes[index] = Some(EventOutcome::Rejected(reason)),
            // A repeated id within the batch counts once: the first one.
            Ok(event) if !seen.insert(event.id.clone()) => {
                outcomes[index] = Some(EventOutcome::Duplicate)
            }
            Ok(event) => candidates.push(Candidate {
                index,
                event,
                properties: input.properties.clone(),
            }),
        }
    }

    let project_ids: Vec<&ProjectId> = candidates.iter().map(|c| &c.event.project).collect();
    let projects = repo::accounts::projects::find_many(&txn, account_id, &project_ids).await?;
    let codes: Vec<&Code> = candidates.iter().map(|c| &c.event.product).collect();
    let products = state.catalog.by_codes(&txn, &codes).await?;
    let closed = repo::usage::closed_periods(&txn, account_id, offset).await?;

    candidates.retain(|c| {
        let e = &c.event;
        let context = EventContext {
            project: projects.get(&e.project).copied(),
            product_known: products.contains_key(&e.product),
            period_closed: BillingPeriod::containing(e.timestamp, offset)
                .is_ok_and(|p| closed.contains(&p)),
        };
        match judge(e, context) {
            Ok(()) => true,
            Err(reason) => {
                outcomes[c.index] = Some(EventOutcome::Rejected(reason));
                false
            }
        }
    });

    let new_events: Vec<NewEvent> = candidates
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
        repo::usage::insert_events(&txn, account_id, &new_events, now).await?
    } else {
        match repo::usage::insert_new_events(&txn, account_id, &new_events, now).await {
            Ok(inserted) => inserted,
            Err(PersistenceError::AlreadyExists) => return Ok(Err(Retry)),
            Err(e) => return Err(e.into()),
        }
    };
    candidates.retain(|c| {
        let new = inserted.contains(c.event.id.as_str());
        if !new {
            outcomes[c.index] = Some(EventOutcome::Duplicate);
        }
        new
    });

    // Fold the new events onto their stored day and month rollups (locked on PostgreSQL) and
    // refuse those that would overflow a day or a month; an event that fits its day fits its
    // hour.
    let aggregation = |code: &Code| {
        products
            .get(code)
            .map_or(Aggregation::Sum, |p| p.product.aggregation)
    };
    let (days, months) = if careful {
        let keys = |bucket: &dyn Fn(OffsetDateTime) -> OffsetDateTime| -> BTreeSet<RollupKey> {
            candidates
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
            &txn,
            Grain::Day,
            &day_keys.iter().collect::<Vec<_>>(),
            &products,
        )
        .await?;
        let months = repo::usage::lock_monthly_rollups(
            &txn,
            offset,
            &month_keys.iter().collect::<Vec<_>>(),
            &products,
        )
        .await?;
        (days, months)
    } else {
        (BTreeMap::new(), BTreeMap::new())
    };
    let (_, over_a_day) = accumulate(
        candidates.iter().map(|c| (c.index, &c.event)),
        offset,
        Grain::Day,
        aggregation,
        &days,
    );
    let mut refused: HashSet<usize> = over_a_day.into_iter().collect();
    let (_, over_a_month) = accumulate_months(
        candidates
            .iter()
            .filter(|c| !refused.contains(&c.index))
            .map(|c| (c.index, &c.event)),
        offset,
        aggregation,
        &months,
    );
    refused.extend(over_a_month);
    let refused_ids: Vec<&str> = candidates
        .iter()
        .filter(|c| refused.contains(&c.index))
        .map(|c| c.event.id.as_str())
        .collect();
    repo::usage::delete_events(&txn, account_id, &refused_ids).await?;
    candidates.retain(|c| {
        let over = refused.contains(&c.index);
        if over {
            outcomes[c.index] = Some(EventOutcome::Rejected(Rejection::QuantityOutOfRange));
        }
        !over
    });
    let accepted = || candidates.iter().map(|c| (c.index, &c.event));
    let none = BTreeMap::new();
    let (hours, _) = accumulate(accepted(), offset, Grain::Hour, aggregation, &none);
    let (days, _) = accumulate(accepted(), offset, Grain::Day, aggregation, &none);
    let (months, _) = accumulate_months(accepted(), offset, aggregation, &none);
    // Periods plan changes cut keep a rollup per plan run too. The account's row, held, keeps
    // plan changes out until this batch commits (a change cuts the runs again under it alone).
    let mut batch_projects: Vec<ProjectId> =
        candidates.iter().map(|c| c.event.project.clone()).collect();
    batch_projects.sort();
    batch_projects.dedup();
    let histories = repo::catalog::assignments_of(&txn, &batch_projects).await?;
    let mut run_starts_of: BTreeMap<(ProjectId, OffsetDateTime), Vec<OffsetDateTime>> =
        BTreeMap::new();
    for c in &candidates {
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
    let runs = accumulate_runs(
        candidates.iter().map(|c| &c.event),
        offset,
        aggregation,
        |project, month| {
            run_starts_of
                .get(&(project.clone(), month))
                .map_or(&[][..], Vec::as_slice)
        },
    );
    let written = async {
        repo::usage::add_to_rollups(&txn, Grain::Hour, &hours, &products).await?;
        repo::usage::add_to_rollups(&txn, Grain::Day, &days, &products).await?;
        repo::usage::add_to_monthly_rollups(&txn, offset, &months, &products).await?;
        repo::usage::add_to_run_rollups(&txn, offset, &runs, &products).await
    };
    match written.await {
        Ok(()) => {}
        // Dropping the transaction rolls it back: nothing of this try is kept.
        Err(e) if e.is_out_of_range() => return Ok(Err(Retry)),
        Err(e) => return Err(e.into()),
    }
    txn.commit().await?;

    for c in &candidates {
        outcomes[c.index] = Some(EventOutcome::Accepted);
    }
    outcomes
        .into_iter()
        .collect::<Option<Vec<_>>>()
        .map(Ok)
        .ok_or_else(|| AppError::Internal("an event was left without an outcome".into()))
}
