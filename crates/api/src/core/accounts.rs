//! Accounts and memberships.

use billing_domain::access::{token_reaches, Role};
use billing_domain::account::{Account, AccountChanges, Membership, NewAccount};
use billing_domain::names::{AccountId, UserId};
use billing_persistence::page::{Page, PageRequest};
use billing_persistence::repo;
use billing_persistence::ConnectionTrait;
use uuid::Uuid;

use crate::auth::User;
use crate::clock::Clock;
use crate::error::ApiError;
use crate::state::AppState;

/// Opens an account inside the caller's transaction (see [`crate::core::idempotency::run`]).
pub async fn create<C: ConnectionTrait>(
    db: &C,
    clock: &dyn Clock,
    new: NewAccount,
) -> Result<Account, ApiError> {
    let now = clock.now();
    let account = Account {
        id: AccountId::from_uuid(Uuid::now_v7()),
        name: new.name,
        currency: new.currency,
        billing_offset: new.billing_offset,
        tax_rate: new.tax_rate,
        billing_email: new.billing_email,
        created_at: now,
        updated_at: now,
    };
    repo::accounts::insert(db, &account).await?;
    Ok(account)
}

pub async fn get(state: &AppState, id: &AccountId) -> Result<Account, ApiError> {
    repo::accounts::find(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound)
}

pub async fn update(
    state: &AppState,
    id: &AccountId,
    changes: AccountChanges,
) -> Result<Account, ApiError> {
    let txn = billing_persistence::db::begin_write(&state.db).await?;
    let mut account = repo::accounts::find(&txn, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    account.apply(changes, state.clock.now());
    repo::accounts::update(&txn, &account).await?;
    txn.commit().await?;
    Ok(account)
}

pub async fn list(state: &AppState, page: &PageRequest) -> Result<Page<Account>, ApiError> {
    Ok(repo::accounts::list(&state.db, page).await?)
}

pub async fn set_member(
    state: &AppState,
    account: &AccountId,
    user: UserId,
    role: Role,
) -> Result<Membership, ApiError> {
    let txn = billing_persistence::db::begin_write(&state.db).await?;
    repo::accounts::find(&txn, account)
        .await?
        .ok_or(ApiError::NotFound)?;
    let membership = repo::accounts::upsert_member(
        &txn,
        &Membership {
            account_id: account.clone(),
            user_id: user,
            role,
            created_at: state.clock.now(),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(membership)
}

pub async fn remove_member(
    state: &AppState,
    account: &AccountId,
    user: &UserId,
) -> Result<(), ApiError> {
    let txn = billing_persistence::db::begin_write(&state.db).await?;
    let removed = repo::accounts::remove_member(&txn, account, user).await?;
    if !removed {
        return Err(ApiError::NotFound);
    }
    txn.commit().await?;
    Ok(())
}

pub async fn list_members(
    state: &AppState,
    account: &AccountId,
    page: &PageRequest,
) -> Result<Page<Membership>, ApiError> {
    repo::accounts::find(&state.db, account)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(repo::accounts::list_members(&state.db, account, page).await?)
}

/// The caller's view of one account: the account and its role there. Another account's id, an
/// unknown id, and an account outside the token's limit all answer the same 404.
pub async fn membership_of(
    state: &AppState,
    caller: &User,
    account: &AccountId,
) -> Result<(Account, Role), ApiError> {
    if !token_reaches(caller.account.as_ref(), account) {
        return Err(ApiError::NotFound);
    }
    let membership = repo::accounts::find_member(&state.db, account, &caller.user)
        .await?
        .ok_or(ApiError::NotFound)?;
    let found = repo::accounts::find(&state.db, account)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok((found, membership.role))
}

/// The accounts the caller belongs to (only the token's account when it is limited to one).
pub async fn list_mine(
    state: &AppState,
    caller: &User,
    page: &PageRequest,
) -> Result<Page<(Account, Role)>, ApiError> {
    if let Some(only) = &caller.account {
        let items = match membership_of(state, caller, only).await {
            Ok(found)
                if page
                    .after
                    .as_deref()
                    .is_none_or(|after| only.as_str() > after) =>
            {
                vec![found]
            }
            Ok(_) | Err(ApiError::NotFound) => Vec::new(),
            Err(other) => return Err(other),
        };
        return Ok(Page {
            items,
            has_more: false,
        });
    }
    Ok(repo::accounts::list_for_user(&state.db, &caller.user, page).await?)
}
