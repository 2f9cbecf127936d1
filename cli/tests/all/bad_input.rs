//! Bad input gets a clear error naming the problem, exit code 1, and leaves nothing behind.

use crate::support::{Registry, Wharf, files_under, guests, hello_component, root, s};

#[test]
fn truncated_and_wrong_kinds_of_wasm() {
    let w = Wharf::new();
    let work = tempfile::tempdir().unwrap();
    let hello = hello_component(&w, work.path());
    let bytes = std::fs::read(&guests().hello_core).unwrap();
    let truncated = work.path().join("truncated.wasm");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let out = work.path().join("out.wasm");
    for args in [
        vec!["inspect", s(&truncated)],
        vec!["componentize", s(&truncated), "-o", s(&out)],
        vec!["push", s(&truncated), "localhost:1/x/y:1"],
        vec!["run", s(&truncated)],
    ] {
        let err = w.fails(&args);
        assert!(
            err.contains("truncated.wasm") && err.contains("is not valid WebAssembly"),
            "{args:?}: {err}"
        );
    }
    let err = w.fails(&["componentize", s(&hello), "-o", s(&out)]);
    assert!(err.contains("is already a component"), "{err}");
    // a WASI core module is not an error for `run`: it is componentized on the way
    let ran = w
        .cmd()
        .args(["run", s(&guests().hello_core), "--", "core"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&ran.stdout), "hello, core!\n");
    let text = work.path().join("notes.wasm");
    std::fs::write(&text, "not wasm at all").unwrap();
    let err = w.fails(&["inspect", s(&text)]);
    assert!(err.contains("is not a WebAssembly binary"), "{err}");
    assert!(!out.exists(), "no output was written");
}

#[test]
fn malformed_references_and_names() {
    let w = Wharf::new();
    let f = s(&guests().greeter);
    for (reference, expected) in [
        ("localhost:5000/../etc/passwd:1", "invalid repository name"),
        ("localhost:5000/Hello/World:1", "invalid repository name"),
        ("localhost:5000/a/b:-bad", "invalid tag"),
        ("localhost:5000/a/b@sha256:123", "invalid digest"),
        ("no-registry-here", "names no registry"),
        ("wasi:http@0.2.0", "--registry"),
        ("Wasi:Http@1", "invalid package reference"),
    ] {
        let err = w.fails(&["push", f, reference]);
        assert!(err.contains(expected), "{reference}: {err}");
        let err = w.fails(&["pull", reference, "-o", "/nonexistent/x.wasm"]);
        assert!(err.contains(expected), "{reference}: {err}");
    }
    let err = w.fails(&["push", f, "x:y", "--registry", "localhost:1"]);
    assert!(err.contains("needs an exact version"), "{err}");
}

#[test]
fn unknown_repository_and_tag() {
    let w = Wharf::new();
    let reg = Registry::start();
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("x.wasm");
    let err = w.fails(&[
        "pull",
        &format!("{}/nobody/here:1.0.0", reg.addr),
        "-o",
        s(&out),
    ]);
    assert!(
        err.contains("404") && err.contains("MANIFEST_UNKNOWN"),
        "{err}"
    );
    assert!(!out.exists());
    let json = w.run(&[
        "pull",
        &format!("{}/nobody/here:1.0.0", reg.addr),
        "-o",
        s(&out),
        "--json",
    ]);
    let doc: serde_json::Value = serde_json::from_slice(&json.stderr).unwrap();
    assert_eq!(doc["error"]["code"], "not-found", "{doc}");
    assert!(
        doc["error"]["causes"][0]
            .as_str()
            .unwrap()
            .contains("MANIFEST_UNKNOWN"),
        "{doc}"
    );
    let err = w.fails(&[
        "pull",
        "nobody:here@1.0.0",
        "--registry",
        &reg.addr,
        "-o",
        s(&out),
    ]);
    assert!(err.contains("MANIFEST_UNKNOWN"), "{err}");
    let err = w.fails(&["run", "nobody:here", "--registry", &reg.addr]);
    assert!(err.contains("no version of nobody:here matches"), "{err}");
}

/// A push sends the file while it validates it: a binary found invalid only at its end
/// (after several pieces went up) is reported as invalid, its upload session is cancelled
/// and nothing of it stays in the registry; the whole file then pushes and pulls back
/// byte for byte.
#[test]
fn a_file_found_invalid_while_it_uploads_leaves_nothing() {
    let w = Wharf::new();
    let reg = Registry::start();
    let work = tempfile::tempdir().unwrap();
    // 3 MiB of data: the push reads, sends and inspects it in several pieces
    let data = "w".repeat(3 << 20);
    let wat = format!(
        r#"(module (memory 64) (func (export "f") (result i32) i32.const 7) (data (i32.const 0) "{data}"))"#
    );
    let whole = wat::parse_str(&wat).unwrap();
    let full = work.path().join("big.wasm");
    std::fs::write(&full, &whole).unwrap();
    let truncated = work.path().join("cut.wasm");
    std::fs::write(&truncated, &whole[..whole.len() - 9]).unwrap();
    let reference = format!("{}/demo/big:1.0.0", reg.addr);
    let err = w.fails(&["push", s(&truncated), &reference]);
    assert!(
        err.contains("cut.wasm") && err.contains("is not valid WebAssembly"),
        "{err}"
    );
    assert!(
        files_under(reg.dir.path()).iter().all(|f| {
            let f = f.to_string_lossy();
            !f.contains("/blobs/") && !f.contains("/uploads/")
        }),
        "no blob and no upload session is left: {:?}",
        files_under(reg.dir.path())
    );
    let url = format!("http://{}/v2/demo/big/manifests/1.0.0", reg.addr);
    let status = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(async { reqwest::get(&url).await.unwrap().status() });
    assert_eq!(status, 404, "the tag was not created");

    let report: serde_json::Value =
        serde_json::from_str(&w.ok(&["push", s(&full), &reference, "--json"])).unwrap();
    assert_eq!(report["layer"]["size"], whole.len() as u64, "{report}");
    assert_eq!(report["blobs_sent"], 2, "{report}");
    let out = work.path().join("pulled.wasm");
    w.ok(&["pull", &reference, "-o", s(&out)]);
    assert!(std::fs::read(&out).unwrap() == whole, "pulled bytes differ");
    assert!(
        files_under(reg.dir.path())
            .iter()
            .all(|f| !f.to_string_lossy().contains("/uploads/")),
        "no upload session is left after a push"
    );
    // pushed again: the version holds it already, nothing is sent
    let again: serde_json::Value =
        serde_json::from_str(&w.ok(&["push", s(&full), &reference, "--json"])).unwrap();
    assert_eq!(again["already_present"], true, "{again}");
    assert_eq!(again["digest"], report["digest"], "{again}");
}

#[test]
fn tampered_blob_is_caught_on_pull_and_run() {
    let w = Wharf::new();
    let reg = Registry::start();
    let work = tempfile::tempdir().unwrap();
    let hello = hello_component(&w, work.path());
    let reference = format!("{}/demo/tampered:1.0.0", reg.addr);
    w.ok(&["push", s(&hello), &reference]);
    // flip one byte of the stored layer behind the registry's back
    let digest = crate::support::file_digest(&hello);
    let hex = digest.trim_start_matches("sha256:");
    let stored = reg
        .dir
        .path()
        .join("blobs/sha256")
        .join(&hex[..2])
        .join(hex);
    let mut bytes = std::fs::read(&stored).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&stored, bytes).unwrap();
    let out = work.path().join("pulled.wasm");
    let err = w.fails(&["pull", &reference, "-o", s(&out)]);
    assert!(err.contains("digest mismatch"), "{err}");
    assert!(
        !out.exists(),
        "a blob that fails its digest is never written"
    );
    let leftovers: Vec<_> = std::fs::read_dir(work.path())
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".wharf-partial")
        })
        .collect();
    assert!(leftovers.is_empty(), "no partial file is left behind");
    let err = w.fails(&["run", &reference]);
    assert!(err.contains("digest mismatch"), "{err}");
}

/// `-o` naming a special file (here a FIFO; `/dev/null` is the common case) writes into
/// it and never replaces it: an atomic rename over `/dev/null` would turn the null device
/// into a regular file for every process on the machine.
#[test]
fn output_to_a_special_file_is_written_in_place() {
    use std::os::unix::fs::FileTypeExt as _;
    let w = Wharf::new();
    let work = tempfile::tempdir().unwrap();
    let reg = Registry::start();
    let hello = hello_component(&w, work.path());
    w.ok(&["push", s(&hello), &format!("{}/demo/fifo:1.0.0", reg.addr)]);
    let fifo = work.path().join("out.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    for args in [
        vec![
            "componentize".to_owned(),
            s(&guests().hello_core).to_owned(),
            "-o".to_owned(),
            s(&fifo).to_owned(),
        ],
        vec![
            "pull".to_owned(),
            format!("{}/demo/fifo:1.0.0", reg.addr),
            "-o".to_owned(),
            s(&fifo).to_owned(),
        ],
    ] {
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read(fifo).unwrap())
        };
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        w.ok(&args);
        let got = reader.join().unwrap();
        assert_eq!(
            got,
            std::fs::read(&hello).unwrap(),
            "{args:?} wrote the component into the FIFO"
        );
        assert!(
            std::fs::metadata(&fifo).unwrap().file_type().is_fifo(),
            "{args:?} replaced the FIFO"
        );
    }
}

/// Where and how outputs are written: with the mode the umask gives (0640 under umask 027,
/// not 0600), `-o -` on stdout (verified first), `-o dir/` as `dir/<layer title>`, and a
/// title that names a path is not followed.
#[test]
fn outputs_follow_the_umask_stdout_and_directories() {
    use std::os::unix::fs::PermissionsExt as _;
    let w = Wharf::new();
    let work = tempfile::tempdir().unwrap();
    let reg = Registry::start();
    let hello = hello_component(&w, work.path());
    let reference = format!("{}/demo/outputs:1.0.0", reg.addr);
    w.ok(&["push", s(&hello), &reference]);
    let expected = std::fs::read(&hello).unwrap();
    let under_umask = |args: &[&str]| {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg("umask 027 && exec \"$0\" \"$@\"")
            .arg(w.cmd().get_program())
            .args(args)
            .envs(w.cmd().get_envs().filter_map(|(k, v)| Some((k, v?))))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    };
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let pulled = work.path().join("pulled.wasm");
    under_umask(&["pull", &reference, "-o", s(&pulled)]);
    assert_eq!(mode(&pulled), 0o640, "pull honours the umask");
    let componentized = work.path().join("c.wasm");
    under_umask(&[
        "componentize",
        s(&guests().hello_core),
        "-o",
        s(&componentized),
    ]);
    assert_eq!(
        mode(&componentized),
        0o640,
        "componentize honours the umask"
    );

    // stdout
    let out = w.run(&["pull", &reference, "-o", "-"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, expected, "the component on stdout");
    assert!(!std::path::Path::new("-").exists(), "no file named `-`");

    // a directory, existing or to create: the layer's title (the pushed file's name)
    let dir = work.path().join("downloads");
    w.ok(&["pull", &reference, "-o", &format!("{}/", dir.display())]);
    let title = hello.file_name().unwrap();
    assert_eq!(std::fs::read(dir.join(title)).unwrap(), expected);
    let json: serde_json::Value =
        serde_json::from_str(&w.ok(&["pull", &reference, "-o", s(&dir), "--json"])).unwrap();
    assert_eq!(json["output"], s(&dir.join(title)));

    // a title naming a path is not followed: the repository's name is used
    let base = format!("http://{}/v2/demo/outputs/manifests", reg.addr);
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let http = reqwest::Client::new();
        let mut m: serde_json::Value = http
            .get(format!("{base}/1.0.0"))
            .header("accept", "application/vnd.oci.image.manifest.v1+json")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        m["layers"][0]["annotations"]["org.opencontainers.image.title"] = "../escape.wasm".into();
        let put = http
            .put(format!("{base}/evil"))
            .header("content-type", "application/vnd.oci.image.manifest.v1+json")
            .body(serde_json::to_vec(&m).unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(put.status().as_u16(), 201);
    });
    let inner = work.path().join("inner");
    w.ok(&[
        "pull",
        &format!("{}/demo/outputs:evil", reg.addr),
        "-o",
        &format!("{}/", inner.display()),
    ]);
    assert_eq!(std::fs::read(inner.join("outputs.wasm")).unwrap(), expected);
    assert!(
        !work.path().join("escape.wasm").exists(),
        "the title's path was followed"
    );
}

/// Errors a person can act on: nothing listening (one line of cause and a hint, not the
/// socket layers), a web server that is not a registry (no markup dumped).
#[test]
fn unreachable_and_foreign_hosts_get_a_cause_and_a_hint() {
    let w = Wharf::new();
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("x.wasm");
    // a port nothing listens on
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let err = w.fails(&[
        "pull",
        &format!("127.0.0.1:{port}/demo/app:1.0.0"),
        "-o",
        s(&out),
    ]);
    assert!(err.contains("Connection refused"), "{err}");
    assert!(
        err.contains(&format!("hint: nothing answers at 127.0.0.1:{port}")),
        "{err}"
    );
    assert!(
        !err.contains("tcp connect error") && !err.contains("2:"),
        "{err}"
    );
    // with --json the error is one JSON object on stderr with a stable code
    let json = w.run(&[
        "pull",
        &format!("127.0.0.1:{port}/demo/app:1.0.0"),
        "-o",
        s(&out),
        "--json",
    ]);
    assert_eq!(json.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&json.stderr).unwrap();
    assert_eq!(doc["error"]["code"], "connection-failed", "{doc}");
    assert!(
        doc["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("nothing answers"),
        "{doc}"
    );
    assert!(json.stdout.is_empty());
    // a web server answering HTML
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(4) {
            let Ok(mut stream) = stream else { continue };
            use std::io::{Read as _, Write as _};
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let body = "<!DOCTYPE html><html><body><h1>Not Found</h1></body></html>";
            let _ = write!(
                stream,
                "HTTP/1.1 404 Not Found\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let err = w.fails(&["pull", &format!("{addr}/demo/app:1.0.0"), "-o", s(&out)]);
    assert!(
        err.contains("an HTML page, not an OCI registry's error"),
        "{err}"
    );
    assert!(!err.contains("<h1>") && !err.contains("DOCTYPE"), "{err}");
    assert!(!out.exists());
}

/// `wharf completions` prints a script each shell loads, naming the subcommands; an unknown
/// shell is a usage error naming the ones there are.
#[test]
fn completion_scripts_for_each_shell() {
    let w = Wharf::new();
    let bash = w.ok(&["completions", "bash"]);
    assert!(
        bash.contains("_wharf()") && bash.contains("componentize"),
        "{bash}"
    );
    assert!(w.ok(&["completions", "zsh"]).starts_with("#compdef wharf"));
    assert!(w.ok(&["completions", "fish"]).contains("complete -c wharf"));
    // bash itself accepts the script
    let checked = std::process::Command::new("bash")
        .args(["-n", "-c", &bash])
        .status()
        .unwrap();
    assert!(checked.success());
    let out = w.run(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("possible values"),
        "{out:?}"
    );
}

/// `wharf delete`: refuses without `--yes` when it cannot ask, deletes a tag only (the
/// manifest stays for its other tags), or a manifest by digest with every tag on it; a
/// package range is refused.
#[test]
fn delete_asks_and_removes_a_tag_or_a_manifest() {
    let w = Wharf::new();
    let work = tempfile::tempdir().unwrap();
    let reg = Registry::start();
    let hello = hello_component(&w, work.path());
    let repo = format!("{}/demo/del", reg.addr);
    let push = |tag: &str| w.ok_at_epoch(&["push", s(&hello), &format!("{repo}:{tag}")]);
    let digest = push("1.0.0");
    assert_eq!(push("dev"), digest);
    let out = work.path().join("x.wasm");
    let pulls = |tag: &str| {
        w.run(&["pull", &format!("{repo}:{tag}"), "-o", s(&out)])
            .status
            .success()
    };

    let err = w.fails(&["delete", &format!("{repo}:dev")]);
    assert!(err.contains("without `--yes`"), "{err}");
    assert!(pulls("dev"), "nothing was deleted");

    let report: serde_json::Value =
        serde_json::from_str(&w.ok(&["delete", &format!("{repo}:dev"), "--yes", "--json"]))
            .unwrap();
    assert_eq!(report["deleted"], "tag");
    assert!(!pulls("dev"), "the tag is gone");
    assert!(pulls("1.0.0"), "the manifest stays for its other tag");

    w.ok(&["delete", &format!("{repo}@{digest}"), "--yes"]);
    assert!(!pulls("1.0.0"), "the manifest and its tags are gone");

    let err = w.fails(&["delete", "demo:del", "--registry", &reg.addr, "--yes"]);
    assert!(err.contains("names no exact version"), "{err}");
}

/// `wharf bindgen --check`: exit 0 when the bindings on disk are what the WIT generates,
/// 1 with a unified diff when one was edited or is missing; nothing is written.
#[test]
fn bindgen_check_reports_stale_bindings_with_a_diff() {
    let w = Wharf::new();
    let work = tempfile::tempdir().unwrap();
    let wit = root().join("wit");
    let out = work.path().join("bindings");
    let args = |check: bool| {
        let mut a = vec![
            "bindgen".to_owned(),
            "markdown".to_owned(),
            s(&wit).to_owned(),
            "--world".to_owned(),
            "greeter".to_owned(),
            "--out-dir".to_owned(),
            s(&out).to_owned(),
        ];
        if check {
            a.push("--check".to_owned());
        }
        a
    };
    let run = |check: bool| {
        let a = args(check);
        w.run(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let missing = run(true);
    assert_eq!(missing.status.code(), Some(1), "nothing written yet");
    assert!(!out.exists(), "--check writes nothing");
    assert!(run(false).status.success());
    let fresh = run(true);
    assert!(
        fresh.status.success(),
        "{}",
        String::from_utf8_lossy(&fresh.stderr)
    );
    let file = std::fs::read_dir(&out)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replacen('#', "##", 1)).unwrap();
    let stale = run(true);
    assert_eq!(stale.status.code(), Some(1));
    let diff = String::from_utf8_lossy(&stale.stdout);
    assert!(
        diff.contains("(on disk)") && diff.contains("(generated)"),
        "{diff}"
    );
    assert!(diff.lines().any(|l| l.starts_with("-##")), "{diff}");
    assert!(
        String::from_utf8_lossy(&stale.stderr).contains("not what"),
        "{}",
        String::from_utf8_lossy(&stale.stderr)
    );
}
