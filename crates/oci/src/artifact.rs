//! One typed view of every Wasm artifact layout in the wild.
//!
//! Tools have stored wasm in OCI registries in several shapes; a puller must read them
//! all and tell which one it is looking at:
//!
//! | layout | config media type | wasm layer media type | written by |
//! |---|---|---|---|
//! | [`WasmLayout::Cncf`] | `application/vnd.wasm.config.v0+json` | `application/wasm` | wharf, wkg, oci-wasm, wash (CNCF TAG-Runtime layout) |
//! | [`WasmLayout::Oras`] | `application/vnd.oci.empty.v1+json` or `application/vnd.unknown.config.v1+json` | `application/wasm` | `oras push REF file.wasm:application/wasm` |
//! | [`WasmLayout::WasmToOci`] | `application/vnd.wasm.config.v1+json` | `application/vnd.wasm.content.layer.v1+wasm` | wasm-to-oci, `cosign upload wasm`, Harbor |
//! | [`WasmLayout::WasmCloud`] | an image config | `application/vnd.module.wasm.content.layer.v1+wasm` | wasmCloud 1.x |
//! | [`WasmLayout::Spin`] | `application/vnd.fermyon.spin.application.v1+config` | one `application/vnd.wasm.content.layer.v1+wasm` per component, plus data layers | `spin registry push` |
//! | [`WasmLayout::Other`] | anything else | exactly one wasm layer | hand-made artifacts |
//!
//! A Spin application is several components and their files, run by Spin: it is read (so
//! it can be inspected and copied) but has no single layer to pull or run.

use crate::manifest::{Descriptor, ImageManifest};
use crate::media_types;

/// The config of a Spin application (`spin registry push`).
pub const SPIN_APPLICATION_CONFIG: &str = "application/vnd.fermyon.spin.application.v1+config";
/// The config ORAS writes when none is given (`oras push` before ORAS 1.0's empty config).
pub const ORAS_UNKNOWN_CONFIG: &str = "application/vnd.unknown.config.v1+json";

/// Which tool's shape a Wasm artifact has (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WasmLayout {
    /// The CNCF TAG-Runtime "Wasm OCI Artifact layout".
    Cncf,
    /// ORAS's default shape: an empty or unknown config and one `application/wasm` layer.
    Oras,
    /// wasm-to-oci, `cosign upload wasm` and Harbor.
    WasmToOci,
    /// wasmCloud 1.x.
    #[serde(rename = "wasmcloud")]
    WasmCloud,
    /// A Spin application: several components.
    Spin,
    /// Another config with exactly one wasm layer.
    Other,
}

impl WasmLayout {
    /// `cncf`, `oras`, `wasm-to-oci`, `wasmcloud`, `spin` or `other`.
    pub fn as_str(self) -> &'static str {
        match self {
            WasmLayout::Cncf => "cncf",
            WasmLayout::Oras => "oras",
            WasmLayout::WasmToOci => "wasm-to-oci",
            WasmLayout::WasmCloud => "wasmcloud",
            WasmLayout::Spin => "spin",
            WasmLayout::Other => "other",
        }
    }
}

/// Why a manifest is not a Wasm artifact wharf can pull or run.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ArtifactError {
    /// No layer carries wasm.
    #[error("no layer has a wasm media type (config `{config}`, layers {layers})")]
    NoWasmLayer {
        /// The config media type.
        config: String,
        /// The layer media types, comma-separated.
        layers: String,
    },
    /// A layout that holds exactly one wasm layer holds another number.
    #[error("a {layout} Wasm artifact must have exactly one wasm layer; this one has {count}")]
    WasmLayerCount {
        /// The layout (`cncf`, …).
        layout: &'static str,
        /// How many it has.
        count: usize,
    },
    /// A Spin application: several components run by Spin.
    #[error(
        "it is a Spin application with {components} component(s), not one Wasm package: run it with `spin up --from REFERENCE`"
    )]
    SpinApplication {
        /// How many wasm layers (components) it has.
        components: usize,
    },
}

/// A manifest read as a Wasm artifact: its layout and its wasm layers.
#[derive(Clone, Debug)]
pub struct WasmArtifact<'a> {
    /// Which tool's shape it has.
    pub layout: WasmLayout,
    /// The layers with a wasm media type, in manifest order.
    pub wasm_layers: Vec<&'a Descriptor>,
    /// The manifest itself.
    pub manifest: &'a ImageManifest,
}

impl<'a> WasmArtifact<'a> {
    /// Read `m` as a Wasm artifact.
    ///
    /// # Errors
    /// [`ArtifactError::NoWasmLayer`] when no layer has a wasm media type and the config is
    /// not a Wasm config either (a CNCF or wasm-to-oci config without a wasm layer is
    /// [`ArtifactError::WasmLayerCount`]).
    pub fn read(m: &'a ImageManifest) -> Result<WasmArtifact<'a>, ArtifactError> {
        let wasm_layers: Vec<&Descriptor> = m
            .layers
            .iter()
            .filter(|l| media_types::is_wasm_layer(&l.media_type))
            .collect();
        let config = m.config.media_type.as_str();
        let has = |media_type: &str| wasm_layers.iter().any(|l| l.media_type == media_type);
        let layout = if config == SPIN_APPLICATION_CONFIG {
            WasmLayout::Spin
        } else if config == media_types::WASM_CONFIG {
            WasmLayout::Cncf
        } else if config == media_types::LEGACY_WASM_CONFIG_V1
            || has(media_types::LEGACY_WASM_LAYER_V1)
        {
            WasmLayout::WasmToOci
        } else if has(media_types::WASMCLOUD_LAYER) {
            WasmLayout::WasmCloud
        } else if matches!(config, media_types::OCI_EMPTY | ORAS_UNKNOWN_CONFIG) {
            WasmLayout::Oras
        } else {
            WasmLayout::Other
        };
        if wasm_layers.is_empty() && !media_types::is_wasm_config(config) {
            return Err(ArtifactError::NoWasmLayer {
                config: config.to_owned(),
                layers: m
                    .layers
                    .iter()
                    .map(|l| format!("`{}`", l.media_type))
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        Ok(WasmArtifact {
            layout,
            wasm_layers,
            manifest: m,
        })
    }

    /// The one wasm layer to pull, run or index.
    ///
    /// # Errors
    /// [`ArtifactError::SpinApplication`] for a Spin application,
    /// [`ArtifactError::WasmLayerCount`] when there is not exactly one wasm layer.
    pub fn layer(&self) -> Result<&'a Descriptor, ArtifactError> {
        match (self.layout, self.wasm_layers.as_slice()) {
            (WasmLayout::Spin, layers) => Err(ArtifactError::SpinApplication {
                components: layers.len(),
            }),
            (_, [one]) => Ok(one),
            (layout, layers) => Err(ArtifactError::WasmLayerCount {
                layout: layout.as_str(),
                count: layers.len(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Digest;

    fn manifest(config: &str, layers: &[&str]) -> ImageManifest {
        let d = |s: &str| Descriptor::new(s, Digest::sha256_of(s.as_bytes()), 1);
        ImageManifest {
            schema_version: 2,
            media_type: Some(media_types::OCI_MANIFEST.to_owned()),
            artifact_type: None,
            config: d(config),
            layers: layers.iter().map(|l| d(l)).collect(),
            subject: None,
            annotations: None,
        }
    }

    #[test]
    fn every_layout_in_the_wild_is_recognised() {
        use media_types::*;
        let cases = [
            (WASM_CONFIG, vec![WASM_LAYER], WasmLayout::Cncf),
            (OCI_EMPTY, vec![WASM_LAYER], WasmLayout::Oras),
            (ORAS_UNKNOWN_CONFIG, vec![WASM_LAYER], WasmLayout::Oras),
            (
                LEGACY_WASM_CONFIG_V1,
                vec![LEGACY_WASM_LAYER_V1],
                WasmLayout::WasmToOci,
            ),
            (
                "application/vnd.oci.image.config.v1+json",
                vec![WASMCLOUD_LAYER],
                WasmLayout::WasmCloud,
            ),
            (
                "application/vnd.oci.image.config.v1+json",
                vec![WASM_LAYER],
                WasmLayout::Other,
            ),
        ];
        for (config, layers, layout) in cases {
            let m = manifest(config, &layers);
            let a = WasmArtifact::read(&m).unwrap();
            assert_eq!(a.layout, layout, "{config} {layers:?}");
            assert_eq!(a.layer().unwrap().media_type, layers[0]);
            assert_eq!(
                serde_json::to_value(layout).unwrap(),
                layout.as_str(),
                "serialized as named"
            );
        }
    }

    #[test]
    fn spin_applications_are_read_but_have_no_single_layer() {
        let m = manifest(
            SPIN_APPLICATION_CONFIG,
            &[
                media_types::LEGACY_WASM_LAYER_V1,
                media_types::LEGACY_WASM_LAYER_V1,
                "application/vnd.wasm.content.layer.v1+data",
            ],
        );
        let a = WasmArtifact::read(&m).unwrap();
        assert_eq!(a.layout, WasmLayout::Spin);
        assert_eq!(a.wasm_layers.len(), 2);
        let e = a.layer().unwrap_err();
        assert_eq!(e, ArtifactError::SpinApplication { components: 2 });
        assert!(e.to_string().contains("spin up"), "{e}");
    }

    #[test]
    fn other_artifacts_and_wrong_counts_are_named() {
        let image = manifest(
            "application/vnd.oci.image.config.v1+json",
            &["application/vnd.oci.image.layer.v1.tar+gzip"],
        );
        let e = WasmArtifact::read(&image).unwrap_err();
        assert!(e.to_string().contains("tar+gzip"), "{e}");
        let two = manifest(
            media_types::WASM_CONFIG,
            &[media_types::WASM_LAYER, media_types::WASM_LAYER],
        );
        assert_eq!(
            WasmArtifact::read(&two).unwrap().layer().unwrap_err(),
            ArtifactError::WasmLayerCount {
                layout: "cncf",
                count: 2
            }
        );
        let none = manifest(media_types::WASM_CONFIG, &[]);
        assert_eq!(
            WasmArtifact::read(&none).unwrap().layer().unwrap_err(),
            ArtifactError::WasmLayerCount {
                layout: "cncf",
                count: 0
            }
        );
    }
}
