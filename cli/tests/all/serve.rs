//! `wharf serve` of a real `wasi:http/proxy` component built from source
//! (`fixtures/guests/hello-http`), pushed and served by reference: answers, concurrent
//! requests, a request over the deadline and one that traps (500 each, the server goes
//! on), a component that is not a proxy refused before anything listens, Ctrl-C; and the
//! limits of `run`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Registry, Wharf, hello_component, hello_http, hello_http_p3, s};

/// A `wharf serve` process, killed on drop.
struct Served {
    child: Child,
    base: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `wharf serve` with `args` on a free port; waits for its `serving http://…` line.
fn serve(w: &Wharf, args: &[&str]) -> Served {
    let mut child = w
        .cmd()
        .arg("serve")
        .args(args)
        .args(["--addr", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let base = line
        .strip_prefix("serving ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no `serving` line: {line:?}"))
        .to_owned();
    // keep draining what the server logs, so it never blocks on a full pipe
    std::thread::spawn(move || {
        for l in stderr.lines() {
            eprintln!("wharf serve: {}", l.unwrap_or_default());
        }
    });
    Served { child, base }
}

async fn get(url: &str) -> (u16, String) {
    let r = reqwest::get(url).await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[test]
fn serve_a_proxy_component_by_reference() {
    let w = Wharf::new();
    let reg = Registry::start();
    let reference = format!("{}/demo/hello-http:1.0.0", reg.addr);
    w.ok(&["push", s(hello_http()), &reference]);
    let served = serve(&w, &[&reference, "--timeout", "2", "--max-memory", "64M"]);
    let base = served.base.clone();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (status, body) = get(&format!("{base}/hello?x=1")).await;
        assert_eq!(
            (status, body.as_str()),
            (200, "hello from GET /hello?x=1\n")
        );
        // concurrent requests, each its own instance
        let all = futures_util::future::join_all((0..24).map(|i| {
            let url = format!("{base}/n/{i}");
            async move { get(&url).await }
        }))
        .await;
        for (i, (status, body)) in all.into_iter().enumerate() {
            assert_eq!(status, 200);
            assert_eq!(body, format!("hello from GET /n/{i}\n"));
        }
        let post = reqwest::Client::new()
            .post(format!("{base}/submit"))
            .body("data")
            .send()
            .await
            .unwrap();
        assert_eq!(post.text().await.unwrap(), "hello from POST /submit\n");
        // a guest that never returns is stopped at the deadline: 500 for it alone
        let started = Instant::now();
        let (status, body) = get(&format!("{base}/spin")).await;
        assert_eq!(status, 500);
        assert!(body.contains("deadline"), "{body}");
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{:?}",
            started.elapsed()
        );
        let (status, body) = get(&format!("{base}/trap")).await;
        assert_eq!(status, 500);
        assert!(body.contains("trapped"), "{body}");
        let (status, _) = get(&format!("{base}/after")).await;
        assert_eq!(status, 200, "the server goes on");
    });
    // Ctrl-C: stops, exit 0
    let pid = served.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let mut served = served;
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = served.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "wharf serve did not stop on SIGINT"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
}

#[test]
fn what_cannot_be_served_or_run_within_limits_is_refused_clearly() {
    let w = Wharf::new();
    let work = tempfile::tempdir().unwrap();
    let hello = hello_component(&w, work.path());
    // a command is not a proxy: refused before anything listens
    let err = w.fails(&["serve", s(&hello), "--addr", "127.0.0.1:0"]);
    assert!(
        err.contains("is not an HTTP component: it exports neither wasi:http/incoming-handler@0.2 nor wasi:http/handler@0.3"),
        "{err}"
    );
    assert!(!err.contains("serving http"), "{err}");
    // run's memory limit
    let err = w.fails(&["run", s(&hello), "--max-memory", "64K", "--", "x"]);
    assert!(
        err.contains("needs more memory than the limit of 65536 bytes"),
        "{err}"
    );
    let out = w.ok(&[
        "run",
        s(&hello),
        "--max-memory",
        "64M",
        "--timeout",
        "30",
        "--",
        "x",
    ]);
    assert!(out.contains("hello, x!"), "{out}");
    let out = w.run(&["run", s(&hello), "--timeout", "0"]);
    assert_eq!(out.status.code(), Some(2), "a usage error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("the deadline must be above 0"));
    // run's deadline stops a guest that never returns
    let spin = work.path().join("spin.wat");
    std::fs::write(
        &spin,
        r#"(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (loop (br 0))))"#,
    )
    .unwrap();
    let started = Instant::now();
    let err = w.fails(&["run", s(&spin), "--timeout", "1"]);
    assert!(
        err.contains("ran past its deadline of 1s and was stopped"),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

/// `--max-instances` bounds live instances: with one, a request waits while a spinning
/// guest holds it, and is served once the deadline frees it.
#[test]
fn live_instances_are_bounded() {
    let w = Wharf::new();
    let served = serve(
        &w,
        &[s(hello_http()), "--timeout", "2", "--max-instances", "1"],
    );
    let base = served.base.clone();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let spin = tokio::spawn(get(format!("{base}/spin").leak()));
        tokio::time::sleep(Duration::from_millis(300)).await;
        let started = Instant::now();
        let (status, body) = get(&format!("{base}/waited")).await;
        assert_eq!((status, body.as_str()), (200, "hello from GET /waited\n"));
        assert!(
            started.elapsed() >= Duration::from_millis(1000),
            "it waited for the only instance: {:?}",
            started.elapsed()
        );
        assert_eq!(spin.await.unwrap().0, 500);
    });
}

/// `wasi:sockets` is denied unless allowed: the guest's TCP connect to a listening local
/// port is refused by default and goes through with `--inherit-network`.
#[test]
fn network_is_denied_unless_allowed() {
    let w = Wharf::new();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let target = listener.local_addr().unwrap();
    std::thread::spawn(move || for _ in listener.incoming() {});
    let rt = tokio::runtime::Runtime::new().unwrap();
    for (flags, expect) in [
        (&[][..], "refused: "),
        (&["--inherit-network"][..], "connected"),
    ] {
        let mut args = vec![s(hello_http())];
        args.extend_from_slice(flags);
        let served = serve(&w, &args);
        let (status, body) = rt.block_on(get(&format!("{}/connect?{target}", served.base)));
        assert_eq!(status, 200);
        assert!(body.starts_with(expect), "{flags:?}: {body}");
    }
}

/// A WASI 0.3 `wasi:http/handler` service (the hello-http-p3 fixture, built from source
/// with the wasip3 crate) served by reference: it writes its body from a task after
/// `handle` returned (the store runs until the body is sent), answers concurrent requests,
/// and a trap is a 500 while the server goes on.
#[test]
fn serve_a_wasi_0_3_http_service() {
    let w = Wharf::new();
    let reg = Registry::start();
    let reference = format!("{}/demo/hello-http-p3:0.1.0", reg.addr);
    w.ok(&["push", s(hello_http_p3()), &reference]);
    let served = serve(&w, &[&reference, "--timeout", "5"]);
    let base = served.base.clone();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (status, body) = get(&format!("{base}/hello?x=1")).await;
        assert_eq!(
            (status, body.as_str()),
            (200, "hello from WASI 0.3 HTTP, /hello?x=1\n")
        );
        let all = futures_util::future::join_all((0..16).map(|i| {
            let url = format!("{base}/n/{i}");
            async move { get(&url).await }
        }))
        .await;
        for (i, (status, body)) in all.into_iter().enumerate() {
            assert_eq!(status, 200);
            assert_eq!(body, format!("hello from WASI 0.3 HTTP, /n/{i}\n"));
        }
        let (status, body) = get(&format!("{base}/trap")).await;
        assert_eq!(status, 500);
        assert!(body.contains("trapped"), "{body}");
        let (status, _) = get(&format!("{base}/after")).await;
        assert_eq!(status, 200, "the server goes on after a trap");
    });
}
