//! `projects.name_key`: the project's name folded to lower case (Unicode, by the application),
//! which the customer's project search (`q`) matches case-insensitively on SQLite and
//! PostgreSQL alike, whatever either database's locale folds. Existing rows are filled here.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn a(name: &'static str) -> Alias {
    Alias::new(name)
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(a("projects"))
                    .add_column(
                        ColumnDef::new(a("name_key"))
                            .string_len(800)
                            .not_null()
                            .default(""),
                    )
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        let backend = db.get_database_backend();
        let rows = db
            .query_all(Statement::from_string(
                backend,
                "SELECT id, name FROM projects",
            ))
            .await?;
        for row in rows {
            let id: String = row.try_get("", "id")?;
            let name: String = row.try_get("", "name")?;
            let update = Query::update()
                .table(a("projects"))
                .value(a("name_key"), name.to_lowercase())
                .and_where(Expr::col(a("id")).eq(id))
                .to_owned();
            db.execute(backend.build(&update)).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(a("projects"))
                    .drop_column(a("name_key"))
                    .to_owned(),
            )
            .await
    }
}
