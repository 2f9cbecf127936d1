use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

super::sql::impl_store!(PgStore, sqlx::Postgres);

/// Metadata in PostgreSQL (`postgres://…`), shared by any number of registry processes;
/// migrations in `migrations/postgres` run at connect.
pub struct PgStore {
    pool: PgPool,
}

/// The advisory lock that orders metadata writers against garbage collection: writers hold
/// it shared, a collection pass exclusively (the role SQLite's single writer plays).
const GC_LOCK: i64 = 0x7768_6172_6667; // "wharfg"

impl PgStore {
    /// A write transaction holding the GC lock shared.
    async fn write(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock_shared($1)")
            .bind(GC_LOCK)
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }

    /// A write transaction holding the GC lock exclusively.
    async fn write_exclusive(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(GC_LOCK)
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }

    /// Connect to `url` (`postgres://user:pass@host/db`), optionally in `schema` (created when
    /// missing, for isolated tests), and run the embedded migrations.
    pub async fn connect(url: &str, schema: Option<&str>) -> Result<Self, StoreError> {
        let mut options: PgConnectOptions = url.parse()?;
        if let Some(schema) = schema {
            options = options.options([("search_path", schema)]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await?;
        if let Some(schema) = schema {
            if !schema
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                return Err(StoreError::Corrupt(format!(
                    "schema name `{schema}` must be lowercase letters, digits and `_`"
                )));
            }
            // checked above to be a plain identifier
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "CREATE SCHEMA IF NOT EXISTS {schema}"
            )))
            .execute(&pool)
            .await?;
        }
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(PgStore { pool })
    }
}
