//! `backup`: a consistent online copy of the SQLite database; for PostgreSQL, the `pg_dump`
//! command to use instead.

use std::path::Path;

use crate::config::{DatabaseSettings, Settings};
use crate::startup;
use crate::store::StoreError;

/// Backs up to `dest` (which must not exist) and prints what the verified copy holds.
pub async fn run(settings: Settings, dest: &Path) -> anyhow::Result<()> {
    if let DatabaseSettings::Postgres { url } = &settings.database {
        anyhow::bail!(
            "backup copies SQLite databases only; for PostgreSQL use pg_dump, for example:\n  {}",
            pg_dump_command(url, dest)
        );
    }
    if dest.exists() {
        anyhow::bail!(
            "backup destination {} already exists; refusing to overwrite it",
            dest.display()
        );
    }
    let summary = startup::with_database(&settings, async |database| {
        let Some(copied) = database.backup_into(dest).await else {
            anyhow::bail!("backup copies SQLite databases only");
        };
        copied.map_err(|e| match e {
            StoreError::Conflict(_) => anyhow::anyhow!(
                "backup destination {} already exists; refusing to overwrite it",
                dest.display()
            ),
            e => anyhow::anyhow!("backup to {} failed: {e}", dest.display()),
        })
    })
    .await?;
    eprintln!(
        "backup written to {} ({} bytes, integrity ok): {} users, {} usage records",
        dest.display(),
        summary.bytes,
        summary.users,
        summary.usage_records
    );
    Ok(())
}

/// `pg_dump` for this database: the URL without its password (pg_dump reads it from
/// `PGPASSWORD` or `~/.pgpass`), each argument single-quoted for a POSIX shell.
pub fn pg_dump_command(url: &str, dest: &Path) -> String {
    let target = match url::Url::parse(url) {
        Ok(mut parsed) => {
            let _ = parsed.set_password(None);
            parsed.to_string()
        }
        Err(_) => "<DATABASE_URL without its password>".to_string(),
    };
    format!(
        "pg_dump --format=custom --file={} {}",
        shell_quote(&dest.display().to_string()),
        shell_quote(&target)
    )
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pg_dump_command_drops_the_password() {
        let command = pg_dump_command(
            "postgres://app:s3cret@db.internal:5432/tts?sslmode=require",
            Path::new("/backups/it's.dump"),
        );
        assert!(!command.contains("s3cret"), "{command}");
        assert_eq!(
            command,
            "pg_dump --format=custom --file='/backups/it'\\''s.dump' 'postgres://app@db.internal:5432/tts?sslmode=require'"
        );
    }
}
