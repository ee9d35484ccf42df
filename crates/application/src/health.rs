//! Readiness: whether the database takes queries, and which engine it is.

use billing_persistence::{db, ConnectionTrait, DbBackend};

use crate::state::AppState;

/// The database engine's name (`sqlite`, `postgresql`) once it answered a query; why not, when
/// it did not.
pub async fn ready(state: &AppState) -> Result<&'static str, String> {
    db::ping(&state.db).await.map_err(|e| e.to_string())?;
    Ok(match state.db.get_database_backend() {
        DbBackend::Postgres => "postgresql",
        DbBackend::Sqlite => "sqlite",
        DbBackend::MySql => "mysql",
    })
}
