use std::path::Path;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

super::sql::impl_store!(SqliteStore, sqlx::Sqlite);

/// Metadata in one SQLite file (WAL mode, foreign keys on, migrations run at open).
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// A write transaction, taking the write lock at once (`BEGIN IMMEDIATE`): a deferred
    /// transaction that reads first fails with SQLITE_BUSY, not waiting, when another
    /// writer commits before it writes.
    async fn write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StoreError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// The same as [`write`](Self::write): SQLite has one writer at a time, so a garbage
    /// collection pass holding it keeps every other writer out.
    async fn write_exclusive(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StoreError> {
        self.write().await
    }

    /// Nothing to take: SQLite's one writer already orders release log appends.
    async fn lock_log(
        _tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
    ) -> Result<(), StoreError> {
        Ok(())
    }

    /// Nothing to announce: one process uses the file.
    async fn announce(&self, _repository: &str) -> Result<(), StoreError> {
        Ok(())
    }

    /// No other process writes to this database.
    async fn listen_changes(
        &self,
    ) -> Option<futures_util::stream::BoxStream<'static, super::ManifestChange>> {
        None
    }

    /// Open (creating) the database at `path` and run the embedded migrations.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            // A statement that fails with SQLITE_FULL or an I/O error makes SQLite roll the
            // transaction back by itself; sqlx's ROLLBACK then fails ("no transaction is
            // active") and the connection would come back from the pool still counting an
            // open transaction, failing every later `BEGIN` even after space is freed.
            // Such a connection is closed instead of reused (a queued rollback is let
            // finish first: the ping runs after it on the connection's worker).
            .before_acquire(|conn, _meta| {
                Box::pin(async move {
                    use sqlx::Connection as _;
                    use sqlx_core::transaction::TransactionManager as _;
                    type Tm = <sqlx::Sqlite as sqlx::Database>::TransactionManager;
                    if Tm::get_transaction_depth(conn) == 0 {
                        return Ok(true);
                    }
                    conn.ping().await?;
                    Ok(Tm::get_transaction_depth(conn) == 0)
                })
            })
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        let store = SqliteStore { pool };
        store.fill_summaries().await?;
        Ok(store)
    }
}
