//! Yank marks: how wharf marks a version of a package as yanked, as an OCI referrer (image
//! spec 1.1 artifact) of the version's manifest, read the same way by the CLI, the registry
//! and its catalog.
//!
//! A mark is a manifest with artifact type [`ARTIFACT_TYPE`] whose `subject` is the
//! version's manifest, with the reason in [`REASON_ANNOTATION`] and the version (tag) it
//! yanks in [`VERSION_ANNOTATION`]. Several tags may point at one manifest (`1.0.0` and
//! `1.1.0` pushed from the same file): a mark yanks only the version it names. A mark
//! without a version (written before marks named one) yanks every tag of its subject.

use std::collections::BTreeMap;

/// Artifact type of yank marks.
pub const ARTIFACT_TYPE: &str = "application/vnd.wharf.yank.v1+json";
/// Annotation holding the reason.
pub const REASON_ANNOTATION: &str = "dev.wharf.yank.reason";
/// Annotation holding the version (tag) the mark yanks.
pub const VERSION_ANNOTATION: &str = "dev.wharf.yank.version";

/// Whether a mark with `annotations` yanks the version `tag` of its subject (`None`: the
/// subject named by digest, which only a mark without a version yanks).
pub fn applies(annotations: Option<&BTreeMap<String, String>>, tag: Option<&str>) -> bool {
    match annotations.and_then(|a| a.get(VERSION_ANNOTATION)) {
        None => true,
        Some(version) => tag == Some(version.as_str()),
    }
}

/// The reason a mark with `annotations` gives ([`REASON_ANNOTATION`], else "no reason
/// given").
pub fn reason(annotations: Option<&BTreeMap<String, String>>) -> String {
    annotations
        .and_then(|a| a.get(REASON_ANNOTATION))
        .cloned()
        .unwrap_or_else(|| "no reason given".to_owned())
}

/// The reason of the first yank mark among `referrers` that yanks version `tag` (see
/// [`applies`]); `None` when none does. Descriptors of other artifact types are skipped,
/// so a registry that ignores an `artifactType` filter cannot make a version look yanked.
pub fn yanked_by<'a>(
    referrers: impl IntoIterator<Item = &'a crate::Descriptor>,
    tag: Option<&str>,
) -> Option<String> {
    referrers
        .into_iter()
        .find(|d| {
            d.artifact_type.as_deref() == Some(ARTIFACT_TYPE)
                && applies(d.annotations.as_ref(), tag)
        })
        .map(|d| reason(d.annotations.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mark_yanks_the_version_it_names() {
        let named = BTreeMap::from([(VERSION_ANNOTATION.to_owned(), "1.0.0".to_owned())]);
        assert!(applies(Some(&named), Some("1.0.0")));
        assert!(
            !applies(Some(&named), Some("1.1.0")),
            "another tag of the same manifest"
        );
        assert!(!applies(Some(&named), None), "by digest");
        let old = BTreeMap::from([(REASON_ANNOTATION.to_owned(), "CVE".to_owned())]);
        for tag in [Some("1.0.0"), Some("1.1.0"), None] {
            assert!(
                applies(Some(&old), tag) && applies(None, tag),
                "a mark naming no version"
            );
        }
    }
}
