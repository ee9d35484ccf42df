use billing_domain::DomainError;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum PersistenceError {
    #[error("database error: {0}")]
    Db(#[from] sea_orm::DbErr),
    /// A stored row does not make a valid domain value: the data is corrupt or a migration is
    /// missing. Never the client's fault.
    #[error("stored {table} row {key} is invalid: {source}")]
    Corrupt {
        table: &'static str,
        key: String,
        source: DomainError,
    },
    #[error("the database URL names neither sqlite: nor postgres://")]
    UnsupportedUrl,
    /// A sum passed the largest number its column holds.
    #[error("a number is out of range")]
    OutOfRange,
    /// A unique constraint refused the write: the thing exists already.
    #[error("already exists")]
    AlreadyExists,
}

/// Maps a unique-constraint violation to [`PersistenceError::AlreadyExists`].
pub(crate) fn unique_or_db(error: sea_orm::DbErr) -> PersistenceError {
    match error.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => PersistenceError::AlreadyExists,
        _ => PersistenceError::Db(error),
    }
}

impl PersistenceError {
    /// A number passed its column's range: PostgreSQL's `numeric_value_out_of_range` (22003),
    /// raised by a `BIGINT` addition that would overflow, or SQLite's overflow of a `SUM`.
    pub fn is_out_of_range(&self) -> bool {
        if matches!(self, PersistenceError::OutOfRange) {
            return true;
        }
        let PersistenceError::Db(sea_orm::DbErr::Exec(runtime) | sea_orm::DbErr::Query(runtime)) =
            self
        else {
            return false;
        };
        matches!(
            runtime,
            sea_orm::RuntimeErr::SqlxError(sea_orm::sqlx::Error::Database(e))
                if e.code().as_deref() == Some("22003")
        )
    }

    /// SQLite's `integer overflow` of a `SUM` as the out-of-range error PostgreSQL raises.
    pub(crate) fn overflow_as_out_of_range(self) -> Self {
        let sqlite_overflow = matches!(
            &self,
            PersistenceError::Db(sea_orm::DbErr::Exec(runtime) | sea_orm::DbErr::Query(runtime))
                if runtime.to_string().contains("integer overflow")
        );
        if sqlite_overflow {
            PersistenceError::OutOfRange
        } else {
            self
        }
    }

    pub(crate) fn corrupt<'k>(
        table: &'static str,
        key: &'k str,
    ) -> impl Fn(DomainError) -> Self + 'k {
        move |source| PersistenceError::Corrupt {
            table,
            key: key.to_owned(),
            source,
        }
    }
}
