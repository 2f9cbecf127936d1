use std::time::Duration;

use futures_util::stream::BoxStream;
use sqlx::PgPool;

use super::ManifestChange;
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

/// The advisory lock release log appends take (to the end of their transaction), so
/// indexes are given out in commit order without gaps.
const LOG_LOCK: i64 = 0x7768_6172_666c; // "wharfl"

/// The notification channel of manifest and tag changes.
const CHANGES_CHANNEL: &str = "wharf_manifests";

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

    /// Take the release log's append lock for the rest of `tx`.
    async fn lock_log(
        tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    ) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(LOG_LOCK)
            .execute(&mut **tx)
            .await?;
        Ok(())
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

    /// Tell the other instances that `repository`'s manifests or tags changed (`*`: any).
    async fn announce(&self, repository: &str) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANGES_CHANNEL)
            .bind(repository)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// What the other instances announce. A lost connection (notifications may have been
    /// missed while it was down) is reported as [`ManifestChange::All`].
    async fn listen_changes(&self) -> Option<BoxStream<'static, ManifestChange>> {
        let mut listener = match sqlx::postgres::PgListener::connect_with(&self.pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for manifest changes; other instances' changes are not seen until restart");
                return None;
            }
        };
        if let Err(e) = listener.listen(CHANGES_CHANNEL).await {
            tracing::warn!(error = %e, "cannot listen for manifest changes");
            return None;
        }
        let stream = futures_util::stream::unfold(listener, |mut listener| async move {
            let change = match listener.try_recv().await {
                Ok(Some(n)) => match n.payload() {
                    "*" => ManifestChange::All,
                    name => match name.parse() {
                        Ok(repo) => ManifestChange::Repository(repo),
                        Err(_) => ManifestChange::All,
                    },
                },
                // the connection was lost (it reconnects on the next call)
                Ok(None) => ManifestChange::All,
                Err(e) => {
                    tracing::warn!(error = %e, "listening for manifest changes failed; retrying");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    ManifestChange::All
                }
            };
            Some((change, listener))
        });
        Some(Box::pin(stream))
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
        let store = PgStore { pool };
        store.fill_summaries().await?;
        Ok(store)
    }
}
