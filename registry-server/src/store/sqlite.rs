use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use wharf_oci::{Descriptor, Digest, Reference, RepositoryName, Tag};

use super::{
    CatalogFilter, CatalogRow, GcPolicy, GcReport, NewManifest, Page, PutOutcome, SignatureRecord,
    Store, StoreError, StoredManifest, TagRow, UnlinkOutcome, UploadClaim, Usage, WasmIndexEntry,
    digest_of, i64_of, now,
};
use crate::storage::UploadId;

super::shared_queries!(sqlx::Sqlite);

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
        Ok(SqliteStore { pool })
    }
}

/// The id of `repo`, creating the row.
async fn repository_id(
    conn: &mut sqlx::SqliteConnection,
    repo: &RepositoryName,
) -> Result<i64, StoreError> {
    sqlx::query(
        "INSERT INTO repositories (name, created_at) VALUES (?, ?) ON CONFLICT(name) DO NOTHING",
    )
    .bind(repo.as_str())
    .bind(now())
    .execute(&mut *conn)
    .await?;
    Ok(
        sqlx::query_scalar("SELECT id FROM repositories WHERE name = ?")
            .bind(repo.as_str())
            .fetch_one(&mut *conn)
            .await?,
    )
}

async fn existing_repository_id(
    pool: &SqlitePool,
    repo: &RepositoryName,
) -> Result<Option<i64>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT id FROM repositories WHERE name = ?")
            .bind(repo.as_str())
            .fetch_optional(pool)
            .await?,
    )
}

#[async_trait]
impl Store for SqliteStore {
    #[tracing::instrument(skip(self), err)]
    async fn link_blob(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        size: u64,
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        let id = repository_id(&mut tx, repo).await?;
        let t = now();
        sqlx::query("INSERT INTO blobs (digest, size, created_at) VALUES (?, ?, ?) ON CONFLICT(digest) DO NOTHING")
            .bind(digest.to_string())
            .bind(i64_of(size))
            .bind(&t)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO repository_blobs (repository_id, digest, created_at, last_used_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT DO UPDATE SET last_used_at = excluded.last_used_at",
        )
        .bind(id)
        .bind(digest.to_string())
        .bind(&t)
        .bind(&t)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn repository_blob(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> Result<Option<u64>, StoreError> {
        let size: Option<i64> = sqlx::query_scalar(
            "SELECT b.size FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id \
             JOIN blobs b ON b.digest = rb.digest WHERE r.name = ? AND rb.digest = ?",
        )
        .bind(repo.as_str())
        .bind(digest.to_string())
        .fetch_optional(&self.pool)
        .await?;
        Ok(size.map(|s| s.max(0) as u64))
    }

    async fn create_upload(&self, repo: &RepositoryName, id: &UploadId) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        let repo_id = repository_id(&mut tx, repo).await?;
        let t = now();
        sqlx::query("INSERT INTO uploads (id, repository_id, size, created_at, updated_at) VALUES (?, ?, 0, ?, ?)")
            .bind(id.as_str())
            .bind(repo_id)
            .bind(&t)
            .bind(&t)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn upload(
        &self,
        repo: &RepositoryName,
        id: &UploadId,
    ) -> Result<Option<u64>, StoreError> {
        upload(&self.pool, repo, id).await
    }

    async fn claim_upload(
        &self,
        repo: &RepositoryName,
        id: &UploadId,
        writer: &str,
        stale_before: &str,
    ) -> Result<UploadClaim, StoreError> {
        claim_upload(&self.pool, repo, id, writer, stale_before).await
    }

    async fn release_upload(
        &self,
        id: &UploadId,
        writer: &str,
        size: u64,
    ) -> Result<bool, StoreError> {
        release_upload(&self.pool, id, writer, size).await
    }

    async fn check_writable(&self) -> Result<(), StoreError> {
        check_writable(&self.pool).await
    }

    async fn delete_upload(&self, id: &UploadId) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM uploads WHERE id = ?")
            .bind(id.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    #[tracing::instrument(skip(self, m), fields(digest = %m.digest), err)]
    async fn put_manifest(
        &self,
        repo: &RepositoryName,
        m: &NewManifest<'_>,
        tags: &[Tag],
    ) -> Result<PutOutcome, StoreError> {
        let mut tx = self.write().await?;
        let repo_id = repository_id(&mut tx, repo).await?;
        let t = now();
        // within the write transaction, so a concurrent garbage collection cannot unlink
        // a blob between this check and the commit
        for blob in &m.blobs {
            let linked: Option<i64> = sqlx::query_scalar(
                "SELECT 1 FROM repository_blobs WHERE repository_id = ? AND digest = ?",
            )
            .bind(repo_id)
            .bind(blob.to_string())
            .fetch_optional(&mut *tx)
            .await?;
            if linked.is_none() {
                return Ok(PutOutcome::BlobMissing(blob.clone()));
            }
        }
        let digest = m.digest.to_string();
        let annotations = m
            .annotations
            .map(|a| serde_json::to_string(a).unwrap_or_default());
        let inserted = sqlx::query(
            "INSERT INTO manifests (repository_id, digest, media_type, artifact_type, subject, size, content, annotations, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(repo_id)
        .bind(&digest)
        .bind(m.media_type)
        .bind(m.artifact_type)
        .bind(m.subject.map(ToString::to_string))
        .bind(i64_of(m.content.len() as u64))
        .bind(m.content)
        .bind(annotations)
        .bind(&t)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted > 0 {
            let children = m
                .blobs
                .iter()
                .map(|d| (d, "blob"))
                .chain(m.manifests.iter().map(|d| (d, "manifest")));
            for (child, kind) in children {
                sqlx::query(
                    "INSERT INTO manifest_references (repository_id, manifest_digest, child_digest, kind) VALUES (?, ?, ?, ?) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(repo_id)
                .bind(&digest)
                .bind(child.to_string())
                .bind(kind)
                .execute(&mut *tx)
                .await?;
            }
            insert_derived(&mut tx, repo_id, &digest, m).await?;
        }
        for tag in tags {
            sqlx::query(
                "INSERT INTO tags (repository_id, name, manifest_digest, updated_at) VALUES (?, ?, ?, ?) \
                 ON CONFLICT(repository_id, name) DO UPDATE SET manifest_digest = excluded.manifest_digest, updated_at = excluded.updated_at",
            )
            .bind(repo_id)
            .bind(tag.as_str())
            .bind(&digest)
            .bind(&t)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(PutOutcome::Stored)
    }

    async fn manifest(
        &self,
        repo: &RepositoryName,
        r: &Reference,
    ) -> Result<Option<StoredManifest>, StoreError> {
        let row = match r {
            Reference::Digest(d) => {
                sqlx::query(
                    "SELECT m.digest, m.media_type, m.content FROM manifests m JOIN repositories r ON r.id = m.repository_id \
                     WHERE r.name = ? AND m.digest = ?",
                )
                .bind(repo.as_str())
                .bind(d.to_string())
                .fetch_optional(&self.pool)
                .await?
            }
            Reference::Tag(t) => {
                sqlx::query(
                    "SELECT m.digest, m.media_type, m.content FROM tags t JOIN repositories r ON r.id = t.repository_id \
                     JOIN manifests m ON m.repository_id = t.repository_id AND m.digest = t.manifest_digest \
                     WHERE r.name = ? AND t.name = ?",
                )
                .bind(repo.as_str())
                .bind(t.as_str())
                .fetch_optional(&self.pool)
                .await?
            }
        };
        let Some(row) = row else { return Ok(None) };
        Ok(Some(StoredManifest {
            digest: digest_of(row.try_get::<&str, _>("digest")?)?,
            media_type: row.try_get("media_type")?,
            content: row.try_get("content")?,
        }))
    }

    async fn has_manifest(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM manifests m JOIN repositories r ON r.id = m.repository_id WHERE r.name = ? AND m.digest = ?",
        )
        .bind(repo.as_str())
        .bind(digest.to_string())
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }

    async fn tags(
        &self,
        repo: &RepositoryName,
        page: Page<'_>,
    ) -> Result<Option<Vec<String>>, StoreError> {
        let Some(repo_id) = existing_repository_id(&self.pool, repo).await? else {
            return Ok(None);
        };
        let tags = sqlx::query_scalar(
            "SELECT name FROM tags WHERE repository_id = ? AND name > ? ORDER BY name COLLATE BINARY LIMIT ?",
        )
        .bind(repo_id)
        .bind(page.last.unwrap_or(""))
        .bind(i64::from(page.n))
        .fetch_all(&self.pool)
        .await?;
        Ok(Some(tags))
    }

    async fn repositories(&self, page: Page<'_>) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT r.name FROM repositories r WHERE r.name > ? AND EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = r.id) \
             ORDER BY r.name COLLATE BINARY LIMIT ?",
        )
        .bind(page.last.unwrap_or(""))
        .bind(i64::from(page.n))
        .fetch_all(&self.pool)
        .await?)
    }

    async fn wasm_entry(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> Result<Option<WasmIndexEntry>, StoreError> {
        wasm_entry(&self.pool, repo, digest).await
    }

    async fn referrers(
        &self,
        repo: &RepositoryName,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>, StoreError> {
        referrers(&self.pool, repo, subject, artifact_type).await
    }

    #[tracing::instrument(skip(self), err)]
    async fn delete_manifest(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> Result<bool, StoreError> {
        delete_manifest(&self.pool, repo, digest).await
    }

    #[tracing::instrument(skip(self), err)]
    async fn delete_tag(&self, repo: &RepositoryName, tag: &Tag) -> Result<bool, StoreError> {
        delete_tag(&self.pool, repo, tag).await
    }

    #[tracing::instrument(skip(self), err)]
    async fn unlink_blob(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> Result<UnlinkOutcome, StoreError> {
        unlink_blob(self.write().await?, repo, digest).await
    }

    async fn touch_blob(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        stale_before: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE repository_blobs SET last_used_at = ? WHERE digest = ? AND last_used_at < ? \
             AND repository_id = (SELECT id FROM repositories WHERE name = ?)",
        )
        .bind(now())
        .bind(digest.to_string())
        .bind(stale_before)
        .bind(repo.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    #[tracing::instrument(skip(self), err)]
    async fn collect_garbage(
        &self,
        policy: &GcPolicy,
        dry_run: bool,
    ) -> Result<GcReport, StoreError> {
        let mut tx = self.write().await?;
        let mut report = GcReport::default();
        // 1. manifests no tag, index or present subject keeps, repeated until none is left
        //    (removing an index can free its children)
        if policy.untagged {
            loop {
                let rows: Vec<(i64, String, String)> = sqlx::query_as(
                    "SELECT m.repository_id, r.name, m.digest FROM manifests m JOIN repositories r ON r.id = m.repository_id \
                     WHERE m.created_at < ? \
                     AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.repository_id = m.repository_id AND t.manifest_digest = m.digest) \
                     AND NOT EXISTS (SELECT 1 FROM manifest_references x WHERE x.repository_id = m.repository_id \
                                     AND x.child_digest = m.digest AND x.kind = 'manifest') \
                     AND (m.subject IS NULL OR NOT EXISTS (SELECT 1 FROM manifests s \
                                     WHERE s.repository_id = m.repository_id AND s.digest = m.subject))",
                )
                .bind(&policy.grace_before)
                .fetch_all(&mut *tx)
                .await?;
                let fresh: Vec<_> = rows
                    .into_iter()
                    .filter(|(_, name, d)| !report.manifests.contains(&format!("{name}@{d}")))
                    .collect();
                if fresh.is_empty() {
                    break;
                }
                for (repo_id, name, digest) in fresh {
                    if !dry_run {
                        sqlx::query("DELETE FROM manifests WHERE repository_id = ? AND digest = ?")
                            .bind(repo_id)
                            .bind(&digest)
                            .execute(&mut *tx)
                            .await?;
                    }
                    report.manifests.push(format!("{name}@{digest}"));
                }
                if dry_run {
                    // without deleting, one round is all a dry run can see
                    break;
                }
            }
        }
        // 2. blob links no manifest of the repository references, unused for the grace period
        let links: Vec<(i64, String, String)> = sqlx::query_as(
            "SELECT rb.repository_id, r.name, rb.digest FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id \
             WHERE COALESCE(rb.last_used_at, rb.created_at) < ? \
             AND NOT EXISTS (SELECT 1 FROM manifest_references x WHERE x.repository_id = rb.repository_id \
                             AND x.child_digest = rb.digest AND x.kind = 'blob')",
        )
        .bind(&policy.grace_before)
        .fetch_all(&mut *tx)
        .await?;
        let mut freed = std::collections::HashSet::new();
        for (repo_id, name, digest) in links {
            if !dry_run {
                sqlx::query("DELETE FROM repository_blobs WHERE repository_id = ? AND digest = ?")
                    .bind(repo_id)
                    .bind(&digest)
                    .execute(&mut *tx)
                    .await?;
            }
            report.links.push(format!("{name}@{digest}"));
            freed.insert(digest);
        }
        // 3. blobs no repository holds any more
        let unheld: Vec<String> = sqlx::query_scalar(
            "SELECT b.digest FROM blobs b WHERE b.created_at < ? AND NOT EXISTS \
             (SELECT 1 FROM repository_blobs rb WHERE rb.digest = b.digest)",
        )
        .bind(&policy.grace_before)
        .fetch_all(&mut *tx)
        .await?;
        let mut blobs: Vec<String> = unheld;
        if dry_run {
            // in a dry run the links above are still there: count blobs whose every link would go
            for digest in freed {
                let remaining: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM repository_blobs WHERE digest = ?")
                        .bind(&digest)
                        .fetch_one(&mut *tx)
                        .await?;
                let going = report
                    .links
                    .iter()
                    .filter(|l| l.ends_with(&format!("@{digest}")))
                    .count() as i64;
                if remaining == going && !blobs.contains(&digest) {
                    blobs.push(digest);
                }
            }
        }
        for digest in blobs {
            if !dry_run {
                sqlx::query("DELETE FROM blobs WHERE digest = ?")
                    .bind(&digest)
                    .execute(&mut *tx)
                    .await?;
            }
            report.blobs.push(digest_of(&digest)?);
        }
        // 4. upload sessions not written to since `uploads_before`
        report.uploads = sqlx::query_scalar("SELECT id FROM uploads WHERE updated_at < ?")
            .bind(&policy.uploads_before)
            .fetch_all(&mut *tx)
            .await?;
        if dry_run {
            tx.rollback().await?;
        } else {
            sqlx::query("DELETE FROM uploads WHERE updated_at < ?")
                .bind(&policy.uploads_before)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
        Ok(report)
    }

    async fn known(
        &self,
        blobs: &[Digest],
        uploads: &[String],
    ) -> Result<(Vec<bool>, Vec<bool>), StoreError> {
        let mut known_blobs = Vec::with_capacity(blobs.len());
        for d in blobs {
            let row: Option<i64> = sqlx::query_scalar("SELECT 1 FROM blobs WHERE digest = ?")
                .bind(d.to_string())
                .fetch_optional(&self.pool)
                .await?;
            known_blobs.push(row.is_some());
        }
        let mut known_uploads = Vec::with_capacity(uploads.len());
        for id in uploads {
            let row: Option<i64> = sqlx::query_scalar("SELECT 1 FROM uploads WHERE id = ?")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
            known_uploads.push(row.is_some());
        }
        Ok((known_blobs, known_uploads))
    }

    async fn usage(&self) -> Result<Usage, StoreError> {
        let (repositories, manifests, blobs, blob_bytes, uploads): (i64, i64, i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(DISTINCT repository_id) FROM manifests), (SELECT COUNT(*) FROM manifests), \
             (SELECT COUNT(*) FROM blobs), (SELECT COALESCE(SUM(size), 0) FROM blobs), (SELECT COUNT(*) FROM uploads)",
        )
        .fetch_one(&self.pool)
        .await?;
        let n = |v: i64| v.max(0) as u64;
        Ok(Usage {
            repositories: n(repositories),
            manifests: n(manifests),
            blobs: n(blobs),
            blob_bytes: n(blob_bytes),
            uploads: n(uploads),
        })
    }

    async fn catalog(&self, filter: &CatalogFilter) -> Result<Vec<CatalogRow>, StoreError> {
        catalog(&self.pool, filter).await
    }

    async fn tag_details(
        &self,
        repo: &RepositoryName,
        yank_type: &str,
    ) -> Result<Vec<TagRow>, StoreError> {
        tag_details(&self.pool, repo, yank_type).await
    }

    async fn signatures(
        &self,
        repo: &RepositoryName,
        subject: &Digest,
    ) -> Result<Vec<SignatureRecord>, StoreError> {
        signatures(&self.pool, repo, subject).await
    }
}
