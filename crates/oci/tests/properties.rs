//! No input makes the parsers panic, and what they accept round-trips.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use proptest::prelude::*;
use wharf_oci::{
    Digest, ImageIndex, ImageManifest, ImageReference, PackageRef, Reference, RepositoryName, Tag,
    WasmConfig,
};

const COMPONENT: &str = "[a-z0-9]+([._-][a-z0-9]+){0,3}";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parsers_never_panic(s in "\\PC{0,300}") {
        let _ = s.parse::<Digest>();
        let _ = s.parse::<RepositoryName>();
        let _ = s.parse::<Tag>();
        let _ = s.parse::<Reference>();
        let _ = s.parse::<PackageRef>();
        let _ = ImageReference::parse(&s, None);
        let _ = ImageReference::parse(&s, Some("example.com"));
    }

    #[test]
    fn manifest_parsing_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = ImageManifest::from_slice(&bytes);
        let _ = serde_json::from_slice::<ImageIndex>(&bytes);
        let _ = serde_json::from_slice::<WasmConfig>(&bytes);
    }

    #[test]
    fn json_shaped_manifests_never_panic(
        schema in any::<u32>(),
        media in "\\PC{0,40}",
        digest in "\\PC{0,80}",
        size in any::<i64>(),
    ) {
        let doc = format!(
            r#"{{"schemaVersion":{schema},"mediaType":{media:?},"config":{{"mediaType":{media:?},"digest":{digest:?},"size":{size}}},"layers":[]}}"#
        );
        if let Ok(m) = ImageManifest::from_slice(doc.as_bytes()) {
            prop_assert_eq!(m.schema_version, 2);
            let _ = wharf_oci::WasmArtifact::read(&m).map(|a| a.layer().is_ok());
            let _ = m.effective_artifact_type();
        }
    }

    #[test]
    fn valid_digests_round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let d = Digest::sha256_of(&bytes);
        prop_assert_eq!(d.to_string().parse::<Digest>().unwrap(), d);
    }

    #[test]
    fn names_from_the_grammar_parse_and_references_round_trip(
        parts in proptest::collection::vec(COMPONENT, 1..4),
        tag in "[a-zA-Z0-9_][a-zA-Z0-9._-]{0,20}",
        port in 1u16..,
    ) {
        let name = parts.join("/");
        prop_assume!(name.len() <= 255);
        let repo: RepositoryName = name.parse().unwrap();
        prop_assert_eq!(repo.as_str(), name.as_str());
        let text = format!("localhost:{port}/{name}:{tag}");
        let r = ImageReference::parse(&text, None).unwrap();
        prop_assert_eq!(r.to_string(), text);
        prop_assert_eq!(r.reference().to_string(), tag);
    }
}
