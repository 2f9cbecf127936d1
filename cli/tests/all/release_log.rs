//! The release log from the client's side: `wharf log verify` audits it, and
//! `--require-log` refuses a version the log does not record as served — a tag moved in
//! the registry's database behind the log's back, a log rewritten or cut short, a
//! registry that changed its log key.

use crate::support::{Registry, Wharf, hello_component, s};

/// Run one SQL statement on the registry's SQLite database (as someone with access to
/// the registry's disk would).
fn sql(reg: &Registry, statement: &str) {
    let db = reg.dir.path().join("metadata.db");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite:{}", db.display()))
            .await
            .unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement.to_owned()))
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    });
}

#[test]
fn a_tag_moved_behind_the_logs_back_is_refused() {
    let w = Wharf::new();
    let work = tempfile::tempdir().unwrap();
    let reg = Registry::start();
    let hello = hello_component(&w, work.path());
    let other = work.path().join("other.wasm");
    std::fs::write(&other, wat::parse_str("(component)").unwrap()).unwrap();
    let v1 = format!("{}/demo/app:1.0.0", reg.addr);
    let v2 = format!("{}/demo/app:2.0.0", reg.addr);
    let d1 = w.ok(&["push", s(&hello), &v1]).trim().to_owned();
    let d2 = w.ok(&["push", s(&other), &v2]).trim().to_owned();

    let report: serde_json::Value =
        serde_json::from_str(&w.ok(&["log", "verify", &reg.addr, "--json"])).unwrap();
    assert_eq!(report["size"], 2, "{report}");
    assert_eq!(report["publications"], 2, "{report}");
    assert!(report["previous_size"].is_null(), "first read: {report}");
    assert_eq!(report["tiles_checked"], 1, "{report}");
    let out = work.path().join("out.wasm");
    w.ok(&["pull", &v2, "-o", s(&out), "--require-log"]);
    let key = work.path().join("release");
    w.ok(&["key", "generate", "-o", s(&key)]);
    w.ok(&["sign", &v2, "--key", s(&key.with_extension("key"))]);
    let public = key.with_extension("pub");
    w.ok(&["verify", &v2, "--key", s(&public), "--require-log"]);

    // someone with the database moves 1.0.0 to 2.0.0's manifest, writing no log entry
    sql(
        &reg,
        &format!("UPDATE tags SET manifest_digest = '{d2}' WHERE name = '1.0.0'"),
    );
    std::fs::remove_file(&out).unwrap();
    let err = w.fails(&["pull", &v1, "-o", s(&out), "--require-log"]);
    assert!(
        err.contains(&format!("records demo/app:1.0.0 as {d1}"))
            && err.contains(&format!("the registry served {d2}")),
        "{err}"
    );
    assert!(!out.exists(), "nothing written");
    // 1.0.0 now resolves to 2.0.0's signed manifest: the signature holds, the log does not
    let err = w.fails(&["verify", &v1, "--key", s(&public), "--require-log"]);
    assert!(
        err.contains(&format!("records demo/app:1.0.0 as {d1}")),
        "{err}"
    );
    let err = w.fails(&["run", &v1, "--require-log"]);
    assert!(err.contains("refusing"), "{err}");
    // without --require-log the moved tag is served (the log is what catches it)
    w.ok(&["pull", &v1, "-o", s(&out)]);
    // a trust policy can require the log for a scope (the signature check skipped here,
    // loudly, to show the log check stands on its own)
    let policy = work.path().join("trust.toml");
    std::fs::remove_file(&out).unwrap();
    std::fs::write(
        &policy,
        format!(
            "[[rules]]\nscope = \"{}/demo\"\nkeys = []\nidentities = [{{ identity = \"x\", issuer = \"y\" }}]\nrequire-log = true\n",
            reg.addr
        ),
    )
    .unwrap();
    w.ok(&[
        "pull",
        &v2,
        "-o",
        s(&out),
        "--trust-policy",
        s(&policy),
        "--insecure-skip-verify",
    ]);
    std::fs::remove_file(&out).unwrap();
    let refused = w
        .cmd()
        .args([
            "pull",
            &v1,
            "-o",
            s(&out),
            "--trust-policy",
            s(&policy),
            "--insecure-skip-verify",
        ])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(!out.exists(), "nothing written");
    assert!(err.contains("the release log"), "{err}");
}

#[test]
fn a_rewritten_or_shortened_log_and_a_new_key_are_refused() {
    let w = Wharf::new();
    let work = tempfile::tempdir().unwrap();
    let reg = Registry::start();
    let hello = hello_component(&w, work.path());
    for v in ["1.0.0", "1.1.0"] {
        w.ok(&["push", s(&hello), &format!("{}/demo/app:{v}", reg.addr)]);
    }
    w.ok(&["log", "verify", &reg.addr]);
    // a new publication extends what was seen: consistent
    w.ok(&["push", s(&hello), &format!("{}/demo/app:1.2.0", reg.addr)]);
    let report: serde_json::Value =
        serde_json::from_str(&w.ok(&["log", "verify", &reg.addr, "--json"])).unwrap();
    assert_eq!(
        (report["size"].as_u64(), report["previous_size"].as_u64()),
        (Some(3), Some(2))
    );

    // the registry forgets its log and starts another history (its checkpoints still
    // signed with its key): a fork of what this client saw
    sql(
        &reg,
        "DELETE FROM release_log; DELETE FROM release_log_hashes;",
    );
    for v in ["9.0.0", "9.1.0", "9.2.0", "9.3.0"] {
        w.ok(&["push", s(&hello), &format!("{}/demo/app:{v}", reg.addr)]);
    }
    let err = w.fails(&["log", "verify", &reg.addr]);
    assert!(err.contains("was rewritten"), "{err}");
    // a client that never saw the old history has nothing to compare: it accepts
    let fresh = Wharf::new();
    fresh.ok(&["log", "verify", &reg.addr]);
    // cut short
    sql(
        &reg,
        "DELETE FROM release_log WHERE idx > 0; DELETE FROM release_log_hashes WHERE idx > 0;",
    );
    let err = fresh.fails(&["log", "verify", &reg.addr]);
    assert!(err.contains("shrank"), "{err}");

    // a registry announcing another key than the one pinned at first use
    let pinned = key_file(&fresh, &reg.addr);
    let mut state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&pinned).unwrap()).unwrap();
    let other = wharf_sign::log::LogKey::generate("wharf-registry/releases").unwrap();
    state["verifier"] = serde_json::Value::String(other.verifier.clone());
    std::fs::write(&pinned, serde_json::to_vec(&state).unwrap()).unwrap();
    let err = fresh.fails(&["log", "verify", &reg.addr]);
    assert!(err.contains("release log key changed"), "{err}");
}

/// Where `w` pinned `registry`'s log key and checkpoint.
fn key_file(w: &Wharf, registry: &str) -> std::path::PathBuf {
    wharf_core::release_log::state_file(&w.home.path().join("state/wharf/logs"), registry)
}
