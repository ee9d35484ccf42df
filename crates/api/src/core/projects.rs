//! Projects (channels) and their participants.

use billing_domain::access::{project_access, sees_all_projects, ProjectAccess};
use billing_domain::account::{Participant, Project};
use billing_domain::names::{AccountId, ProjectId, ProjectName, UserId};
use billing_persistence::page::{Page, PageRequest};
use billing_persistence::repo;
use billing_persistence::repo::projects::ProjectFilter;
use billing_persistence::ConnectionTrait;
use uuid::Uuid;

use crate::auth::User;
use crate::clock::Clock;
use crate::core::accounts::membership_of;
use crate::error::ApiError;
use crate::state::AppState;

/// Creates a project inside the caller's transaction (see [`crate::core::idempotency::run`]).
pub async fn create<C: ConnectionTrait>(
    db: &C,
    clock: &dyn Clock,
    account: &AccountId,
    name: ProjectName,
) -> Result<Project, ApiError> {
    repo::accounts::find(db, account)
        .await?
        .ok_or(ApiError::NotFound)?;
    let project = Project {
        id: ProjectId::from_uuid(Uuid::now_v7()),
        account_id: account.clone(),
        name,
        created_at: clock.now(),
        closed_at: None,
    };
    repo::projects::insert(db, &project).await?;
    Ok(project)
}

pub async fn get(state: &AppState, id: &ProjectId) -> Result<Project, ApiError> {
    repo::projects::find_any(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound)
}

/// Renames a project and/or closes it. A closed project stays closed: its usage and base fees
/// stop at `closed_at`, which invoices already rely on.
pub async fn update(
    state: &AppState,
    id: &ProjectId,
    name: Option<ProjectName>,
    closed: Option<bool>,
) -> Result<Project, ApiError> {
    let txn = billing_persistence::db::begin_write(&state.db).await?;
    let mut project = repo::projects::find_any(&txn, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if let Some(name) = name {
        project.name = name;
    }
    match (closed, project.closed_at) {
        (Some(true), None) => project.closed_at = Some(state.clock.now()),
        (Some(false), Some(_)) => {
            return Err(ApiError::Conflict {
                kind: "project-closed",
                detail: "a closed project cannot be reopened".into(),
            })
        }
        _ => {}
    }
    repo::projects::update(&txn, &project).await?;
    txn.commit().await?;
    Ok(project)
}

pub async fn list_for_account(
    state: &AppState,
    account: &AccountId,
    page: &PageRequest,
) -> Result<Page<Project>, ApiError> {
    repo::accounts::find(&state.db, account)
        .await?
        .ok_or(ApiError::NotFound)?;
    // Operators see every project; the participation column is irrelevant to them.
    let nobody = UserId::parse("-").map_err(|e| ApiError::Internal(e.to_string()))?;
    let page = repo::projects::list(&state.db, account, &ProjectFilter::All, &nobody, page).await?;
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
) -> Result<Participant, ApiError> {
    let txn = billing_persistence::db::begin_write(&state.db).await?;
    let found = repo::projects::find_any(&txn, project)
        .await?
        .ok_or(ApiError::NotFound)?;
    if repo::accounts::find_member(&txn, &found.account_id, &user)
        .await?
        .is_none()
    {
        return Err(ApiError::Conflict {
            kind: "not-a-member",
            detail: "only members of the project's account can take part in it".into(),
        });
    }
    let participant = repo::projects::upsert_participant(
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
) -> Result<(), ApiError> {
    let txn = billing_persistence::db::begin_write(&state.db).await?;
    if !repo::projects::remove_participant(&txn, project, user).await? {
        return Err(ApiError::NotFound);
    }
    txn.commit().await?;
    Ok(())
}

pub async fn list_participants(
    state: &AppState,
    project: &ProjectId,
    page: &PageRequest,
) -> Result<Page<Participant>, ApiError> {
    repo::projects::find_any(&state.db, project)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(repo::projects::list_participants(&state.db, project, page).await?)
}

/// The projects of an account the caller may see, with what it may see of each.
pub async fn list_mine(
    state: &AppState,
    caller: &User,
    account: &AccountId,
    page: &PageRequest,
) -> Result<Page<(Project, ProjectAccess)>, ApiError> {
    let (_, role) = membership_of(state, caller, account).await?;
    let filter = if sees_all_projects(role) {
        ProjectFilter::All
    } else {
        ProjectFilter::ParticipatingUser(caller.user.clone())
    };
    let page = repo::projects::list(&state.db, account, &filter, &caller.user, page).await?;
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
    caller: &User,
    account: &AccountId,
    project: &ProjectId,
) -> Result<(Project, ProjectAccess), ApiError> {
    let (_, role) = membership_of(state, caller, account).await?;
    let found = repo::projects::find(&state.db, account, project)
        .await?
        .ok_or(ApiError::NotFound)?;
    let participation = repo::projects::find_participant(&state.db, project, &caller.user)
        .await?
        .map(|p| billing_domain::access::Participation {
            billing_permission: p.billing_permission,
        });
    let access = project_access(role, participation);
    if !access.view {
        return Err(ApiError::NotFound);
    }
    Ok((found, access))
}
