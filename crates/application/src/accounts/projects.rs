//! Projects (channels) and their participants.

use billing_domain::accounts::access::{project_access, ProjectAccess};
use billing_domain::accounts::{Participant, Project};
use billing_domain::names::{AccountId, ProjectId, ProjectName, UserId};
use billing_domain::page::{Page, PageRequest};
use billing_persistence::repo;
use billing_persistence::repo::accounts::projects::ProjectFilter;
use billing_persistence::DatabaseTransaction;
use uuid::Uuid;

use super::{membership_of, Reader};
use crate::clock::Clock;
use crate::error::{AppError, ConflictKind};
use crate::idempotency::{self, Answer, Done, Idempotent};
use crate::state::AppState;

/// Creates a project of an account; idempotent per key.
pub async fn create(
    state: &AppState,
    request: Idempotent,
    account: AccountId,
    name: ProjectName,
    render: impl FnOnce(&Project) -> Result<Answer, AppError>,
) -> Result<Done<Project>, AppError> {
    let clock = state.clock.clone();
    idempotency::run(
        state,
        request,
        move |txn| Box::pin(insert(txn, clock, account, name)),
        render,
    )
    .await
}

async fn insert(
    txn: &DatabaseTransaction,
    clock: std::sync::Arc<dyn Clock>,
    account: AccountId,
    name: ProjectName,
) -> Result<Project, AppError> {
    repo::accounts::find(txn, &account)
        .await?
        .ok_or(AppError::NotFound)?;
    let project = Project {
        id: ProjectId::from_uuid(Uuid::now_v7()),
        account_id: account,
        name,
        created_at: clock.now(),
        closed_at: None,
    };
    repo::accounts::projects::insert(txn, &project).await?;
    Ok(project)
}

pub async fn get(state: &AppState, id: &ProjectId) -> Result<Project, AppError> {
    repo::accounts::projects::find_any(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)
}

/// Renames a project and/or closes it. A closed project stays closed: its usage and base fees
/// stop at `closed_at`, which invoices already rely on.
pub async fn update(
    state: &AppState,
    id: &ProjectId,
    name: Option<ProjectName>,
    closed: Option<bool>,
) -> Result<Project, AppError> {
    let txn = billing_persistence::db::begin_write(&state.db).await?;
    let mut project = repo::accounts::projects::find_any(&txn, id)
        .await?
        .ok_or(AppError::NotFound)?;
    if let Some(name) = name {
        project.name = name;
    }
    match (closed, project.closed_at) {
        (Some(true), None) => project.closed_at = Some(state.clock.now()),
        (Some(false), Some(_)) => {
            return Err(AppError::conflict(
                ConflictKind::ProjectClosed,
                "a closed project cannot be reopened",
            ))
        }
        _ => {}
    }
    repo::accounts::projects::update(&txn, &project).await?;
    txn.commit().await?;
    Ok(project)
}

pub async fn list_for_account(
    state: &AppState,
    account: &AccountId,
    page: &PageRequest,
) -> Result<Page<Project>, AppError> {
    repo::accounts::find(&state.db, account)
        .await?
        .ok_or(AppError::NotFound)?;
    // Operators see every project; the participation column is irrelevant to them.
    let page =
        repo::accounts::projects::list(&state.db, account, &ProjectFilter::All, None, None, page)
            .await?;
    Ok(Page {
        items: page.items.into_iter().map(|(p, _)| p).collect(),
        has_more: page.has_more,
    })
}

/// Adds a member of the project's account to the project, or changes its billing permission.
pub async fn set_participant(
    state: &AppState,
    project: &ProjectId,
    user: UserId,
    billing_permission: bool,
) -> Result<Participant, AppError> {
    let txn = billing_persistence::db::begin_write(&state.db).await?;
    let found = repo::accounts::projects::find_any(&txn, project)
        .await?
        .ok_or(AppError::NotFound)?;
    // The membership stays locked until the participation is stored: a concurrent removal of
    // the member waits, then removes the participation too.
    if repo::accounts::find_member_locked(&txn, &found.account_id, &user)
        .await?
        .is_none()
    {
        return Err(AppError::conflict(
            ConflictKind::NotAMember,
            "only members of the project's account can take part in it",
        ));
    }
    let participant = repo::accounts::projects::upsert_participant(
        &txn,
        &Participant {
            project_id: project.clone(),
            user_id: user,
            billing_permission,
            created_at: state.clock.now(),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(participant)
}

pub async fn remove_participant(
    state: &AppState,
    project: &ProjectId,
    user: &UserId,
) -> Result<(), AppError> {
    let txn = billing_persistence::db::begin_write(&state.db).await?;
    if !repo::accounts::projects::remove_participant(&txn, project, user).await? {
        return Err(AppError::NotFound);
    }
    txn.commit().await?;
    Ok(())
}

pub async fn list_participants(
    state: &AppState,
    project: &ProjectId,
    page: &PageRequest,
) -> Result<Page<Participant>, AppError> {
    repo::accounts::projects::find_any(&state.db, project)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(repo::accounts::projects::list_participants(&state.db, project, page).await?)
}

/// The projects of an account the caller may see, with what it may see of each; `search`
/// keeps those whose name contains it, ignoring case.
pub async fn list_mine(
    state: &AppState,
    reader: &Reader,
    account: &AccountId,
    search: Option<&str>,
    page: &PageRequest,
) -> Result<Page<(Project, ProjectAccess)>, AppError> {
    let (_, role) = membership_of(state, reader, account).await?;
    let filter = reader.project_filter(role);
    let page =
        repo::accounts::projects::list(&state.db, account, &filter, reader.user(), search, page)
            .await?;
    Ok(Page {
        items: page
            .items
            .into_iter()
            .map(|(project, participation)| {
                let access = project_access(role, participation);
                (project, access)
            })
            .filter(|(_, access)| access.view)
            .collect(),
        has_more: page.has_more,
    })
}

pub async fn get_mine(
    state: &AppState,
    reader: &Reader,
    account: &AccountId,
    project: &ProjectId,
) -> Result<(Project, ProjectAccess), AppError> {
    let (_, role) = membership_of(state, reader, account).await?;
    let found = repo::accounts::projects::find(&state.db, account, project)
        .await?
        .ok_or(AppError::NotFound)?;
    let participation = match reader.user() {
        Some(user) => repo::accounts::projects::find_participant(&state.db, project, user)
            .await?
            .map(|p| billing_domain::accounts::access::Participation {
                billing_permission: p.billing_permission,
            }),
        None => None,
    };
    let access = project_access(role, participation);
    if !access.view {
        return Err(AppError::NotFound);
    }
    Ok((found, access))
}
