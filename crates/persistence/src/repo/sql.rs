//! What the hand-built statements of the repositories share: names, building for the connected
//! backend, and reading a column.

use sea_orm::sea_query::{Alias, PostgresQueryBuilder, SqliteQueryBuilder};
use sea_orm::{ConnectionTrait, DbBackend, Statement, TryGetable};

use crate::error::PersistenceError;

pub(crate) fn a(name: &str) -> Alias {
    Alias::new(name)
}

/// The statement for the connection's backend (PostgreSQL, else SQLite).
pub(crate) fn build<S>(db: &impl ConnectionTrait, stmt: &S) -> Statement
where
    S: sea_orm::sea_query::QueryStatementWriter,
{
    let backend = db.get_database_backend();
    let (sql, values) = match backend {
        DbBackend::Postgres => stmt.build(PostgresQueryBuilder),
        _ => stmt.build(SqliteQueryBuilder),
    };
    Statement::from_sql_and_values(backend, sql, values)
}

/// A hand-written statement with `?` placeholders (no `?` elsewhere in it), numbered `$1`,
/// `$2`, ... for PostgreSQL.
pub(crate) fn numbered(
    db: &impl ConnectionTrait,
    sql: &str,
    values: Vec<sea_orm::Value>,
) -> Statement {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            let mut out = String::with_capacity(sql.len() + 16);
            let mut n = 0;
            for c in sql.chars() {
                if c == '?' {
                    n += 1;
                    out.push('$');
                    out.push_str(&n.to_string());
                } else {
                    out.push(c);
                }
            }
            out
        }
        _ => sql.to_owned(),
    };
    Statement::from_sql_and_values(backend, sql, values)
}

pub(crate) fn get<T: TryGetable>(
    row: &sea_orm::QueryResult,
    column: &str,
) -> Result<T, PersistenceError> {
    row.try_get::<T>("", column).map_err(PersistenceError::Db)
}

/// A calendar date stored as `YYYY-MM-DD` (written with its `Display`).
pub(crate) fn date(text: &str) -> Option<time::Date> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(text, &format).ok()
}
