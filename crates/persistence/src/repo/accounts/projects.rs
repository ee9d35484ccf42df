//! Projects (channels) and the users taking part in them.

use std::collections::HashMap;

use billing_domain::accounts::access::Participation;
use billing_domain::accounts::access::Role;
use billing_domain::accounts::{Participant, Project};
use billing_domain::catalog::PlanAssignment;
use billing_domain::names::{AccountId, ProjectId, ProjectName, UserId};
use sea_orm::sea_query::{Alias, Condition, Expr, LikeExpr, OnConflict, Query, SelectStatement};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait,
};

use crate::entities::{project_participants as pp, projects};
use crate::error::PersistenceError;
use crate::repo::catalog::{assignment_of_row, in_time_order};
use crate::repo::utc;
use billing_domain::page::{Page, PageRequest};

fn to_domain(row: projects::Model) -> Result<Project, PersistenceError> {
    let bad = PersistenceError::corrupt("projects", &row.id);
    Ok(Project {
        id: ProjectId::parse(&row.id).map_err(&bad)?,
        account_id: AccountId::parse(&row.account_id).map_err(&bad)?,
        name: ProjectName::parse(&row.name).map_err(&bad)?,
        created_at: row.created_at,
        closed_at: row.closed_at,
    })
}

fn to_row(project: &Project) -> projects::ActiveModel {
    projects::ActiveModel {
        id: Set(project.id.to_string()),
        account_id: Set(project.account_id.to_string()),
        name: Set(project.name.to_string()),
        name_key: Set(project.name.search_key()),
        created_at: Set(utc(project.created_at)),
        closed_at: Set(project.closed_at.map(utc)),
    }
}

pub async fn insert<C: ConnectionTrait>(db: &C, project: &Project) -> Result<(), PersistenceError> {
    projects::Entity::insert(to_row(project))
        .exec_without_returning(db)
        .await?;
    Ok(())
}

pub async fn update<C: ConnectionTrait>(db: &C, project: &Project) -> Result<(), PersistenceError> {
    projects::Entity::update(to_row(project)).exec(db).await?;
    Ok(())
}

/// A project of one account; a project of another account is not found.
pub async fn find<C: ConnectionTrait>(
    db: &C,
    account: &AccountId,
    id: &ProjectId,
) -> Result<Option<Project>, PersistenceError> {
    projects::Entity::find_by_id(id.as_str())
        .filter(projects::Column::AccountId.eq(account.as_str()))
        .one(db)
        .await?
        .map(to_domain)
        .transpose()
}

/// A project by id alone, for operators.
pub async fn find_any<C: ConnectionTrait>(
    db: &C,
    id: &ProjectId,
) -> Result<Option<Project>, PersistenceError> {
    projects::Entity::find_by_id(id.as_str())
        .one(db)
        .await?
        .map(to_domain)
        .transpose()
}

/// Every project of `account`, closed ones included, by id: what an invoice of the whole
/// account charges.
pub async fn all_of<C: ConnectionTrait>(
    db: &C,
    account: &AccountId,
) -> Result<Vec<Project>, PersistenceError> {
    use sea_orm::QueryOrder;
    projects::Entity::find()
        .filter(projects::Column::AccountId.eq(account.as_str()))
        .order_by_asc(projects::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(to_domain)
        .collect()
}

/// Every project of these accounts, closed ones included, by account (a billing run's page).
pub async fn all_of_accounts<C: ConnectionTrait>(
    db: &C,
    accounts: &[&AccountId],
) -> Result<HashMap<AccountId, Vec<Project>>, PersistenceError> {
    use sea_orm::QueryOrder;
    let mut by_account: HashMap<AccountId, Vec<Project>> = HashMap::new();
    if accounts.is_empty() {
        return Ok(by_account);
    }
    let rows = projects::Entity::find()
        .filter(projects::Column::AccountId.is_in(accounts.iter().map(|a| a.as_str())))
        .order_by_asc(projects::Column::Id)
        .all(db)
        .await?;
    for row in rows {
        let project = to_domain(row)?;
        by_account
            .entry(project.account_id.clone())
            .or_default()
            .push(project);
    }
    Ok(by_account)
}

/// The projects of `account` among `ids`, each with when it closed (if it did).
pub async fn find_many<C: ConnectionTrait>(
    db: &C,
    account: &AccountId,
    ids: &[&ProjectId],
) -> Result<HashMap<ProjectId, Option<time::OffsetDateTime>>, PersistenceError> {
    let wanted: Vec<&str> = ids.iter().map(|p| p.as_str()).collect();
    projects::Entity::find()
        .filter(projects::Column::AccountId.eq(account.as_str()))
        .filter(projects::Column::Id.is_in(wanted))
        .all(db)
        .await?
        .into_iter()
        .map(|row| {
            let id = ProjectId::parse(&row.id)
                .map_err(PersistenceError::corrupt("projects", &row.id))?;
            Ok((id, row.closed_at))
        })
        .collect()
}

/// Which projects of an account to list.
#[derive(Clone, Debug)]
pub enum ProjectFilter {
    All,
    /// Only the projects this user takes part in.
    ParticipatingUser(UserId),
}

/// Which projects of an account a read lists.
pub struct ProjectQuery<'a> {
    pub account: &'a AccountId,
    pub filter: &'a ProjectFilter,
    /// The user whose participation comes with each project (column `participation`).
    pub participation_of: Option<&'a UserId>,
    /// Only projects whose name contains this, ignoring case.
    pub name_contains: Option<&'a str>,
}

/// A page of projects as one statement (by id, one more than the page to tell whether another
/// follows): the `projects` columns, and `participation` when the query names a user.
pub(crate) fn page_statement(q: &ProjectQuery<'_>, page: &PageRequest) -> SelectStatement {
    let mut query = projects::Entity::find()
        .filter(projects::Column::AccountId.eq(q.account.as_str()))
        .order_by_asc(projects::Column::Id);
    if let Some(text) = q.name_contains {
        // Folded like the stored key; `%`, `_` and `\` match themselves.
        let folded = billing_domain::names::search_key(text);
        let escaped = folded
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        query = query.filter(
            projects::Column::NameKey.like(LikeExpr::new(format!("%{escaped}%")).escape('\\')),
        );
    }
    if let ProjectFilter::ParticipatingUser(user) = q.filter {
        query = query.filter(
            projects::Column::Id.in_subquery(
                Query::select()
                    .column(pp::Column::ProjectId)
                    .from(pp::Entity)
                    .and_where(pp::Column::UserId.eq(user.as_str()))
                    .to_owned(),
            ),
        );
    }
    if let Some(after) = &page.after {
        query = query.filter(projects::Column::Id.gt(after.as_str()));
    }
    // The user's participation comes with each row: a LEFT JOIN on its row.
    let mut select = query.limit(page.limit + 1).into_query();
    if let Some(user) = q.participation_of {
        select
            .left_join(
                pp::Entity,
                Condition::all()
                    .add(
                        Expr::col((pp::Entity, pp::Column::ProjectId))
                            .equals((projects::Entity, projects::Column::Id)),
                    )
                    .add(Expr::col((pp::Entity, pp::Column::UserId)).eq(user.as_str())),
            )
            .expr_as(
                Expr::col((pp::Entity, pp::Column::BillingPermission)),
                Alias::new("participation"),
            );
    }
    select
}

/// A project and the participation of [`page_statement`]'s row.
pub(crate) fn project_of_row(
    row: &sea_orm::QueryResult,
    with_participation: bool,
) -> Result<(Project, Option<Participation>), PersistenceError> {
    let participation: Option<bool> = if with_participation {
        row.try_get("", "participation")?
    } else {
        None
    };
    let project = to_domain(projects::Model::from_query_result(row, "")?)?;
    let participation =
        participation.map(|billing_permission| Participation { billing_permission });
    Ok((project, participation))
}

/// Projects of an account, each with the given user's participation (if any).
pub async fn list<C: ConnectionTrait>(
    db: &C,
    account: &AccountId,
    filter: &ProjectFilter,
    participation_of: Option<&UserId>,
    name_contains: Option<&str>,
    page: &PageRequest,
) -> Result<Page<(Project, Option<Participation>)>, PersistenceError> {
    let query = ProjectQuery {
        account,
        filter,
        participation_of,
        name_contains,
    };
    let select = page_statement(&query, page);
    let rows = db
        .query_all(db.get_database_backend().build(&select))
        .await?
        .iter()
        .map(|row| project_of_row(row, participation_of.is_some()))
        .collect::<Result<Vec<_>, PersistenceError>>()?;
    Ok(Page::from_overfetch(rows, page.limit))
}

/// A project of [`list_with_plans`]: the reader's participation and the project's plan
/// history, oldest first.
pub type ProjectWithPlans = (Project, Option<Participation>, Vec<PlanAssignment>);

/// [`list`] with each project's plan history, in one statement: the page of projects joined
/// with its plan changes (and their plans' codes), so that a read which rates projects gets
/// both in one round trip.
pub async fn list_with_plans<C: ConnectionTrait>(
    db: &C,
    account: &AccountId,
    filter: &ProjectFilter,
    participation_of: Option<&UserId>,
    page: &PageRequest,
) -> Result<Page<ProjectWithPlans>, PersistenceError> {
    let select = with_plans_statement(account, filter, participation_of, page);
    let rows = db
        .query_all(db.get_database_backend().build(&select))
        .await?;
    with_plans_of_rows(&rows, participation_of.is_some(), page)
}

/// The statement of [`list_with_plans`]: one row per project and plan change (a project never
/// assigned a plan has one row, with NULL `assignment_*` columns), ordered by project.
fn with_plans_statement(
    account: &AccountId,
    filter: &ProjectFilter,
    participation_of: Option<&UserId>,
    page: &PageRequest,
) -> SelectStatement {
    use sea_orm::sea_query::{Asterisk, JoinType, Order};
    let query = ProjectQuery {
        account,
        filter,
        participation_of,
        name_contains: None,
    };
    let a = |name: &str| Alias::new(name);
    Query::select()
        .column((a("p"), Asterisk))
        .expr_as(Expr::col((a("pl"), a("id"))), a("assignment_id"))
        .expr_as(
            Expr::col((a("pl"), a("effective_from"))),
            a("assignment_from"),
        )
        .expr_as(Expr::col((a("plan"), a("code"))), a("assignment_plan"))
        .from_subquery(page_statement(&query, page), a("p"))
        .join_as(
            JoinType::LeftJoin,
            a("project_plans"),
            a("pl"),
            Expr::col((a("pl"), a("project_id"))).equals((a("p"), a("id"))),
        )
        .join_as(
            JoinType::LeftJoin,
            a("plans"),
            a("plan"),
            Expr::col((a("plan"), a("id"))).equals((a("pl"), a("plan_id"))),
        )
        .order_by((a("p"), a("id")), Order::Asc)
        .to_owned()
}

/// The page of [`with_plans_statement`]'s rows; rows without a project (`id` NULL: an account
/// with none, read by [`with_projects`]) are skipped.
fn with_plans_of_rows(
    rows: &[sea_orm::QueryResult],
    participation: bool,
    page: &PageRequest,
) -> Result<Page<ProjectWithPlans>, PersistenceError> {
    let mut found: Vec<ProjectWithPlans> = Vec::new();
    for row in rows {
        if row.try_get::<Option<String>>("", "id")?.is_none() {
            continue;
        }
        let (project, participation) = project_of_row(row, participation)?;
        if found.last().is_none_or(|last| last.0.id != project.id) {
            found.push((project, participation, Vec::new()));
        }
        let assignment: Option<String> = row.try_get("", "assignment_id")?;
        if let (Some(id), Some(last)) = (assignment, found.last_mut()) {
            let project = last.0.id.clone();
            let change =
                assignment_of_row(row, project, &id, "assignment_plan", "assignment_from")?;
            last.2.push(change);
        }
    }
    for (_, _, history) in &mut found {
        in_time_order(history);
    }
    Ok(Page::from_overfetch(found, page.limit))
}

/// An account, the role of `member` in it (`None` for no member: an operator's read) and a
/// page of its projects with their plan histories ([`list_with_plans`]), in one statement
/// ([`super::with_rows`]): the first round of every read that rates projects. `None` when the
/// account does not exist, or `member` is no member of it.
pub async fn with_projects<C: ConnectionTrait>(
    db: &C,
    account: &AccountId,
    member: Option<&UserId>,
    filter: &ProjectFilter,
    page: &PageRequest,
) -> Result<
    Option<(
        billing_domain::accounts::Account,
        Option<Role>,
        Page<ProjectWithPlans>,
    )>,
    PersistenceError,
> {
    let inner = with_plans_statement(account, filter, member, page);
    let Some((found, role, rows)) = super::with_rows(db, account, member, inner, &["id"]).await?
    else {
        return Ok(None);
    };
    let projects = with_plans_of_rows(&rows, member.is_some(), page)?;
    Ok(Some((found, role, projects)))
}

fn participant_to_domain(row: pp::Model) -> Result<Participant, PersistenceError> {
    let bad = PersistenceError::corrupt("project_participants", &row.project_id);
    Ok(Participant {
        project_id: ProjectId::parse(&row.project_id).map_err(&bad)?,
        user_id: UserId::parse(&row.user_id).map_err(&bad)?,
        billing_permission: row.billing_permission,
        created_at: row.created_at,
    })
}

/// Adds a participant or changes its billing permission; the first `created_at` is kept.
pub async fn upsert_participant<C: ConnectionTrait>(
    db: &C,
    participant: &Participant,
) -> Result<Participant, PersistenceError> {
    let row = pp::ActiveModel {
        project_id: Set(participant.project_id.to_string()),
        user_id: Set(participant.user_id.to_string()),
        billing_permission: Set(participant.billing_permission),
        created_at: Set(utc(participant.created_at)),
    };
    pp::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([pp::Column::ProjectId, pp::Column::UserId])
                .update_column(pp::Column::BillingPermission)
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    find_participant(db, &participant.project_id, &participant.user_id)
        .await?
        .ok_or_else(|| PersistenceError::Db(sea_orm::DbErr::RecordNotFound("participant".into())))
}

pub async fn find_participant<C: ConnectionTrait>(
    db: &C,
    project: &ProjectId,
    user: &UserId,
) -> Result<Option<Participant>, PersistenceError> {
    pp::Entity::find_by_id((project.to_string(), user.to_string()))
        .one(db)
        .await?
        .map(participant_to_domain)
        .transpose()
}

pub async fn remove_participant<C: ConnectionTrait>(
    db: &C,
    project: &ProjectId,
    user: &UserId,
) -> Result<bool, PersistenceError> {
    let result = pp::Entity::delete_by_id((project.to_string(), user.to_string()))
        .exec(db)
        .await?;
    Ok(result.rows_affected > 0)
}

pub async fn list_participants<C: ConnectionTrait>(
    db: &C,
    project: &ProjectId,
    page: &PageRequest,
) -> Result<Page<Participant>, PersistenceError> {
    let mut query = pp::Entity::find()
        .filter(pp::Column::ProjectId.eq(project.as_str()))
        .order_by_asc(pp::Column::UserId);
    if let Some(after) = &page.after {
        query = query.filter(pp::Column::UserId.gt(after.as_str()));
    }
    let rows = query.limit(page.limit + 1).all(db).await?;
    Page::from_overfetch(rows, page.limit).try_map(participant_to_domain)
}

/// Removes a user from every project of an account (when it leaves the account).
pub(crate) async fn remove_user_from_account_projects<C: ConnectionTrait>(
    db: &C,
    account: &AccountId,
    user: &UserId,
) -> Result<(), PersistenceError> {
    pp::Entity::delete_many()
        .filter(pp::Column::UserId.eq(user.as_str()))
        .filter(
            pp::Column::ProjectId.in_subquery(
                Query::select()
                    .column(projects::Column::Id)
                    .from(projects::Entity)
                    .and_where(projects::Column::AccountId.eq(account.as_str()))
                    .to_owned(),
            ),
        )
        .exec(db)
        .await?;
    Ok(())
}
