//! Accounts and access: accounts, their members and roles, their projects and participants
//! ([`projects`]), and who may see what.

pub mod projects;

use billing_domain::accounts::access::{token_reaches, Role};
use billing_domain::accounts::{Account, AccountChanges, Membership, NewAccount};
use billing_domain::names::{AccountId, UserId};
use billing_domain::page::{Page, PageRequest};
use billing_domain::DomainError;
use billing_persistence::repo;
use billing_persistence::repo::accounts::projects::ProjectFilter;
use billing_persistence::repo::accounts::AccountLock;
use billing_persistence::DatabaseTransaction;
use uuid::Uuid;

use crate::clock::Clock;
use crate::error::{AppError, ConflictKind};
use crate::idempotency::{self, Answer, Done, Idempotent};
use crate::state::AppState;

/// A console user: the `sub` of its token, and the one account the token is limited to, if any.
pub struct User {
    pub user: UserId,
    pub account: Option<AccountId>,
}

/// Who reads a customer view (`/v1/accounts/...`): a console user, or an operator (the
/// provider's support staff), who sees any account as its `billing_admin` would.
pub enum Reader {
    User(User),
    Operator,
}

impl Reader {
    /// Which projects of an account this reader sees with `role` there: owners, billing admins
    /// and operators every one; members those they take part in.
    pub fn project_filter(&self, role: Role) -> ProjectFilter {
        match self.user() {
            Some(user) if !billing_domain::accounts::access::sees_all_projects(role) => {
                ProjectFilter::ParticipatingUser(user.clone())
            }
            _ => ProjectFilter::All,
        }
    }

    /// The user whose participation in projects counts, if the reader is one.
    pub fn user(&self) -> Option<&UserId> {
        match self {
            Reader::User(user) => Some(&user.user),
            Reader::Operator => None,
        }
    }
}

/// Opens an account; idempotent per key.
pub async fn open(
    state: &AppState,
    request: Idempotent,
    new: NewAccount,
    render: impl FnOnce(&Account) -> Result<Answer, AppError>,
) -> Result<Done<Account>, AppError> {
    let clock = state.clock.clone();
    idempotency::run(
        state,
        request,
        move |txn| Box::pin(insert(txn, clock, new)),
        render,
    )
    .await
}

async fn insert(
    txn: &DatabaseTransaction,
    clock: std::sync::Arc<dyn Clock>,
    new: NewAccount,
) -> Result<Account, AppError> {
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
    repo::accounts::insert(txn, &account).await?;
    Ok(account)
}

/// Sets (or with `None` removes) the account's billing email, where each finalized invoice is
/// mailed: the owner's or a billing admin's decision (an operator's too, as support).
pub async fn set_billing_email(
    state: &AppState,
    reader: &Reader,
    id: &AccountId,
    email: Option<&str>,
) -> Result<(Account, Role), AppError> {
    let (_, role) = membership_of(state, reader, id).await?;
    if !role.manages_billing() {
        return Err(AppError::Forbidden);
    }
    let email = email
        .map(billing_domain::names::EmailAddress::parse)
        .transpose()
        .map_err(|e| AppError::Validation(vec![crate::FieldError::domain("billing_email", &e)]))?;
    let changes = AccountChanges {
        billing_email: Some(email),
        ..AccountChanges::default()
    };
    Ok((update(state, id, changes).await?, role))
}

pub async fn get(state: &AppState, id: &AccountId) -> Result<Account, AppError> {
    repo::accounts::find(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)
}

pub async fn update(
    state: &AppState,
    id: &AccountId,
    changes: AccountChanges,
) -> Result<Account, AppError> {
    let txn = billing_persistence::db::begin_write(&state.db).await?;
    // Locked against ingestion, which holds a share of the row while it buckets usage in the
    // offset: the check below sees every batch that read the old offset.
    let mut account = repo::accounts::find_locked(&txn, id, AccountLock::Update)
        .await?
        .ok_or(AppError::NotFound)?;
    let has_usage = match changes.billing_offset {
        Some(_) => repo::usage::has_usage(&txn, id).await?,
        None => false,
    };
    account
        .apply(changes, state.clock.now(), has_usage)
        .map_err(|e| match e {
            DomainError::BillingOffsetLocked => {
                AppError::conflict(ConflictKind::BillingOffsetLocked, e.to_string())
            }
            other => AppError::Internal(other.to_string()),
        })?;
    repo::accounts::update(&txn, &account).await?;
    txn.commit().await?;
    Ok(account)
}

pub async fn list(state: &AppState, page: &PageRequest) -> Result<Page<Account>, AppError> {
    Ok(repo::accounts::list(&state.db, page).await?)
}

pub async fn set_member(
    state: &AppState,
    account: &AccountId,
    user: UserId,
    role: Role,
) -> Result<Membership, AppError> {
    let txn = billing_persistence::db::begin_write(&state.db).await?;
    repo::accounts::find(&txn, account)
        .await?
        .ok_or(AppError::NotFound)?;
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
) -> Result<(), AppError> {
    let txn = billing_persistence::db::begin_write(&state.db).await?;
    let removed = repo::accounts::remove_member(&txn, account, user).await?;
    if !removed {
        return Err(AppError::NotFound);
    }
    txn.commit().await?;
    Ok(())
}

pub async fn list_members(
    state: &AppState,
    account: &AccountId,
    page: &PageRequest,
) -> Result<Page<Membership>, AppError> {
    repo::accounts::find(&state.db, account)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(repo::accounts::list_members(&state.db, account, page).await?)
}

/// The reader's view of one account: the account and the role it reads it with. Another
/// account's id, an unknown id, and an account outside the token's limit all answer the same
/// 404. An operator reads any account as its billing admin.
pub async fn membership_of(
    state: &AppState,
    reader: &Reader,
    account: &AccountId,
) -> Result<(Account, Role), AppError> {
    match member_reading(reader, account)? {
        None => {
            let found = repo::accounts::find(&state.db, account)
                .await?
                .ok_or(AppError::NotFound)?;
            Ok((found, Role::BillingAdmin))
        }
        Some(user) => repo::accounts::find_with_role(&state.db, account, user)
            .await?
            .ok_or(AppError::NotFound),
    }
}

/// The user whose membership decides what `reader` sees of `account`, for a read that looks
/// it up together with other data: `None` for an operator, who reads any account as its
/// billing admin ([`role_read`]). A token limited to another account answers 404 at once.
pub fn member_reading<'r>(
    reader: &'r Reader,
    account: &AccountId,
) -> Result<Option<&'r UserId>, AppError> {
    match reader {
        Reader::Operator => Ok(None),
        Reader::User(caller) if token_reaches(caller.account.as_ref(), account) => {
            Ok(Some(&caller.user))
        }
        Reader::User(_) => Err(AppError::NotFound),
    }
}

/// The role a read found for [`member_reading`]'s user: an operator's (no member) is billing
/// admin.
pub fn role_read(found: Option<Role>) -> Role {
    found.unwrap_or(Role::BillingAdmin)
}

/// The account, for a reader of its billing data (invoices, payments, the balance): the owner
/// or a billing admin (an operator reads as one); a member gets 403.
pub async fn billing_reader(
    state: &AppState,
    reader: &Reader,
    account_id: &AccountId,
) -> Result<Account, AppError> {
    let (account, role) = membership_of(state, reader, account_id).await?;
    if !role.manages_billing() {
        return Err(AppError::Forbidden);
    }
    Ok(account)
}

/// The accounts the reader belongs to (only the token's account when it is limited to one);
/// for an operator, every account.
pub async fn list_mine(
    state: &AppState,
    reader: &Reader,
    page: &PageRequest,
) -> Result<Page<(Account, Role)>, AppError> {
    let caller = match reader {
        Reader::User(caller) => caller,
        Reader::Operator => {
            let accounts = repo::accounts::list(&state.db, page).await?;
            return Ok(Page {
                items: accounts
                    .items
                    .into_iter()
                    .map(|a| (a, Role::BillingAdmin))
                    .collect(),
                has_more: accounts.has_more,
            });
        }
    };
    if let Some(only) = &caller.account {
        let items = match membership_of(state, reader, only).await {
            Ok(found)
                if page
                    .after
                    .as_deref()
                    .is_none_or(|after| only.as_str() > after) =>
            {
                vec![found]
            }
            Ok(_) | Err(AppError::NotFound) => Vec::new(),
            Err(other) => return Err(other),
        };
        return Ok(Page {
            items,
            has_more: false,
        });
    }
    Ok(repo::accounts::list_for_user(&state.db, &caller.user, page).await?)
}
