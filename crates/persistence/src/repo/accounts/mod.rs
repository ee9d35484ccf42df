//! Accounts and their members.

pub mod projects;

use billing_domain::accounts::access::Role;
use billing_domain::accounts::{Account, Membership};
use billing_domain::money::{Currency, TaxRate};
use billing_domain::names::{AccountId, AccountName, EmailAddress, UserId};
use billing_domain::period::BillingOffset;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use super::utc;
use crate::entities::{account_members, accounts};
use crate::error::PersistenceError;
use billing_domain::page::{Page, PageRequest};

fn to_domain(row: accounts::Model) -> Result<Account, PersistenceError> {
    let bad = PersistenceError::corrupt("accounts", &row.id);
    Ok(Account {
        id: AccountId::parse(&row.id).map_err(&bad)?,
        name: AccountName::parse(&row.name).map_err(&bad)?,
        currency: Currency::parse(&row.currency).map_err(&bad)?,
        billing_offset: BillingOffset::from_minutes(row.billing_offset_minutes).map_err(&bad)?,
        tax_rate: TaxRate::parse(&row.tax_rate).map_err(&bad)?,
        billing_email: row
            .billing_email
            .as_deref()
            .map(EmailAddress::parse)
            .transpose()
            .map_err(&bad)?,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

fn to_row(account: &Account) -> accounts::ActiveModel {
    accounts::ActiveModel {
        id: Set(account.id.to_string()),
        name: Set(account.name.to_string()),
        currency: Set(account.currency.code().to_owned()),
        billing_offset_minutes: Set(account.billing_offset.whole_minutes()),
        tax_rate: Set(account.tax_rate.to_string()),
        billing_email: Set(account
            .billing_email
            .as_ref()
            .map(|e| e.as_str().to_owned())),
        created_at: Set(utc(account.created_at)),
        updated_at: Set(utc(account.updated_at)),
    }
}

pub async fn insert<C: ConnectionTrait>(db: &C, account: &Account) -> Result<(), PersistenceError> {
    accounts::Entity::insert(to_row(account))
        .exec_without_returning(db)
        .await?;
    Ok(())
}

pub async fn update<C: ConnectionTrait>(db: &C, account: &Account) -> Result<(), PersistenceError> {
    accounts::Entity::update(to_row(account)).exec(db).await?;
    Ok(())
}

pub async fn find<C: ConnectionTrait>(
    db: &C,
    id: &AccountId,
) -> Result<Option<Account>, PersistenceError> {
    accounts::Entity::find_by_id(id.as_str())
        .one(db)
        .await?
        .map(to_domain)
        .transpose()
}

/// How [`find_locked`] locks the account's row on PostgreSQL (SQLite runs one writer at a time,
/// which serializes as much).
#[derive(Clone, Copy, Debug)]
pub enum AccountLock {
    /// For a change of the account itself: waits for every transaction holding a share.
    Update,
    /// For writes that depend on the account's settings (ingestion depends on its offset): many
    /// may hold it at once; an `Update` waits for them, and they for it.
    Share,
}

/// An account, its row locked until the transaction ends.
pub async fn find_locked<C: ConnectionTrait>(
    db: &C,
    id: &AccountId,
    lock: AccountLock,
) -> Result<Option<Account>, PersistenceError> {
    Ok(find_all_locked(db, &[id], lock).await?.pop())
}

/// These accounts, their rows locked until the transaction ends, in id order: locks taken in
/// one order by everyone who takes several never wait on each other in a circle. Ids with no
/// account are left out.
pub async fn find_all_locked<C: ConnectionTrait>(
    db: &C,
    ids: &[&AccountId],
    lock: AccountLock,
) -> Result<Vec<Account>, PersistenceError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut select = accounts::Entity::find()
        .filter(accounts::Column::Id.is_in(ids.iter().map(|id| id.as_str())))
        .order_by_asc(accounts::Column::Id);
    if db.get_database_backend() == sea_orm::DbBackend::Postgres {
        select = select.lock(match lock {
            AccountLock::Update => sea_orm::sea_query::LockType::Update,
            AccountLock::Share => sea_orm::sea_query::LockType::KeyShare,
        });
    }
    select.all(db).await?.into_iter().map(to_domain).collect()
}

/// An account with a user's role in it, in one query: what every customer read starts with.
/// `None` when the account does not exist or the user is no member of it.
pub async fn find_with_role<C: ConnectionTrait>(
    db: &C,
    id: &AccountId,
    user: &UserId,
) -> Result<Option<(Account, Role)>, PersistenceError> {
    use sea_orm::sea_query::{Alias, Asterisk, Expr, Query};
    use sea_orm::FromQueryResult;
    let select = Query::select()
        .column((accounts::Entity, Asterisk))
        .expr_as(
            Expr::col((account_members::Entity, account_members::Column::Role)),
            Alias::new("member_role"),
        )
        .from(accounts::Entity)
        .inner_join(
            account_members::Entity,
            Expr::col((account_members::Entity, account_members::Column::AccountId))
                .equals((accounts::Entity, accounts::Column::Id)),
        )
        .and_where(Expr::col((accounts::Entity, accounts::Column::Id)).eq(id.as_str()))
        .and_where(
            Expr::col((account_members::Entity, account_members::Column::UserId)).eq(user.as_str()),
        )
        .to_owned();
    let Some(row) = db
        .query_one(db.get_database_backend().build(&select))
        .await?
    else {
        return Ok(None);
    };
    let account = accounts::Model::from_query_result(&row, "")?;
    Ok(Some((to_domain(account)?, member_role(&row, id)?)))
}

/// An account, the role of `member` in it (`None` for no member: an operator's read) and the
/// rows of `inner`, a statement about the account (a page of its projects, say), in one
/// statement: the account's row with the role, left-joined with `inner`'s rows in the order of
/// its columns `order`. The account's columns carry a prefix, so `inner`'s keep their names; an
/// empty `inner` gives one row whose `inner` columns are NULL. `None` when the account does not
/// exist, or `member` is no member of it.
pub async fn with_rows<C: ConnectionTrait>(
    db: &C,
    id: &AccountId,
    member: Option<&UserId>,
    inner: sea_orm::sea_query::SelectStatement,
    order: &[&str],
) -> Result<Option<(Account, Option<Role>, Vec<sea_orm::QueryResult>)>, PersistenceError> {
    use sea_orm::sea_query::{Alias, Asterisk, Condition, Expr, JoinType, Order, Query};
    use sea_orm::{FromQueryResult, IdenStatic, Iterable};
    let a = |name: &str| Alias::new(name);
    let mut select = Query::select();
    for column in accounts::Column::iter() {
        let name = column.as_str();
        select.expr_as(
            Expr::col((a("acc"), a(name))),
            a(&format!("{ACCOUNT_PREFIX}{name}")),
        );
    }
    select
        .column((a("i"), Asterisk))
        .from_as(accounts::Entity, a("acc"))
        .and_where(Expr::col((a("acc"), a("id"))).eq(id.as_str()));
    if let Some(user) = member {
        select
            .expr_as(Expr::col((a("m"), a("role"))), a("member_role"))
            .join_as(
                JoinType::InnerJoin,
                account_members::Entity,
                a("m"),
                Condition::all()
                    .add(Expr::col((a("m"), a("account_id"))).equals((a("acc"), a("id"))))
                    .add(Expr::col((a("m"), a("user_id"))).eq(user.as_str())),
            );
    }
    select.join_subquery(JoinType::LeftJoin, inner, a("i"), Expr::cust("1 = 1"));
    for column in order {
        select.order_by((a("i"), a(column)), Order::Asc);
    }
    let rows = db
        .query_all(db.get_database_backend().build(&select))
        .await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let found = to_domain(accounts::Model::from_query_result(first, ACCOUNT_PREFIX)?)?;
    let role = match member {
        Some(_) => Some(member_role(first, id)?),
        None => None,
    };
    Ok(Some((found, role, rows)))
}

/// The prefix of the account's columns in [`with_rows`].
const ACCOUNT_PREFIX: &str = "account__";

/// The reader's role from a row's `member_role` column.
fn member_role(row: &sea_orm::QueryResult, account: &AccountId) -> Result<Role, PersistenceError> {
    let role: String = row.try_get("", "member_role")?;
    role.parse().map_err(PersistenceError::corrupt(
        "account_members",
        account.as_str(),
    ))
}

/// Every account, for operators.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    page: &PageRequest,
) -> Result<Page<Account>, PersistenceError> {
    let mut query = accounts::Entity::find().order_by_asc(accounts::Column::Id);
    if let Some(after) = &page.after {
        query = query.filter(accounts::Column::Id.gt(after.as_str()));
    }
    let rows = query.limit(page.limit + 1).all(db).await?;
    Page::from_overfetch(rows, page.limit).try_map(to_domain)
}

/// The accounts a user belongs to, with its role in each.
pub async fn list_for_user<C: ConnectionTrait>(
    db: &C,
    user: &UserId,
    page: &PageRequest,
) -> Result<Page<(Account, Role)>, PersistenceError> {
    let mut query = account_members::Entity::find()
        .filter(account_members::Column::UserId.eq(user.as_str()))
        .order_by_asc(account_members::Column::AccountId);
    if let Some(after) = &page.after {
        query = query.filter(account_members::Column::AccountId.gt(after.as_str()));
    }
    let members = query.limit(page.limit + 1).all(db).await?;
    let members = Page::from_overfetch(members, page.limit);
    let ids: Vec<String> = members.items.iter().map(|m| m.account_id.clone()).collect();
    let mut accounts: std::collections::HashMap<String, accounts::Model> = accounts::Entity::find()
        .filter(accounts::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|a| (a.id.clone(), a))
        .collect();
    members.try_map(|member| {
        let bad = PersistenceError::corrupt("account_members", &member.account_id);
        let account = accounts
            .remove(&member.account_id)
            .ok_or_else(|| bad(billing_domain::DomainError::InvalidId("account")))?;
        let role = member.role.parse::<Role>().map_err(&bad)?;
        Ok((to_domain(account)?, role))
    })
}

fn member_to_domain(row: account_members::Model) -> Result<Membership, PersistenceError> {
    let bad = PersistenceError::corrupt("account_members", &row.account_id);
    Ok(Membership {
        account_id: AccountId::parse(&row.account_id).map_err(&bad)?,
        user_id: UserId::parse(&row.user_id).map_err(&bad)?,
        role: row.role.parse().map_err(&bad)?,
        created_at: row.created_at,
    })
}

/// Adds a member or changes its role; the first `created_at` is kept.
pub async fn upsert_member<C: ConnectionTrait>(
    db: &C,
    membership: &Membership,
) -> Result<Membership, PersistenceError> {
    let row = account_members::ActiveModel {
        account_id: Set(membership.account_id.to_string()),
        user_id: Set(membership.user_id.to_string()),
        role: Set(membership.role.as_str().to_owned()),
        created_at: Set(utc(membership.created_at)),
    };
    account_members::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([
                account_members::Column::AccountId,
                account_members::Column::UserId,
            ])
            .update_column(account_members::Column::Role)
            .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    find_member(db, &membership.account_id, &membership.user_id)
        .await?
        .ok_or_else(|| PersistenceError::Db(sea_orm::DbErr::RecordNotFound("member".into())))
}

pub async fn find_member<C: ConnectionTrait>(
    db: &C,
    account: &AccountId,
    user: &UserId,
) -> Result<Option<Membership>, PersistenceError> {
    account_members::Entity::find_by_id((account.to_string(), user.to_string()))
        .one(db)
        .await?
        .map(member_to_domain)
        .transpose()
}

/// A membership, its row share-locked until the transaction ends on PostgreSQL, so that it
/// cannot be removed before the transaction (which adds a participation) commits.
pub async fn find_member_locked<C: ConnectionTrait>(
    db: &C,
    account: &AccountId,
    user: &UserId,
) -> Result<Option<Membership>, PersistenceError> {
    let mut select = account_members::Entity::find_by_id((account.to_string(), user.to_string()));
    if db.get_database_backend() == sea_orm::DbBackend::Postgres {
        select = select.lock_shared();
    }
    select.one(db).await?.map(member_to_domain).transpose()
}

/// Removes a member; answers whether there was one. Its project participations go with it.
pub async fn remove_member<C: ConnectionTrait>(
    db: &C,
    account: &AccountId,
    user: &UserId,
) -> Result<bool, PersistenceError> {
    // The membership first: its row lock makes a concurrent `find_member_locked` wait for this
    // transaction (and then find no member), or this delete wait for that one (whose new
    // participation the next statement then sees and removes).
    let result = account_members::Entity::delete_by_id((account.to_string(), user.to_string()))
        .exec(db)
        .await?;
    projects::remove_user_from_account_projects(db, account, user).await?;
    Ok(result.rows_affected > 0)
}

pub async fn list_members<C: ConnectionTrait>(
    db: &C,
    account: &AccountId,
    page: &PageRequest,
) -> Result<Page<Membership>, PersistenceError> {
    let mut query = account_members::Entity::find()
        .filter(account_members::Column::AccountId.eq(account.as_str()))
        .order_by_asc(account_members::Column::UserId);
    if let Some(after) = &page.after {
        query = query.filter(account_members::Column::UserId.gt(after.as_str()));
    }
    let rows = query.limit(page.limit + 1).all(db).await?;
    Page::from_overfetch(rows, page.limit).try_map(member_to_domain)
}
