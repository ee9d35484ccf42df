//! Connecting to SQLite (the embedded default) or PostgreSQL, and migrating.

use std::time::Duration;

use billing_migrations::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    Statement, TransactionTrait,
};

use crate::error::PersistenceError;

/// How to reach the database.
#[derive(Clone, Debug)]
pub struct DbConfig {
    /// `sqlite://billing.db?mode=rwc` or `postgres://user@host/db`.
    pub url: String,
    /// PostgreSQL schema to use (tests give each database its own); `None` uses the default.
    pub schema: Option<String>,
    pub max_connections: u32,
}

/// Which engine a URL names, for logs and engine-specific SQL.
pub fn backend_name(url: &str) -> &'static str {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        "postgresql"
    } else if url.starts_with("sqlite:") {
        "sqlite"
    } else {
        "unknown"
    }
}

/// Opens a pool. SQLite runs in WAL mode with foreign keys on and a busy timeout, so readers do
/// not block the writer and concurrent writers wait instead of failing.
pub async fn connect(config: &DbConfig) -> Result<DatabaseConnection, PersistenceError> {
    if backend_name(&config.url) == "unknown" {
        return Err(PersistenceError::UnsupportedUrl);
    }
    let mut options = ConnectOptions::new(config.url.clone());
    options
        .max_connections(config.max_connections)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|opts| {
            opts.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(30))
        });
    if let Some(schema) = &config.schema {
        options.set_schema_search_path(schema.clone());
    }
    Ok(Database::connect(options).await?)
}

/// Applies every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), PersistenceError> {
    Migrator::up(db, None).await?;
    Ok(())
}

/// Rolls back every migration, then applies them again: proves each `down` works.
pub async fn migrate_down_and_up(db: &DatabaseConnection) -> Result<(), PersistenceError> {
    Migrator::down(db, None).await?;
    Migrator::up(db, None).await?;
    Ok(())
}

/// Rolls back the migration named `name` and every later one, then applies them again: proves
/// a migration keeps what it fills from data stored before it.
pub async fn redo_migrations_from(
    db: &DatabaseConnection,
    name: &str,
) -> Result<(), PersistenceError> {
    let all = Migrator::migrations();
    let position = all
        .iter()
        .position(|m| m.name() == name)
        .ok_or_else(|| sea_orm::DbErr::Custom(format!("no migration named {name}")))?;
    let steps = u32::try_from(all.len() - position)
        .map_err(|_| sea_orm::DbErr::Custom("too many migrations".into()))?;
    Migrator::down(db, Some(steps)).await?;
    Migrator::up(db, None).await?;
    Ok(())
}

/// Begins a transaction that will write.
///
/// On SQLite it takes the write lock at once (a no-op write): a deferred transaction that reads
/// first and writes later cannot wait for a concurrent writer, SQLite answers it "database is
/// locked" at once. Taken first, the lock is waited for (busy timeout) like any other. On
/// PostgreSQL row locks do this work and nothing is added.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, PersistenceError> {
    let txn = db.begin().await?;
    if txn.get_database_backend() == DbBackend::Sqlite {
        txn.execute(Statement::from_string(
            DbBackend::Sqlite,
            "DELETE FROM job_leases WHERE 1 = 0",
        ))
        .await?;
    }
    Ok(txn)
}

/// Begins a read-only transaction that sees one snapshot, so a read made of several queries
/// never mixes the states before and after a concurrent ingestion (PostgreSQL: repeatable read;
/// SQLite in WAL mode: a deferred transaction reads one snapshot).
pub async fn begin_read(db: &DatabaseConnection) -> Result<DatabaseTransaction, PersistenceError> {
    let txn = match db.get_database_backend() {
        DbBackend::Postgres => {
            db.begin_with_config(
                Some(sea_orm::IsolationLevel::RepeatableRead),
                Some(sea_orm::AccessMode::ReadOnly),
            )
            .await?
        }
        _ => db.begin().await?,
    };
    Ok(txn)
}

/// Answers whether the database takes a query.
pub async fn ping(db: &DatabaseConnection) -> Result<(), PersistenceError> {
    let backend: DbBackend = db.get_database_backend();
    db.execute(Statement::from_string(backend, "SELECT 1"))
        .await?;
    Ok(())
}
