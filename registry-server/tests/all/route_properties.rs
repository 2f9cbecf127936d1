//! The `/v2/` route parser takes any path without panicking, and reads valid paths right.

use proptest::prelude::*;
use wharf_registry::http::{Route, parse_encoded_route, parse_route};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5000))]

    #[test]
    fn any_path_is_a_route_none_or_a_client_error(path in "\\PC{0,200}") {
        let _ = parse_route(&path);
    }

    #[test]
    fn any_encoded_path_never_panics(path in "(%[0-9a-fA-F]{2}|%|[a-z/:._-]){0,80}") {
        let _ = parse_encoded_route(&path);
    }

    /// Decoding happens once: a path with any of its bytes percent-encoded parses exactly
    /// as the plain path, and a doubly encoded one never parses to the plain route.
    #[test]
    fn encoded_paths_parse_as_their_decoding(
        name in "[a-z]{1,5}(/[a-z0-9]{1,5}){0,2}",
        tail in "(tags/list|manifests/v1|blobs/uploads/)",
        mask in proptest::collection::vec(0u8..4, 60),
    ) {
        let path = format!("{name}/{tail}");
        let encoded: String = path
            .chars()
            .zip(mask.iter().cycle())
            .map(|(c, m)| match m {
                0 => format!("%{:02X}", c as u32),
                1 => format!("%{:02x}", c as u32),
                _ => c.to_string(),
            })
            .collect();
        prop_assert_eq!(parse_encoded_route(&encoded).ok(), Some(parse_route(&path).unwrap()));
        let double: String = path.chars().map(|c| format!("%25{:02x}", c as u32)).collect();
        let parsed = parse_encoded_route(&double).ok().flatten();
        prop_assert!(parsed.is_none() || parsed != parse_route(&path).unwrap());
    }

    #[test]
    fn slash_heavy_paths_never_panic(parts in proptest::collection::vec("(blobs|uploads|manifests|tags|list|referrers|_catalog|sha256:[0-9a-f]{0,64}|[a-z]{0,3}|)", 0..8)) {
        let _ = parse_route(&parts.join("/"));
    }

    #[test]
    fn repositories_ending_in_keywords_are_read_from_the_right(
        name in "[a-z]{1,5}(/(blobs|manifests|uploads|tags|[a-z]{1,5})){0,3}",
        hex in "[0-9a-f]{64}",
    ) {
        let digest = format!("sha256:{hex}");
        match parse_route(&format!("{name}/blobs/{digest}")).unwrap() {
            Some(Route::Blob(repo, d)) => {
                prop_assert_eq!(repo.as_str(), name.as_str());
                prop_assert_eq!(d.to_string(), digest.clone());
            }
            other => prop_assert!(false, "{name}/blobs/{digest} parsed as {other:?}"),
        }
        match parse_route(&format!("{name}/manifests/{digest}")).unwrap() {
            Some(Route::Manifest(repo, _)) => prop_assert_eq!(repo.as_str(), name.as_str()),
            other => prop_assert!(false, "manifest path parsed as {other:?}"),
        }
        match parse_route(&format!("{name}/tags/list")).unwrap() {
            Some(Route::Tags(repo)) => prop_assert_eq!(repo.as_str(), name.as_str()),
            other => prop_assert!(false, "tags path parsed as {other:?}"),
        }
    }
}
