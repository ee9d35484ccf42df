//! Column and key shapes the feature migrations (5 on) share: ids, instants, minor-unit
//! amounts, restricting foreign keys, indexes. Migration 1 has its own.

use sea_orm_migration::prelude::*;

pub(crate) fn a(name: &'static str) -> Alias {
    Alias::new(name)
}

/// A prefixed id (`pay_...`): 40 characters, required.
pub(crate) fn id(name: &'static str) -> ColumnDef {
    ColumnDef::new(a(name)).string_len(40).not_null().to_owned()
}

/// A required instant.
pub(crate) fn at(name: &'static str) -> ColumnDef {
    ColumnDef::new(a(name))
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

/// A required amount in minor units.
pub(crate) fn money(name: &'static str) -> ColumnDef {
    ColumnDef::new(a(name)).big_integer().not_null().to_owned()
}

/// A foreign key to `to(id)` that refuses to delete or change what it points at.
pub(crate) fn fk(
    from: &'static str,
    column: &'static str,
    to: &'static str,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(a(from), a(column))
        .to(a(to), a("id"))
        .on_delete(ForeignKeyAction::Restrict)
        .on_update(ForeignKeyAction::Restrict)
        .to_owned()
}

pub(crate) fn index(
    name: &'static str,
    table: &'static str,
    columns: &[&'static str],
) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(name).table(a(table));
    for column in columns {
        index.col(a(column));
    }
    index.to_owned()
}
