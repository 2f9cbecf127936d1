//! One `Store` test suite, run against SQLite always and against PostgreSQL whenever
//! `WHARF_TEST_POSTGRES_URL` is set (`.ci/run` starts one); each test gets a fresh database
//! (a temporary SQLite file, or its own PostgreSQL schema).

use std::sync::Arc;

use wharf_oci::{Digest, Reference, RepositoryName, Tag};
use wharf_registry::storage::UploadId;
use wharf_registry::store::{
    CatalogFilter, Direction, GcPolicy, NewManifest, Page, PgStore, PutOutcome, SignatureRecord,
    SqliteStore, Store, UnlinkOutcome, UploadClaim, UploadState, Visibility, WasmIndexEntry,
    Window,
};

struct Backend {
    name: &'static str,
    store: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
}

async fn backends() -> Vec<Backend> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStore::open(&dir.path().join("metadata.db"))
        .await
        .unwrap();
    let mut out = vec![Backend {
        name: "sqlite",
        store: Arc::new(sqlite),
        _dir: Some(dir),
    }];
    match crate::harness::postgres_url() {
        Some(url) => {
            let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
            let pg = PgStore::connect(&url, Some(&schema))
                .await
                .unwrap_or_else(|e| panic!("PostgreSQL at WHARF_TEST_POSTGRES_URL: {e:?}"));
            out.push(Backend {
                name: "postgres",
                store: Arc::new(pg),
                _dir: None,
            });
        }
        // under CI (.ci/run starts PostgreSQL) a missing database is a failure, not a skip
        None => {
            eprintln!("WHARF_TEST_POSTGRES_URL is not set: the Store suite runs on SQLite only")
        }
    }
    out
}

fn repo(s: &str) -> RepositoryName {
    s.parse().unwrap()
}

/// A time written as RFC 3339.
fn at(s: &str) -> chrono::DateTime<chrono::Utc> {
    s.parse().unwrap()
}

/// Values as their text.
fn texts<T: ToString>(items: &[T]) -> Vec<String> {
    items.iter().map(ToString::to_string).collect()
}

fn d(s: &str) -> Digest {
    Digest::sha256_of(s.as_bytes())
}

fn tag(s: &str) -> Tag {
    s.parse().unwrap()
}

fn manifest<'a>(digest: &'a Digest, content: &'a [u8], blobs: Vec<Digest>) -> NewManifest<'a> {
    NewManifest {
        digest,
        media_type: "application/vnd.oci.image.manifest.v1+json",
        artifact_type: Some("application/vnd.example"),
        subject: None,
        content,
        annotations: None,
        blobs,
        manifests: Vec::new(),
        wasm: None,
        signatures: Vec::new(),
    }
}

/// A Wasm index entry exporting and importing the given interfaces.
fn wasm(layer: &Digest, exports: &[&str], imports: &[&str], description: &str) -> WasmIndexEntry {
    WasmIndexEntry {
        kind: wharf_registry::store::WasmKind::Component,
        target: Some("wasi:cli/command@0.2.12".into()),
        package: None,
        imports: imports.iter().map(|s| s.to_string()).collect(),
        exports: exports.iter().map(|s| s.to_string()).collect(),
        layer_digest: layer.clone(),
        layer_size: 5,
        description: Some(description.into()),
        licenses: Some("Apache-2.0".into()),
        source: None,
        authors: None,
        wit: Some("package root:component;\n".into()),
    }
}

/// A catalog filter showing every repository.
fn filter(text: &str, interface: Option<(Direction, String)>) -> CatalogFilter {
    CatalogFilter {
        text: text.into(),
        interface,
        visible: Visibility::all(),
    }
}

/// The first 100 rows.
const WHOLE: Window = Window {
    offset: 0,
    limit: 100,
};

/// A database from before the package summary (migration 0007: no summary rows) gets them
/// when it is opened, so its catalog lists and searches what it holds.
#[tokio::test(flavor = "multi_thread")]
async fn summaries_are_filled_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metadata.db");
    let layer = d("layer");
    {
        let s = SqliteStore::open(&path).await.unwrap();
        let r = repo("acme/old");
        s.link_blob(&r, &layer, 5).await.unwrap();
        for version in ["1.0.0", "2.0.0"] {
            let md = d(version);
            let content = format!("{{\"v\":\"{version}\"}}").into_bytes();
            let mut m = manifest(&md, &content, vec![layer.clone()]);
            m.wasm = Some(wasm(&layer, &["wasi:cli/run@0.2.0"], &[], "an old package"));
            s.put_manifest(&r, &m, &[tag(version)]).await.unwrap();
        }
    }
    let url = format!("sqlite://{}", path.display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let removed = sqlx::query("DELETE FROM package_summary")
        .execute(&pool)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(removed, 1);
    pool.close().await;

    let s = SqliteStore::open(&path).await.unwrap();
    let (rows, total) = s.catalog(&filter("", None), false, WHOLE).await.unwrap();
    assert_eq!(total, 1);
    assert_eq!(
        (rows[0].repository.as_str(), rows[0].tag.as_str()),
        ("acme/old", "2.0.0")
    );
    let by_export = filter("", Some((Direction::Export, "wasi:cli/run".into())));
    assert_eq!(s.catalog(&by_export, false, WHOLE).await.unwrap().1, 1);
}

/// Generates one `#[tokio::test]` per check, running it on every backend.
macro_rules! suite {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread")]
        async fn $name() {
            for b in backends().await {
                eprintln!("{} on {}", stringify!($name), b.name);
                checks::$name(b.store.as_ref()).await;
            }
        }
    )*};
}

suite!(
    blobs_and_uploads,
    manifests_tags_and_lookup,
    referrers_and_deletes,
    garbage_collection,
    listings_and_usage,
    catalog_and_signatures,
    catalog_latest_follows_every_change,
    listings_filter_by_visibility_before_paging,
    listings_follow_every_manifest_change,
    release_log_appends_with_each_tag_change
);

mod checks {
    use super::*;

    pub async fn blobs_and_uploads(s: &dyn Store) {
        let r = repo("a/b");
        assert_eq!(s.repository_blob(&r, &d("x")).await.unwrap(), None);
        s.link_blob(&r, &d("x"), 42).await.unwrap();
        s.link_blob(&r, &d("x"), 42).await.unwrap(); // idempotent
        assert_eq!(s.repository_blob(&r, &d("x")).await.unwrap(), Some(42));
        assert_eq!(
            s.repository_blob(&repo("other"), &d("x")).await.unwrap(),
            None
        );
        let id = UploadId::new();
        assert_eq!(s.upload(&r, &id).await.unwrap(), None);
        s.create_upload(&r, &id, b"initial hash").await.unwrap();
        assert_eq!(s.upload(&r, &id).await.unwrap(), Some(0));
        assert_eq!(
            s.upload(&repo("other"), &id).await.unwrap(),
            None,
            "a session belongs to its repository"
        );
        // one writer at a time: a second claim is refused until the first is released
        let far_past = at("2000-01-01T00:00:00.000Z");
        assert_eq!(
            s.claim_upload(&r, &id, "writer-a", far_past).await.unwrap(),
            UploadClaim::Claimed(UploadState {
                size: 0,
                hash_state: Some(b"initial hash".to_vec()),
                storage_state: None,
            })
        );
        assert_eq!(
            s.claim_upload(&r, &id, "writer-b", far_past).await.unwrap(),
            UploadClaim::Busy { size: 0 }
        );
        assert_eq!(
            s.claim_upload(&repo("other"), &id, "writer-c", far_past)
                .await
                .unwrap(),
            UploadClaim::Unknown,
            "a claim names the session's repository"
        );
        let at_size = |size: u64| UploadState {
            size,
            hash_state: Some(format!("hash at {size}").into_bytes()),
            storage_state: Some(format!("{{\"parts\":{size}}}")),
        };
        assert!(
            !s.release_upload(&id, "writer-b", &at_size(99))
                .await
                .unwrap(),
            "not b's to release"
        );
        assert!(
            s.release_upload(&id, "writer-a", &at_size(1234))
                .await
                .unwrap()
        );
        assert_eq!(s.upload(&r, &id).await.unwrap(), Some(1234));
        assert!(
            !s.release_upload(&id, "writer-a", &at_size(1))
                .await
                .unwrap(),
            "released once"
        );
        assert_eq!(
            s.claim_upload(&r, &id, "writer-b", far_past).await.unwrap(),
            UploadClaim::Claimed(at_size(1234)),
            "the whole state comes back with the claim"
        );
        // a claim older than the lease counts as abandoned and may be taken over
        assert_eq!(
            s.claim_upload(&r, &id, "writer-c", at("2999-01-01T00:00:00.000Z"))
                .await
                .unwrap(),
            UploadClaim::Claimed(at_size(1234))
        );
        assert!(
            !s.release_upload(&id, "writer-b", &at_size(5))
                .await
                .unwrap(),
            "taken over"
        );
        assert!(
            s.release_upload(&id, "writer-c", &at_size(1234))
                .await
                .unwrap()
        );
        s.check_writable().await.unwrap();
        s.delete_upload(&id).await.unwrap();
        assert_eq!(s.upload(&r, &id).await.unwrap(), None);
        let (blobs, uploads) = s
            .known(&[d("x"), d("y")], std::slice::from_ref(&id))
            .await
            .unwrap();
        assert_eq!((blobs, uploads), (vec![true, false], vec![false]));
        // more values than one batched lookup takes
        let many: Vec<_> = (0..1200).map(|i| d(&format!("many-{i}"))).collect();
        for i in [0, 499, 500, 1199] {
            s.link_blob(&r, &many[i], 1).await.unwrap();
        }
        let (blobs, _) = s.known(&many, &[]).await.unwrap();
        let found: Vec<usize> = (0..many.len()).filter(|&i| blobs[i]).collect();
        assert_eq!(found, vec![0, 499, 500, 1199]);
    }

    pub async fn manifests_tags_and_lookup(s: &dyn Store) {
        let r = repo("m");
        let (md, content) = (d("manifest"), b"{\"m\":1}".to_vec());
        let missing = s
            .put_manifest(&r, &manifest(&md, &content, vec![d("layer")]), &[tag("v1")])
            .await
            .unwrap();
        assert_eq!(missing, PutOutcome::BlobMissing(d("layer")));
        assert!(
            !s.has_manifest(&r, &md).await.unwrap(),
            "nothing stored when a blob is missing"
        );
        s.link_blob(&r, &d("layer"), 5).await.unwrap();
        let mut m = manifest(&md, &content, vec![d("layer")]);
        m.wasm = Some(wasm(
            &d("layer"),
            &["wasi:cli/run@0.2.12"],
            &["wasi:cli/stdout@0.2.12"],
            "a command",
        ));
        assert_eq!(
            s.put_manifest(&r, &m, &[tag("v1"), tag("latest")])
                .await
                .unwrap(),
            PutOutcome::Stored
        );
        assert_eq!(
            s.put_manifest(&r, &m, &[]).await.unwrap(),
            PutOutcome::Stored,
            "idempotent"
        );
        let by_tag = s
            .manifest(&r, &Reference::Tag(tag("latest")))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (by_tag.digest.clone(), by_tag.content.to_vec()),
            (md.clone(), content.clone())
        );
        let by_digest = s
            .manifest(&r, &Reference::Digest(md.clone()))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            by_digest.media_type,
            "application/vnd.oci.image.manifest.v1+json"
        );
        assert!(s.has_manifest(&r, &md).await.unwrap());
        let w = s.wasm_entry(&r, &md).await.unwrap().unwrap();
        assert_eq!(w.exports, vec!["wasi:cli/run@0.2.12".to_string()]);
        // moving a tag
        let (md2, content2) = (d("manifest2"), b"{\"m\":2}".to_vec());
        s.put_manifest(&r, &manifest(&md2, &content2, vec![]), &[tag("latest")])
            .await
            .unwrap();
        assert_eq!(
            s.manifest(&r, &Reference::Tag(tag("latest")))
                .await
                .unwrap()
                .unwrap()
                .digest,
            md2
        );
        assert_eq!(
            s.manifest(&r, &Reference::Tag(tag("v1")))
                .await
                .unwrap()
                .unwrap()
                .digest,
            md
        );
        assert!(
            s.manifest(&repo("elsewhere"), &Reference::Digest(md.clone()))
                .await
                .unwrap()
                .is_none()
        );
    }

    pub async fn referrers_and_deletes(s: &dyn Store) {
        let r = repo("r");
        let (subject, sc) = (d("subject"), b"{}".to_vec());
        s.put_manifest(&r, &manifest(&subject, &sc, vec![]), &[tag("v1")])
            .await
            .unwrap();
        let annotations = std::collections::BTreeMap::from([("k".to_owned(), "v".to_owned())]);
        for (name, ty) in [
            ("sig", "application/vnd.sig"),
            ("sbom", "application/vnd.sbom"),
        ] {
            let (md, c) = (d(name), name.as_bytes().to_vec());
            let mut m = manifest(&md, &c, vec![]);
            m.artifact_type = Some(ty);
            m.subject = Some(&subject);
            m.annotations = Some(&annotations);
            s.put_manifest(&r, &m, &[]).await.unwrap();
        }
        let all = s.referrers(&r, &subject, None).await.unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].annotations.as_ref().unwrap()["k"], "v");
        let sboms = s
            .referrers(&r, &subject, Some("application/vnd.sbom"))
            .await
            .unwrap();
        assert_eq!(sboms.len(), 1);
        assert_eq!(sboms[0].digest, d("sbom"));
        assert!(
            s.referrers(&r, &d("nothing"), None)
                .await
                .unwrap()
                .is_empty()
        );
        // deletes
        s.link_blob(&r, &d("blob"), 1).await.unwrap();
        let (user, uc) = (d("user"), b"{\"u\":1}".to_vec());
        s.put_manifest(&r, &manifest(&user, &uc, vec![d("blob")]), &[tag("u")])
            .await
            .unwrap();
        assert_eq!(
            s.unlink_blob(&r, &d("blob")).await.unwrap(),
            UnlinkOutcome::Referenced(user.clone())
        );
        assert!(s.delete_tag(&r, &tag("u")).await.unwrap());
        assert!(!s.delete_tag(&r, &tag("u")).await.unwrap());
        assert!(s.delete_manifest(&r, &user).await.unwrap());
        assert!(!s.delete_manifest(&r, &user).await.unwrap());
        assert_eq!(
            s.unlink_blob(&r, &d("blob")).await.unwrap(),
            UnlinkOutcome::Unlinked
        );
        assert_eq!(
            s.unlink_blob(&r, &d("blob")).await.unwrap(),
            UnlinkOutcome::NotFound
        );
        assert!(s.delete_manifest(&r, &d("sbom")).await.unwrap());
        assert_eq!(s.referrers(&r, &subject, None).await.unwrap().len(), 1);
    }

    pub async fn garbage_collection(s: &dyn Store) {
        let r = repo("g");
        s.link_blob(&r, &d("kept"), 1).await.unwrap();
        s.link_blob(&r, &d("dangling"), 2).await.unwrap();
        let (md, c) = (d("m"), b"{}".to_vec());
        s.put_manifest(&r, &manifest(&md, &c, vec![d("kept")]), &[])
            .await
            .unwrap();
        let id = UploadId::new();
        s.create_upload(&r, &id, b"").await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        let now = chrono::Utc::now();
        let policy = GcPolicy {
            grace_before: now,
            uploads_before: now,
            untagged: true,
        };
        let dry = s.collect_garbage(&policy, true).await.unwrap();
        assert_eq!(texts(&dry.manifests), vec![format!("g@{md}")]);
        assert_eq!(dry.uploads, vec![id.clone()]);
        assert!(
            s.has_manifest(&r, &md).await.unwrap(),
            "a dry run changes nothing"
        );
        let done = s.collect_garbage(&policy, false).await.unwrap();
        assert_eq!(done.manifests, dry.manifests);
        let mut links = texts(&done.links);
        links.sort();
        let mut expected = vec![format!("g@{}", d("dangling")), format!("g@{}", d("kept"))];
        expected.sort();
        assert_eq!(
            links, expected,
            "the untagged manifest went first, freeing its blob"
        );
        assert_eq!(done.blobs.len(), 2);
        assert_eq!(s.upload(&r, &id).await.unwrap(), None);
        // a blob touched after the cutoff survives the next pass
        s.link_blob(&r, &d("fresh"), 3).await.unwrap();
        let past = at("2000-01-01T00:00:00.000Z");
        let keep = GcPolicy {
            grace_before: past,
            uploads_before: past,
            untagged: true,
        };
        let none = s.collect_garbage(&keep, false).await.unwrap();
        assert!(none.links.is_empty() && none.blobs.is_empty());
        // a link touched after the cutoff survives a pass that removes an untouched one
        // linked at the same time
        s.link_blob(&r, &d("untouched"), 4).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        let cutoff = chrono::Utc::now();
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        s.touch_blob(&r, &d("fresh"), at("2999-01-01T00:00:00.000Z"))
            .await
            .unwrap();
        let pass = s
            .collect_garbage(
                &GcPolicy {
                    grace_before: cutoff,
                    uploads_before: at("2000-01-01T00:00:00.000Z"),
                    untagged: false,
                },
                false,
            )
            .await
            .unwrap();
        assert_eq!(texts(&pass.links), vec![format!("g@{}", d("untouched"))]);
        assert_eq!(s.repository_blob(&r, &d("fresh")).await.unwrap(), Some(3));
        assert_eq!(s.repository_blob(&r, &d("untouched")).await.unwrap(), None);
    }

    pub async fn listings_and_usage(s: &dyn Store) {
        let (md, c) = (d("m"), b"{}".to_vec());
        for name in ["b/x", "a/y", "c"] {
            s.put_manifest(
                &repo(name),
                &manifest(&md, &c, vec![]),
                &[tag("Z"), tag("a"), tag("1.0.0"), tag("_x"), tag("B")],
            )
            .await
            .unwrap();
        }
        s.link_blob(&repo("blobs/only"), &d("b"), 10).await.unwrap();
        assert_eq!(
            s.repositories(Page { n: 10, last: None }, &Visibility::all())
                .await
                .unwrap(),
            vec!["a/y", "b/x", "c"]
        );
        assert_eq!(
            s.repositories(
                Page {
                    n: 1,
                    last: Some("a/y")
                },
                &Visibility::all()
            )
            .await
            .unwrap(),
            vec!["b/x"]
        );
        assert_eq!(
            s.tags(&repo("c"), Page { n: 10, last: None })
                .await
                .unwrap()
                .unwrap(),
            vec!["1.0.0", "B", "Z", "_x", "a"],
            "byte order on both databases, whatever their locale"
        );
        assert_eq!(
            s.tags(
                &repo("c"),
                Page {
                    n: 1,
                    last: Some("1.0.0")
                }
            )
            .await
            .unwrap()
            .unwrap(),
            vec!["B"]
        );
        assert_eq!(
            s.tags(
                &repo("c"),
                Page {
                    n: 10,
                    last: Some("Z")
                }
            )
            .await
            .unwrap()
            .unwrap(),
            vec!["_x", "a"],
            "pages continue in the order they are sorted in"
        );
        assert_eq!(
            s.tags(&repo("nobody"), Page { n: 10, last: None })
                .await
                .unwrap(),
            None
        );
        let u = s.usage().await.unwrap();
        assert_eq!(
            (u.repositories, u.manifests, u.blobs, u.blob_bytes),
            (3, 3, 1, 10)
        );
    }

    pub async fn catalog_and_signatures(s: &dyn Store) {
        let layer = d("layer");
        // three packages: an HTTP handler, a command using sockets, a non-Wasm artifact
        let items = [
            (
                "acme/proxy",
                "1.0.0",
                &["wasi:http/incoming-handler@0.2.0"][..],
                &["wasi:http/types@0.2.0"][..],
                "An HTTP proxy",
            ),
            (
                "acme/proxy",
                "1.1.0",
                &["wasi:http/incoming-handler@0.2.3"][..],
                &["wasi:http/types@0.2.3"][..],
                "An HTTP proxy, newer",
            ),
            (
                "tools/nc",
                "0.1.0",
                &["wasi:cli/run@0.2.0"][..],
                &["wasi:sockets/tcp@0.2.0", "wasi:sockets/network@0.2.0"][..],
                "Netcat",
            ),
        ];
        for (i, (name, version, exports, imports, description)) in items.iter().enumerate() {
            let r = repo(name);
            s.link_blob(&r, &layer, 5).await.unwrap();
            let md = d(&format!("catalog {i}"));
            let content = format!("{{\"i\":{i}}}").into_bytes();
            let mut m = manifest(&md, &content, vec![layer.clone()]);
            m.wasm = Some(wasm(&layer, exports, imports, description));
            s.put_manifest(&r, &m, &[tag(version)]).await.unwrap();
            // tags are ordered by time: keep them apart
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let other = repo("images/base");
        let (od, oc) = (d("image"), b"{\"image\":1}".to_vec());
        s.put_manifest(&other, &manifest(&od, &oc, vec![]), &[tag("latest")])
            .await
            .unwrap();

        let all = s.catalog(&filter("", None), false, WHOLE).await.unwrap().0;
        let names: Vec<(&str, &str)> = all
            .iter()
            .map(|r| (r.repository.as_str(), r.tag.as_str()))
            .collect();
        assert_eq!(
            names,
            [("acme/proxy", "1.1.0"), ("tools/nc", "0.1.0")],
            "latest tagged Wasm manifest per repository"
        );
        let find = |text: &str, direction: &str, interface: &str| {
            let direction = match direction {
                "export" => Some(Direction::Export),
                "import" => Some(Direction::Import),
                _ => None,
            };
            let f = filter(text, direction.map(|d| (d, interface.to_owned())));
            async move {
                s.catalog(&f, false, WHOLE)
                    .await
                    .unwrap()
                    .0
                    .into_iter()
                    .map(|r| r.repository)
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(
            find("PROXY", "", "").await,
            ["acme/proxy"],
            "case-insensitive name"
        );
        assert_eq!(find("netcat", "", "").await, ["tools/nc"], "description");
        assert_eq!(
            find("", "export", "wasi:http/incoming-handler").await,
            ["acme/proxy"]
        );
        assert_eq!(
            find("", "export", "wasi:http/incoming-handler@0.2.3").await,
            ["acme/proxy"]
        );
        assert!(
            find("", "export", "wasi:http/incoming-handler@0.2.0")
                .await
                .is_empty(),
            "only the latest version counts"
        );
        assert_eq!(find("", "import", "wasi:sockets/*").await, ["tools/nc"]);
        // each way a glob is answered: equality, prefix range, LIKE
        assert_eq!(find("", "import", "wasi:sockets/tcp").await, ["tools/nc"]);
        assert_eq!(
            find("", "import", "wasi:sockets/tcp@0.2.0").await,
            ["tools/nc"]
        );
        assert!(
            find("", "import", "wasi:sockets/tc").await.is_empty(),
            "not a prefix match"
        );
        assert_eq!(
            find("", "import", "wasi:sockets/tcp@0.2*").await,
            ["tools/nc"]
        );
        assert_eq!(find("", "import", "WASI:SOCKETS/*").await, ["tools/nc"]);
        assert_eq!(
            find("", "export", "*incoming-handler*").await,
            ["acme/proxy"]
        );
        assert_eq!(find("", "export", "wasi:*/run").await, ["tools/nc"]);
        assert!(find("", "export", "wasi:*/runs").await.is_empty());
        assert_eq!(find("", "import", "*").await, ["acme/proxy", "tools/nc"]);
        assert!(find("", "export", "wasi:sockets/*").await.is_empty());
        assert!(find("nothing-like-this", "", "").await.is_empty());

        let tags = s
            .tag_details(&repo("acme/proxy"), "application/vnd.wharf.yank.v1+json")
            .await
            .unwrap();
        assert_eq!(
            tags.iter().map(|t| t.tag.as_str()).collect::<Vec<_>>(),
            ["1.0.0", "1.1.0"]
        );
        assert!(
            tags.iter()
                .all(|t| t.kind.map(|k| k.as_str()) == Some("component") && t.yank.is_none())
        );
        assert_eq!(
            s.wasm_entry(&repo("acme/proxy"), &d("catalog 0"))
                .await
                .unwrap()
                .unwrap()
                .description
                .as_deref(),
            Some("An HTTP proxy")
        );

        // a yank mark and a signature, both referrers of 1.0.0
        let r = repo("acme/proxy");
        let subject = d("catalog 0");
        let (yd, yc) = (d("yank"), b"{\"yank\":1}".to_vec());
        let reason = std::collections::BTreeMap::from([(
            "dev.wharf.yank.reason".to_string(),
            "CVE".to_string(),
        )]);
        let mut y = manifest(&yd, &yc, vec![]);
        y.artifact_type = Some("application/vnd.wharf.yank.v1+json");
        y.subject = Some(&subject);
        y.annotations = Some(&reason);
        s.put_manifest(&r, &y, &[]).await.unwrap();
        let (sd, sc) = (d("signature"), b"{\"sig\":1}".to_vec());
        let mut sig = manifest(&sd, &sc, vec![]);
        sig.subject = Some(&subject);
        sig.signatures = vec![SignatureRecord {
            signature_digest: sd.clone(),
            layer: 0,
            subject: subject.clone(),
            key_id: Some("sha256:0123456789abcdef".into()),
            status: wharf_registry::store::SignatureStatus::Verified,
            detail: None,
        }];
        s.put_manifest(&r, &sig, &[]).await.unwrap();
        let tags = s
            .tag_details(&r, "application/vnd.wharf.yank.v1+json")
            .await
            .unwrap();
        assert!(
            tags[0].yank.as_ref().unwrap()["dev.wharf.yank.reason"].contains("CVE"),
            "{tags:?}"
        );
        assert!(tags[1].yank.is_none());
        let sigs = s.signatures(&r, &subject).await.unwrap();
        assert_eq!(sigs.len(), 1);
        assert_eq!(sigs[0].key_id.as_deref(), Some("sha256:0123456789abcdef"));
        assert!(s.signatures(&r, &d("catalog 1")).await.unwrap().is_empty());
        // deleting the signature manifest removes its record
        assert!(s.delete_manifest(&r, &sd).await.unwrap());
        assert!(s.signatures(&r, &subject).await.unwrap().is_empty());
    }

    /// The catalog's latest version of a package, after each kind of change: a higher
    /// version, a yank mark and its removal, a tag deletion, a non-semver tag, the last tag
    /// gone. It must always be what [`wharf_registry::store::latest_version`] says of the
    /// package's tags.
    pub async fn catalog_latest_follows_every_change(s: &dyn Store) {
        let r = repo("acme/app");
        let layer = d("layer");
        s.link_blob(&r, &layer, 5).await.unwrap();
        let put = async |version: &str, description: &str| {
            let md = d(version);
            let content = format!("{{\"v\":\"{version}\"}}").into_bytes();
            let mut m = manifest(&md, &content, vec![layer.clone()]);
            m.wasm = Some(wasm(&layer, &["wasi:cli/run@0.2.0"], &[], description));
            s.put_manifest(&r, &m, &[tag(version)]).await.unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            md
        };
        let latest = async || {
            let (rows, total) = s
                .catalog(&filter("acme/app", None), false, WHOLE)
                .await
                .unwrap();
            assert_eq!(rows.len() as u64, total);
            let tags = s
                .tag_details(&r, wharf_registry::store::YANK_ARTIFACT_TYPE)
                .await
                .unwrap();
            let rule = wharf_registry::store::latest_version(&tags).map(|t| t.tag.to_string());
            let shown = rows.first().map(|row| row.tag.to_string());
            assert_eq!(shown, rule, "catalog and the latest-version rule disagree");
            shown.zip(rows.first().and_then(|row| row.description.clone()))
        };
        put("1.0.0", "first").await;
        let two = put("2.0.0", "second").await;
        put("1.5.0", "older but newer").await;
        assert_eq!(latest().await, Some(("2.0.0".into(), "second".into())));

        // yank 2.0.0: 1.5.0 becomes latest; removing the mark brings 2.0.0 back
        let (yd, yc) = (d("yank 2"), b"{\"yank\":2}".to_vec());
        let mut y = manifest(&yd, &yc, vec![]);
        y.artifact_type = Some(wharf_registry::store::YANK_ARTIFACT_TYPE);
        y.subject = Some(&two);
        s.put_manifest(&r, &y, &[]).await.unwrap();
        assert_eq!(
            latest().await.unwrap().0,
            "1.5.0",
            "a yanked version is not latest"
        );
        assert!(s.delete_manifest(&r, &yd).await.unwrap());
        assert_eq!(latest().await.unwrap().0, "2.0.0", "the yank mark is gone");

        // a newer non-semver tag does not replace a semver version
        put("dev", "nightly").await;
        assert_eq!(latest().await.unwrap().0, "2.0.0");
        assert!(s.delete_tag(&r, &tag("2.0.0")).await.unwrap());
        assert_eq!(latest().await.unwrap().0, "1.5.0", "tag deleted");
        assert!(s.delete_manifest(&r, &d("1.5.0")).await.unwrap());
        assert!(s.delete_tag(&r, &tag("1.0.0")).await.unwrap());
        assert_eq!(
            latest().await,
            Some(("dev".into(), "nightly".into())),
            "without semver versions, the most recent tag"
        );
        assert!(s.delete_tag(&r, &tag("dev")).await.unwrap());
        assert_eq!(latest().await, None, "no Wasm tag left: not a package");
        // the repository still holds manifests, so it is still listed as a repository
        let (names, total) = s.repository_page(&Visibility::all(), WHOLE).await.unwrap();
        assert_eq!((texts(&names), total), (vec!["acme/app".to_string()], 1));
    }

    /// A repository is listed (`_catalog` and the API's repository pages) exactly while it
    /// holds a manifest, through re-puts of the same manifest, concurrent puts, deletes and
    /// garbage collection (the count migration 0008 keeps by triggers).
    pub async fn listings_follow_every_manifest_change(s: &dyn Store) {
        let listed = async || {
            let (page, total) = s.repository_page(&Visibility::all(), WHOLE).await.unwrap();
            let catalog = s
                .repositories(Page { n: 10, last: None }, &Visibility::all())
                .await
                .unwrap();
            assert_eq!(texts(&page), texts(&catalog), "the two listings agree");
            assert_eq!(usize::try_from(total).unwrap(), page.len());
            texts(&catalog)
        };
        let r = repo("count/me");
        s.link_blob(&r, &d("b"), 1).await.unwrap();
        assert!(
            listed().await.is_empty(),
            "blobs alone do not list a repository"
        );
        let (one, c1) = (d("one"), b"{\"n\":1}".to_vec());
        for _ in 0..3 {
            // the same manifest again inserts nothing and counts nothing
            s.put_manifest(&r, &manifest(&one, &c1, vec![]), &[tag("v1")])
                .await
                .unwrap();
        }
        let contents: Vec<Vec<u8>> = (0..8)
            .map(|i| format!("{{\"c\":{i}}}").into_bytes())
            .collect();
        let digests: Vec<Digest> = contents.iter().map(|c| Digest::sha256_of(c)).collect();
        let puts = digests.iter().zip(&contents).map(|(md, c)| {
            let r = r.clone();
            async move { s.put_manifest(&r, &manifest(md, c, vec![]), &[]).await }
        });
        for put in futures_util::future::join_all(puts).await {
            put.unwrap();
        }
        assert_eq!(listed().await, vec!["count/me"]);
        assert!(s.delete_manifest(&r, &one).await.unwrap());
        assert!(!s.delete_manifest(&r, &one).await.unwrap());
        assert_eq!(listed().await, vec!["count/me"], "eight manifests are left");
        let deletes = digests[..4].iter().map(|md| s.delete_manifest(&r, md));
        for deleted in futures_util::future::join_all(deletes).await {
            assert!(deleted.unwrap());
        }
        assert_eq!(listed().await, vec!["count/me"], "four manifests are left");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        let now = chrono::Utc::now();
        let policy = GcPolicy {
            grace_before: now,
            uploads_before: now,
            untagged: true,
        };
        let gone = s.collect_garbage(&policy, false).await.unwrap();
        assert_eq!(gone.manifests.len(), 4, "the four untagged manifests");
        assert!(listed().await.is_empty(), "no manifest left, not listed");
        s.put_manifest(&r, &manifest(&one, &c1, vec![]), &[tag("v1")])
            .await
            .unwrap();
        assert_eq!(listed().await, vec!["count/me"], "listed again");
    }

    /// Each tag change appends one release log entry in its transaction, with dense
    /// indexes even when many are made at once (PostgreSQL's append lock), and the stored
    /// hashes give the tree a replay of the entries gives.
    pub async fn release_log_appends_with_each_tag_change(s: &dyn Store) {
        use wharf_sign::log::{Action, LogEntry, Replay};
        let r = repo("logged/app");
        let (one, c1) = (d("log one"), b"{\"log\":1}".to_vec());
        let (two, c2) = (d("log two"), b"{\"log\":2}".to_vec());
        s.put_manifest(
            &r,
            &manifest(&one, &c1, vec![]),
            &[tag("1.0.0"), tag("latest")],
        )
        .await
        .unwrap();
        s.put_manifest(&r, &manifest(&one, &c1, vec![]), &[tag("1.0.0")])
            .await
            .unwrap();
        s.put_manifest(&r, &manifest(&two, &c2, vec![]), &[tag("latest")])
            .await
            .unwrap();
        assert!(s.delete_tag(&r, &tag("latest")).await.unwrap());
        assert_eq!(
            s.log_size().await.unwrap(),
            4,
            "the re-put recorded nothing"
        );
        let puts = (0..16).map(|i| {
            let r = r.clone();
            let c1 = c1.clone();
            let one = one.clone();
            async move {
                let m = manifest(&one, &c1, vec![]);
                s.put_manifest(&r, &m, &[tag(&format!("v{i}"))]).await
            }
        });
        for put in futures_util::future::join_all(puts).await {
            put.unwrap();
        }
        let size = s.log_size().await.unwrap();
        assert_eq!(size, 20);
        let entries = s.log_entries(0, 100).await.unwrap();
        assert_eq!(entries.len(), 20, "indexes 0..20 without gaps");
        let parsed: Vec<LogEntry> = entries
            .iter()
            .map(|e| LogEntry::parse(e).unwrap())
            .collect();
        let actions: Vec<Action> = parsed.iter().take(4).map(|e| e.action).collect();
        assert_eq!(
            actions,
            [
                Action::Publish,
                Action::Publish,
                Action::Move,
                Action::Delete
            ]
        );
        assert_eq!(
            parsed[2].previous.as_deref(),
            Some(one.to_string().as_str())
        );
        let mut replay = Replay::new();
        for e in &entries {
            replay.push(e).unwrap();
        }
        let known = s
            .log_hashes(&wharf_sign::log::root_indexes(size))
            .await
            .unwrap();
        assert_eq!(
            wharf_sign::log::tree_root(size, &known).unwrap(),
            replay.root(size).unwrap()
        );
        // one key, created once, whatever asks first
        let make = || {
            Ok((
                "PRIVATE+KEY+x+00000000+AA==".to_owned(),
                "x+00000000+AA==".to_owned(),
            ))
        };
        let first = s.log_key(&make).await.unwrap();
        let other = || Ok(("other".to_owned(), "other".to_owned()));
        assert_eq!(s.log_key(&other).await.unwrap(), first);
    }

    /// Listings apply the viewer's visibility in the database, before paging and counting,
    /// and agree with `Visibility::allows` name by name: longest prefix first, whole path
    /// parts only, of equal prefixes the later one.
    pub async fn listings_filter_by_visibility_before_paging(s: &dyn Store) {
        let names = [
            "a/x",
            "other",
            "team",
            "team/one",
            "team/secret/two",
            "team/secretive",
            "teamwork/z",
            "team_b/y",
            "zz/last",
        ];
        let layer = d("layer");
        for (i, name) in names.iter().enumerate() {
            let r = repo(name);
            s.link_blob(&r, &layer, 5).await.unwrap();
            let md = d(&format!("v {i}"));
            let content = format!("{{\"i\":{i}}}").into_bytes();
            let mut m = manifest(&md, &content, vec![layer.clone()]);
            m.wasm = Some(wasm(&layer, &["wasi:cli/run@0.2.0"], &[], name));
            s.put_manifest(&r, &m, &[tag("1.0.0")]).await.unwrap();
        }
        let rule = |p: &str, shown: bool| (p.to_string(), shown);
        let cases = [
            Visibility::all(),
            Visibility::by_prefix([]),
            Visibility::by_prefix([
                rule("", true),
                rule("team", false),
                rule("team/secret/", true),
            ]),
            Visibility::by_prefix([rule("team/", true)]),
            Visibility::by_prefix([rule("team", true), rule("team/", false)]),
            Visibility::by_prefix([rule("", false), rule("a", true), rule("zz/last", true)]),
            // a bearer token: what anyone may see, and exactly the repositories it names
            // (not those under them)
            Visibility::by_prefix([rule("a", true)])
                .also(["team".to_owned(), "zz/last".to_owned()]),
            Visibility::by_prefix([]).also(["team/one".to_owned(), "no/such".to_owned()]),
        ];
        for visible in cases {
            // byte order, as every listing sorts
            let mut expected: Vec<String> = names
                .iter()
                .filter(|n| visible.allows(n))
                .map(|n| n.to_string())
                .collect();
            expected.sort();
            // pages of 2, walked to the end: repositories, packages by name, newest first
            let (mut repositories, mut by_name, mut recent) = (Vec::new(), Vec::new(), Vec::new());
            let f = CatalogFilter {
                visible: visible.clone(),
                ..filter("", None)
            };
            for page in 0..6u64 {
                let window = Window {
                    offset: page * 2,
                    limit: 2,
                };
                let (rows, total) = s.repository_page(&visible, window).await.unwrap();
                assert_eq!(total, expected.len() as u64, "{visible:?}");
                assert!(rows.len() <= 2);
                repositories.extend(texts(&rows));
                for (order, out) in [(false, &mut by_name), (true, &mut recent)] {
                    let (rows, total) = s.catalog(&f, order, window).await.unwrap();
                    assert_eq!(total, expected.len() as u64, "{visible:?}");
                    out.extend(rows.into_iter().map(|r| r.repository.to_string()));
                }
            }
            assert_eq!(repositories, expected, "repository pages for {visible:?}");
            // the distribution API's `_catalog`: pages after `last`
            let mut listed: Vec<String> = Vec::new();
            loop {
                let page = Page {
                    n: 2,
                    last: listed.last().map(String::as_str),
                };
                let rows = texts(&s.repositories(page, &visible).await.unwrap());
                let done = rows.len() < 2;
                listed.extend(rows);
                if done {
                    break;
                }
            }
            assert_eq!(listed, expected, "_catalog pages for {visible:?}");
            assert_eq!(by_name, expected, "catalog pages for {visible:?}");
            recent.sort();
            assert_eq!(recent, expected, "newest-first pages for {visible:?}");
        }
        // a text search counts only what the viewer may see
        let f = CatalogFilter {
            visible: Visibility::by_prefix([rule("team", true), rule("team/secret", false)]),
            ..filter("team", None)
        };
        let (rows, total) = s.catalog(&f, false, WHOLE).await.unwrap();
        assert_eq!(
            (
                texts(
                    &rows
                        .iter()
                        .map(|r| r.repository.clone())
                        .collect::<Vec<_>>()
                ),
                total
            ),
            (
                vec![
                    "team".to_string(),
                    "team/one".into(),
                    "team/secretive".into()
                ],
                3
            )
        );
    }
}
