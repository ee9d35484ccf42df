//! The account's card (SPEC 7): registered by the gateway's token, of which only the brand,
//! the last four digits and the expiry are kept. One default card per account: registering
//! another replaces it.

use billing_domain::names::{AccountId, PaymentMethodId};
use billing_domain::payments::Card;
use billing_persistence::db::begin_write;
use billing_persistence::repo;
use billing_persistence::repo::accounts::AccountLock;

use crate::accounts::{billing_reader, Reader};
use crate::error::{AppError, ConflictKind};
use crate::events::Occurred;
use crate::payments::gateway::GatewayError;
use crate::state::AppState;

/// The account's card, if it has one.
pub async fn show(
    state: &AppState,
    reader: &Reader,
    account_id: &AccountId,
) -> Result<Option<Card>, AppError> {
    let account = billing_reader(state, reader, account_id).await?;
    Ok(repo::payments::card(&state.db, &account.id).await?)
}

/// Registers the card behind `token` as the account's card, replacing the one before.
pub async fn register(
    state: &AppState,
    reader: &Reader,
    account_id: &AccountId,
    token: &str,
) -> Result<Card, AppError> {
    let account = billing_reader(state, reader, account_id).await?;
    let details = state.gateway.register(token).await.map_err(|e| match e {
        GatewayError::UnknownToken => AppError::conflict(
            ConflictKind::UnknownCardToken,
            "the payment gateway knows no such card token",
        ),
        GatewayError::Unreachable(why) => AppError::Internal(format!("gateway: {why}")),
    })?;
    let card = Card {
        id: PaymentMethodId::from_uuid(uuid::Uuid::now_v7()),
        account: account.id.clone(),
        token: token.to_owned(),
        brand: details.brand,
        last4: details.last4,
        exp_month: details.exp_month,
        exp_year: details.exp_year,
        created_at: state.clock.now(),
    };
    let txn = begin_write(&state.db).await?;
    let account = repo::accounts::find_locked(&txn, &account.id, AccountLock::Update)
        .await?
        .ok_or(AppError::NotFound)?;
    repo::payments::replace_card(&txn, &card).await?;
    let updated = Occurred::PaymentMethodUpdated(&card);
    crate::events::record(&state.events, &txn, &[(&account, updated)], card.created_at).await?;
    txn.commit().await?;
    Ok(card)
}

/// Removes the account's card: 404 when it has none.
pub async fn remove(
    state: &AppState,
    reader: &Reader,
    account_id: &AccountId,
) -> Result<(), AppError> {
    let account = billing_reader(state, reader, account_id).await?;
    let now = state.clock.now();
    let txn = begin_write(&state.db).await?;
    let account = repo::accounts::find_locked(&txn, &account.id, AccountLock::Update)
        .await?
        .ok_or(AppError::NotFound)?;
    let Some(card) = repo::payments::card(&txn, &account.id).await? else {
        return Err(AppError::NotFound);
    };
    repo::payments::remove_card(&txn, &account.id, now).await?;
    let removed = Occurred::PaymentMethodRemoved(&card);
    crate::events::record(&state.events, &txn, &[(&account, removed)], now).await?;
    txn.commit().await?;
    Ok(())
}
