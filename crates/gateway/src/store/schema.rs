//! Schema versions shared by both backends: which embedded migrations a database still lacks.

use sqlx::migrate::{Migration, Migrator};

/// The operator-facing name of a migration, as its file is named: `0002_local_voices`.
pub fn migration_name(migration: &Migration) -> String {
    format!(
        "{:04}_{}",
        migration.version,
        migration.description.replace(' ', "_")
    )
}

/// Names of the up-migrations of `migrator` whose versions are not in `applied`, in order.
pub fn pending(migrator: &Migrator, applied: &[i64]) -> Vec<String> {
    migrator
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .filter(|m| !applied.contains(&m.version))
        .map(migration_name)
        .collect()
}
