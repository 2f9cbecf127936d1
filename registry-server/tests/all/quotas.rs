//! Storage quotas per repository prefix: distinct blobs counted once, a push over the
//! quota refused (403 `DENIED`, naming the quota and its use) before its bytes are kept,
//! and the use shown in the JSON API and `/metrics`.

use reqwest::StatusCode;
use serde_json::Value;

use crate::harness::{TestApp, digest, error_code, files_under};

async fn start() -> TestApp {
    TestApp::from_toml(
        tempfile::tempdir().unwrap(),
        "[[quotas]]\nprefix = \"team\"\nbytes = 1000\n",
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn pushes_over_the_quota_are_refused_before_their_bytes_are_kept() {
    let s = start().await;
    let a = vec![1u8; 600];
    s.push_blob("team/a", &a).await;
    // the same blob in another repository under the prefix counts once
    s.push_blob("team/b", &a).await;
    // outside the prefix there is no quota
    s.push_blob("elsewhere/x", &vec![2u8; 5000]).await;

    // a new 500-byte blob does not fit in the 400 bytes left
    let b = vec![3u8; 500];
    let r = s
        .http
        .post(s.url(&format!("/v2/team/b/blobs/uploads/?digest={}", digest(&b))))
        .body(b.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "DENIED");
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("`team`")
            && message.contains("1000 bytes")
            && message.contains("600 bytes are used"),
        "{message}"
    );
    let head = s
        .http
        .head(s.url(&format!("/v2/team/b/blobs/{}", digest(&b))))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::NOT_FOUND);
    let stored: Vec<_> = files_under(&s.data_dir().join("blobs"))
        .into_iter()
        .filter(|p| p.ends_with(&digest(&b)[7..]))
        .collect();
    assert!(stored.is_empty(), "{stored:?}");
    assert!(
        files_under(&s.data_dir().join("uploads")).is_empty(),
        "the upload is gone"
    );

    // chunked: the chunk that would cross the quota is refused, the session keeps what fit
    let post = s
        .http
        .post(s.url("/v2/team/c/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), StatusCode::ACCEPTED);
    let location = post.headers()["location"].to_str().unwrap().to_owned();
    let first = s
        .http
        .patch(s.url(&location))
        .body(vec![4u8; 300])
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let second = s
        .http
        .patch(s.url(&location))
        .header("content-range", "300-499")
        .body(vec![4u8; 200])
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(second).await, "DENIED");
    let status = s.http.get(s.url(&location)).send().await.unwrap();
    assert_eq!(status.status(), StatusCode::NO_CONTENT);
    assert_eq!(status.headers()["range"], "0-299");
    // finishing with what fits works
    let done = s
        .http
        .put(s.url(&format!("{location}?digest={}", digest(&[4u8; 300]))))
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), StatusCode::CREATED);

    // a mount from outside the prefix counts too: 900 used, 5000 more do not fit
    let big = digest(&[2u8; 5000]);
    let mount = s
        .http
        .post(s.url(&format!(
            "/v2/team/d/blobs/uploads/?mount={big}&from=elsewhere/x"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(mount.status(), StatusCode::FORBIDDEN);

    // filled to the byte, nothing new may even start
    s.push_blob("team/a", &[5u8; 100]).await;
    let full = s
        .http
        .post(s.url("/v2/team/e/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    assert_eq!(full.status(), StatusCode::FORBIDDEN);
    let message = error_code(full).await;
    assert_eq!(message, "DENIED");
    // but a blob it already holds may still be mounted anywhere under it (no new bytes)
    let mount = s
        .http
        .post(s.url(&format!(
            "/v2/team/e/blobs/uploads/?mount={}&from=team/a",
            digest(&a)
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(mount.status(), StatusCode::CREATED);

    // the use is visible
    let quotas: Value = s
        .http
        .get(s.url("/api/v1/quotas"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        quotas,
        serde_json::json!([{ "prefix": "team", "limit": 1000, "used": 1000 }])
    );
    let metrics = s
        .http
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("wharf_quota_limit_bytes{prefix=\"team\"} 1000"),
        "{metrics}"
    );
    assert!(
        metrics.contains("wharf_quota_used_bytes{prefix=\"team\"} 1000"),
        "{metrics}"
    );
}
