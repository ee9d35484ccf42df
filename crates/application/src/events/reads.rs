//! Reading events back: an account's (its owners, billing admins and operators) and every
//! account's (operators).

use billing_domain::events::{Event, EventType};
use billing_domain::names::AccountId;
use billing_domain::page::{Page, PageRequest};
use billing_persistence::repo;
use billing_persistence::repo::events::Filter;
use time::OffsetDateTime;

use crate::accounts::{billing_reader, Reader};
use crate::error::AppError;
use crate::state::AppState;

/// Which events to list.
#[derive(Clone, Debug, Default)]
pub struct Query {
    /// Only these types (every type when empty).
    pub types: Vec<EventType>,
    /// Created at or after.
    pub from: Option<OffsetDateTime>,
    /// Created before.
    pub until: Option<OffsetDateTime>,
}

/// The account's events, in the order they happened.
pub async fn of_account(
    state: &AppState,
    reader: &Reader,
    account_id: &AccountId,
    query: &Query,
    page: &PageRequest,
) -> Result<Page<Event>, AppError> {
    let account = billing_reader(state, reader, account_id).await?;
    list(state, Some(&account.id), query, page).await
}

/// Every account's events, or one's (operators).
pub async fn all(
    state: &AppState,
    account: Option<&AccountId>,
    query: &Query,
    page: &PageRequest,
) -> Result<Page<Event>, AppError> {
    list(state, account, query, page).await
}

async fn list(
    state: &AppState,
    account: Option<&AccountId>,
    query: &Query,
    page: &PageRequest,
) -> Result<Page<Event>, AppError> {
    let filter = Filter {
        account,
        types: &query.types,
        from: query.from,
        until: query.until,
    };
    let after = page
        .after_number()
        .map_err(|e| AppError::parameter("starting_after", &e))?;
    Ok(repo::events::list(&state.db, &filter, after, page.limit).await?)
}

/// Deletes the events older than `retention` at `now`, with their deliveries; how many.
pub async fn purge(
    state: &AppState,
    now: OffsetDateTime,
    retention: time::Duration,
) -> Result<u64, AppError> {
    Ok(repo::events::purge_before(&state.db, now - retention).await?)
}
