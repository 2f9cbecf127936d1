//! `wharf copy`: artifacts with their referrers between two wharf registries, into CNCF
//! Distribution (no referrers API: the referrers tag schema), a multi-platform image index,
//! within one registry (a mount), and a source whose blob is not what its digest says.

use serde_json::Value;

use crate::support::{DockerRegistry, Registry, Wharf, hello_component, s};

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// The manifest bytes at `image` (`host/repo:tag` or `@digest`), as skopeo reads them.
fn manifest_by_skopeo(image: &str) -> Vec<u8> {
    let raw = std::process::Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{image}"))
        .output()
        .unwrap();
    assert!(
        raw.status.success(),
        "{}",
        String::from_utf8_lossy(&raw.stderr)
    );
    raw.stdout
}

/// A signed component with an SBOM-less yank mark on its second version, on `reg`.
fn signed_package(
    w: &Wharf,
    reg: &Registry,
    dir: &std::path::Path,
) -> (std::path::PathBuf, String) {
    let hello = hello_component(w, dir);
    let key = dir.join("op");
    w.ok(&["key", "generate", "-o", s(&key)]);
    let src = format!("{}/demo/hello:1.0.0", reg.addr);
    let digest = w.ok(&[
        "push",
        s(&hello),
        &src,
        "--sign",
        "--key",
        s(&key.with_extension("key")),
    ]);
    w.ok(&[
        "push",
        s(&hello),
        &format!("{}/demo/hello:1.0.1", reg.addr),
        "--annotation",
        "v=1.0.1",
    ]);
    w.ok(&[
        "yank",
        &format!("{}/demo/hello:1.0.1", reg.addr),
        "--reason",
        "bad build",
    ]);
    (key.with_extension("pub"), digest.trim().to_owned())
}

#[test]
fn copy_carries_signatures_and_yank_marks_between_registries() {
    let w = Wharf::new();
    let work = tempfile::tempdir().unwrap();
    let a = Registry::start();
    let b = Registry::start();
    let (public, digest) = signed_package(&w, &a, work.path());

    let report = json(&w.ok(&[
        "copy",
        &format!("{}/demo/hello:1.0.0", a.addr),
        &format!("{}/mirror/hello", b.addr),
        "--json",
    ]));
    assert_eq!(report["digest"], digest.as_str());
    assert_eq!(report["referrers"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(
        report["referrers"][0]["artifact_type"],
        "application/vnd.dev.sigstore.bundle.v0.3+json"
    );
    // the copy keeps the tag and the digest, and the signature still verifies there
    let copied = format!("{}/mirror/hello:1.0.0", b.addr);
    let verified = json(&w.ok(&["verify", &copied, "--key", s(&public), "--json"]));
    assert_eq!(verified["digest"], digest.as_str());
    assert_eq!(verified["verified"], true);
    let pulled = work.path().join("pulled.wasm");
    w.ok(&["pull", &copied, "-o", s(&pulled)]);

    // a second copy sends nothing
    let again = json(&w.ok(&[
        "copy",
        &format!("{}/demo/hello:1.0.0", a.addr),
        &format!("{}/mirror/hello", b.addr),
        "--json",
    ]));
    assert_eq!(again["blobs_copied"], 0, "{again}");
    assert!(again["blobs_present"].as_u64().unwrap() >= 3, "{again}");

    // the yank mark names its version and comes along with it
    w.ok(&[
        "copy",
        &format!("{}/demo/hello:1.0.1", a.addr),
        &format!("{}/mirror/hello", b.addr),
    ]);
    let tags = json(&w.ok(&["tags", &format!("{}/mirror/hello", b.addr), "--json"]));
    let yanked: Vec<&Value> = tags
        .as_array()
        .unwrap_or_else(|| panic!("{tags}"))
        .iter()
        .filter(|v| !v["yanked"].is_null())
        .collect();
    assert_eq!(yanked.len(), 1, "{tags}");
    assert_eq!(yanked[0]["tag"], "1.0.1");

    // --no-referrers copies the artifact alone
    let bare = json(&w.ok(&[
        "copy",
        &format!("{}/demo/hello:1.0.0", a.addr),
        &format!("{}/bare/hello:1.0.0", b.addr),
        "--no-referrers",
        "--json",
    ]));
    assert!(bare["referrers"].as_array().unwrap().is_empty());
    let err = w.fails(&[
        "verify",
        &format!("{}/bare/hello:1.0.0", b.addr),
        "--key",
        s(&public),
    ]);
    assert!(err.contains("no signature"), "{err}");

    // within one registry the blobs are mounted, not sent again
    let within = json(&w.ok(&[
        "copy",
        &format!("{}/demo/hello:1.0.0", a.addr),
        &format!("{}/archive/hello:keep", a.addr),
        "--json",
    ]));
    assert_eq!(
        within["destination"],
        format!("{}/archive/hello@{digest}", a.addr)
    );
    w.ok(&[
        "verify",
        &format!("{}/archive/hello:keep", a.addr),
        "--key",
        s(&public),
    ]);

    // a destination pinned to another digest, and a copy onto itself, are refused
    let err = w.fails(&[
        "copy",
        &format!("{}/demo/hello:1.0.0", a.addr),
        &format!("{}/x/y@sha256:{}", b.addr, "0".repeat(64)),
    ]);
    assert!(err.contains("keeps the digest"), "{err}");
    let err = w.fails(&[
        "copy",
        &format!("{}/demo/hello:1.0.0", a.addr),
        &format!("{}/demo/hello", a.addr),
    ]);
    assert!(err.contains("same place"), "{err}");
}

#[test]
fn copy_into_a_registry_without_referrers_api_uses_the_referrers_tag_schema() {
    let w = Wharf::new();
    let work = tempfile::tempdir().unwrap();
    let a = Registry::start();
    let (public, digest) = signed_package(&w, &a, work.path());
    let docker = DockerRegistry::start(work.path(), "");
    let dst = format!("{}/copied/hello:1.0.0", docker.addr);
    w.ok(&["copy", &format!("{}/demo/hello:1.0.0", a.addr), &dst]);
    // Distribution 2.8 has no referrers API: the index under `sha256-<hex>` lists the
    // signature, and wharf finds it there
    let tag = format!("sha256-{}", digest.trim_start_matches("sha256:"));
    let raw = manifest_by_skopeo(&format!("{}/copied/hello:{tag}", docker.addr));
    let index = json(&String::from_utf8_lossy(&raw));
    assert_eq!(
        index["manifests"][0]["artifactType"], "application/vnd.dev.sigstore.bundle.v0.3+json",
        "{index}"
    );
    let verified = json(&w.ok(&["verify", &dst, "--key", s(&public), "--json"]));
    assert_eq!(verified["verified"], true, "{verified}");
    assert!(
        verified["signatures"][0]["source"]
            .as_str()
            .unwrap()
            .starts_with("referrer "),
        "{verified}"
    );
    // and back out of it into a fresh wharf registry, signature included
    let c = Registry::start();
    let back = json(&w.ok(&["copy", &dst, &format!("{}/back/hello", c.addr), "--json"]));
    assert_eq!(back["digest"], digest.as_str());
    assert_eq!(back["referrers"].as_array().unwrap().len(), 1, "{back}");
    w.ok(&[
        "verify",
        &format!("{}/back/hello:1.0.0", c.addr),
        "--key",
        s(&public),
    ]);
}

#[test]
fn copy_of_an_image_index_brings_every_platform_and_the_sbom() {
    let w = Wharf::new();
    let work = tempfile::tempdir().unwrap();
    let a = Registry::start();
    let (amd64, spdx) = crate::browse::push_image(&a.addr, work.path());
    let docker = DockerRegistry::start(work.path(), "");
    let report = json(&w.ok(&[
        "copy",
        &format!("{}/acme/app:1.0", a.addr),
        &format!("{}/acme/app", docker.addr),
        "--json",
    ]));
    // the index, two images, and the SBOM referring to the amd64 image
    assert_eq!(report["manifests"], 4, "{report}");
    assert_eq!(report["referrers"][0]["digest"], spdx.as_str());
    assert_eq!(report["referrers"][0]["subject"], amd64.as_str());
    let raw = manifest_by_skopeo(&format!("{}/acme/app@{amd64}", docker.addr));
    assert_eq!(crate::browse::sha256(&raw), amd64, "the same bytes");
}

#[test]
fn a_blob_that_is_not_what_its_digest_says_is_not_copied() {
    let w = Wharf::new();
    let work = tempfile::tempdir().unwrap();
    let a = Registry::start();
    let b = Registry::start();
    let hello = hello_component(&w, work.path());
    w.ok(&["push", s(&hello), &format!("{}/demo/hello:1.0.0", a.addr)]);
    // flip one byte of the stored layer behind the source registry's back
    let digest = crate::support::file_digest(&hello);
    let hex = digest.trim_start_matches("sha256:");
    let stored = a.dir.path().join("blobs/sha256").join(&hex[..2]).join(hex);
    let mut bytes = std::fs::read(&stored).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&stored, bytes).unwrap();
    let err = w.fails(&[
        "copy",
        &format!("{}/demo/hello:1.0.0", a.addr),
        &format!("{}/demo/hello", b.addr),
    ]);
    assert!(err.contains("digest mismatch"), "{err}");
    assert!(err.contains(&digest), "names the blob: {err}");
    // nothing of it at the destination: neither the blob nor the manifest
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (blob, manifest) = rt.block_on(async {
        let blob = reqwest::Client::new()
            .head(format!("http://{}/v2/demo/hello/blobs/{digest}", b.addr))
            .send()
            .await
            .unwrap()
            .status();
        let manifest = reqwest::get(format!("http://{}/v2/demo/hello/manifests/1.0.0", b.addr))
            .await
            .unwrap()
            .status();
        (blob, manifest)
    });
    assert_eq!(blob, 404);
    assert_eq!(manifest, 404);
}

/// Over an air gap: a signed package copied into an OCI image layout with its signature,
/// read there by skopeo (`oci:` transport), copied on into a second registry where the
/// signature verifies; `pull --oci-layout` writes the same layout after the trust checks;
/// a layout copies into another layout; a blob changed inside a layout is refused before
/// anything of it is pushed.
#[test]
fn copy_through_an_oci_image_layout_keeps_signatures() {
    let w = Wharf::new();
    let work = tempfile::tempdir().unwrap();
    let a = Registry::start();
    let b = Registry::start();
    let (public, digest) = signed_package(&w, &a, work.path());
    let layout = work.path().join("airgap");

    let report = json(&w.ok(&[
        "copy",
        &format!("{}/demo/hello:1.0.0", a.addr),
        &format!("oci:{}", s(&layout)),
        "--json",
    ]));
    assert_eq!(report["digest"], digest.as_str());
    assert_eq!(report["referrers"].as_array().unwrap().len(), 1, "{report}");
    let index = json(&std::fs::read_to_string(layout.join("index.json")).unwrap());
    let entries = index["manifests"].as_array().unwrap();
    let tagged: Vec<&Value> = entries
        .iter()
        .filter(|d| d["annotations"]["org.opencontainers.image.ref.name"] == "1.0.0")
        .collect();
    assert_eq!(tagged.len(), 1, "{index}");
    assert_eq!(tagged[0]["digest"], digest.as_str());
    assert!(
        entries
            .iter()
            .any(|d| d["artifactType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"),
        "the signature is listed: {index}"
    );

    // skopeo reads the layout: the same manifest bytes, and it copies it to a directory
    let raw = std::process::Command::new("skopeo")
        .args(["inspect", "--raw"])
        .arg(format!("oci:{}:1.0.0", s(&layout)))
        .output()
        .unwrap();
    assert!(
        raw.status.success(),
        "{}",
        String::from_utf8_lossy(&raw.stderr)
    );
    assert_eq!(
        raw.stdout,
        manifest_by_skopeo(&format!("{}/demo/hello@{digest}", a.addr))
    );
    let out = std::process::Command::new("skopeo")
        .arg("copy")
        .arg(format!("oci:{}:1.0.0", s(&layout)))
        .arg(format!("dir:{}", s(&work.path().join("by-skopeo"))))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // and a layout skopeo wrote is read by wharf: the same manifest arrives
    let by_skopeo = work.path().join("skopeo-layout");
    let out = std::process::Command::new("skopeo")
        .args(["copy", "--src-tls-verify=false"])
        .arg(format!("docker://{}/demo/hello:1.0.0", a.addr))
        .arg(format!("oci:{}:v1", s(&by_skopeo)))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let from_skopeo = json(&w.ok(&[
        "copy",
        &format!("oci:{}", s(&by_skopeo)),
        &format!("{}/from-skopeo/hello", b.addr),
        "--json",
    ]));
    assert_eq!(from_skopeo["digest"], digest.as_str());

    // on the other side: into a second registry, where the signature verifies
    w.ok(&[
        "copy",
        &format!("oci:{}:1.0.0", s(&layout)),
        &format!("{}/airgapped/hello", b.addr),
    ]);
    let copied = format!("{}/airgapped/hello:1.0.0", b.addr);
    let verified = json(&w.ok(&["verify", &copied, "--key", s(&public), "--json"]));
    assert_eq!(verified["digest"], digest.as_str());
    assert_eq!(verified["verified"], true);

    // pull --oci-layout writes the same entries, after the trust checks
    let pulled = work.path().join("pulled-layout");
    assert_eq!(
        w.ok(&[
            "pull",
            &format!("{}/demo/hello:1.0.0", a.addr),
            "--oci-layout",
            s(&pulled)
        ])
        .trim(),
        digest
    );
    let again = json(&std::fs::read_to_string(pulled.join("index.json")).unwrap());
    assert_eq!(again["manifests"], index["manifests"]);

    // layout to layout, the tag renamed; then into a registry by its only tag
    let second = work.path().join("second");
    w.ok(&[
        "copy",
        &format!("oci:{}:1.0.0", s(&layout)),
        &format!("oci:{}:stable", s(&second)),
    ]);
    w.ok(&[
        "copy",
        &format!("oci:{}", s(&second)),
        &format!("{}/second/hello", b.addr),
    ]);
    let verified = json(&w.ok(&[
        "verify",
        &format!("{}/second/hello:stable", b.addr),
        "--key",
        s(&public),
        "--json",
    ]));
    assert_eq!(verified["verified"], true);

    // a layer changed inside the layout (same size) is refused, with nothing pushed
    let manifest = json(&String::from_utf8(raw.stdout).unwrap());
    let layer = manifest["layers"][0]["digest"].as_str().unwrap();
    let blob = layout
        .join("blobs/sha256")
        .join(layer.trim_start_matches("sha256:"));
    let mut bytes = std::fs::read(&blob).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&blob, bytes).unwrap();
    let c = Registry::start();
    let out = w.run(&[
        "copy",
        &format!("oci:{}:1.0.0", s(&layout)),
        &format!("{}/tampered/hello", c.addr),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains(layer), "names the blob: {stderr}");
    let tags = w.run(&["tags", &format!("{}/tampered/hello", c.addr), "--json"]);
    assert!(
        !String::from_utf8_lossy(&tags.stdout).contains("1.0.0"),
        "nothing tagged at the destination"
    );

    // a name that is no layout, and a tag that is not there
    let out = w.run(&["copy", &format!("oci:{}", s(work.path())), &copied]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an OCI image layout"));
    let out = w.run(&["copy", &format!("oci:{}:2.0.0", s(&second)), &copied]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no tag `2.0.0` (its tags: stable"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
