//! Calico's images and release lines: which image belongs to Calico v2.6 and which to v3.x.
//!
//! Calico v2.6 ships `calico/node:v2.6.x` and `calico/kube-controllers:v1.0.x`; Calico v3.0
//! ships `calico/node:v3.0.x` and `calico/kube-controllers:v2.0.x` (v3.0.10 on: `v3.0.x`).
//! Registries differ (`quay.io/calico/node`, `calico/node`, a private mirror), so an image is
//! recognised by the last two path segments of its repository.

use semver::Version;
use serde::Serialize;

use crate::tools::version;

/// The Calico component an image provides, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Component {
    Node,
    KubeControllers,
    /// Calico v2.5 and earlier: `calico/kube-policy-controller`.
    PolicyController,
}

/// Which side of the upgrade a set of images is on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Generation {
    /// Calico v2.x: calico/node v2.x, calico/kube-controllers v1.x.
    V2,
    /// Calico v3.x: calico/node v3.x, calico/kube-controllers v2.x or later.
    V3,
    /// No Calico image, or a tag that is not a version (`latest`, a digest).
    Unknown,
}

/// `quay.io/calico/node:v2.6.8` → (`quay.io/calico/node`, `v2.6.8`). A digest (`@sha256:…`)
/// has no tag; a registry port (`registry:5000/calico/node`) is not a tag.
pub fn split_image(image: &str) -> (&str, Option<&str>) {
    let without_digest = image.split('@').next().unwrap_or(image);
    let last_slash = without_digest.rfind('/').map_or(0, |i| i + 1);
    match without_digest[last_slash..].rfind(':') {
        Some(colon) => (&without_digest[..last_slash + colon], Some(&without_digest[last_slash + colon + 1..])),
        None => (without_digest, None),
    }
}

pub fn component(image: &str) -> Option<Component> {
    let (repository, _) = split_image(image);
    let mut segments = repository.rsplit('/');
    let (Some(name), Some(owner)) = (segments.next(), segments.next()) else { return None };
    if owner != "calico" {
        return None;
    }
    match name {
        "node" => Some(Component::Node),
        "kube-controllers" => Some(Component::KubeControllers),
        "kube-policy-controller" => Some(Component::PolicyController),
        _ => None,
    }
}

/// The version of `wanted` among `images`, if its tag is a version.
pub fn component_version(images: &[String], wanted: Component) -> Option<Version> {
    images
        .iter()
        .filter(|image| component(image) == Some(wanted))
        .find_map(|image| split_image(image).1.and_then(version::parse_lenient))
}

/// The generation of a pod template, judged by the component that defines it: calico/node for
/// the DaemonSet, calico/kube-controllers for the Deployment.
pub fn generation(images: &[String], defining: Component) -> Generation {
    let Some(version) = component_version(images, defining) else {
        // Calico v2.5 ran `calico/kube-policy-controller`, which v3.0 never ships.
        let policy_controller = images.iter().any(|i| component(i) == Some(Component::PolicyController));
        return if defining == Component::KubeControllers && policy_controller {
            Generation::V2
        } else {
            Generation::Unknown
        };
    };
    let v2_major = match defining {
        Component::Node => 2,
        Component::KubeControllers | Component::PolicyController => 1,
    };
    match version.major {
        major if major == v2_major => Generation::V2,
        major if major > v2_major => Generation::V3,
        _ => Generation::Unknown,
    }
}

/// The Calico release a set of images belongs to, as the report names it: `v2.6`, `v3.0`
/// (from calico/node's tag, else calico/kube-controllers': v1.0.x shipped with Calico v2.6,
/// v2.0.x with v3.0, later ones carry the Calico version), `v2.5` for the policy controller;
/// `None` when no Calico image has a version tag.
pub fn release(images: &[String]) -> Option<String> {
    if let Some(node) = component_version(images, Component::Node) {
        return Some(format!("v{}.{}", node.major, node.minor));
    }
    if let Some(controllers) = component_version(images, Component::KubeControllers) {
        return Some(match controllers.major {
            0 => return None,
            1 => "v2.6".to_string(),
            2 => "v3.0".to_string(),
            _ => format!("v{}.{}", controllers.major, controllers.minor),
        });
    }
    images.iter().any(|i| component(i) == Some(Component::PolicyController)).then(|| "v2.5".to_string())
}

/// `on v3.0 images`, `on v2.6 images`, or `on other images` when no release can be named.
pub fn on_images(images: &[String]) -> String {
    match release(images) {
        Some(release) => format!("on {release} images"),
        None => "on other images".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn splits_registry_port_tag_and_digest() {
        assert_eq!(split_image("quay.io/calico/node:v2.6.8"), ("quay.io/calico/node", Some("v2.6.8")));
        assert_eq!(split_image("registry:5000/calico/node:v3.0.4"), ("registry:5000/calico/node", Some("v3.0.4")));
        assert_eq!(split_image("registry:5000/calico/node"), ("registry:5000/calico/node", None));
        assert_eq!(split_image("calico/node@sha256:abc"), ("calico/node", None));
    }

    #[test]
    fn node_v2_is_v2_and_v3_is_v3_whatever_the_registry() {
        let v2 = images(&["quay.io/calico/node:v2.6.8", "quay.io/calico/cni:v1.11.4"]);
        let v3 = images(&["mirror.local:5000/calico/node:v3.0.4", "calico/cni:v2.0.2"]);
        assert_eq!(generation(&v2, Component::Node), Generation::V2);
        assert_eq!(generation(&v3, Component::Node), Generation::V3);
        assert_eq!(generation(&images(&["calico/node:latest"]), Component::Node), Generation::Unknown);
    }

    #[test]
    fn kube_controllers_v2_0_is_the_calico_v3_release() {
        assert_eq!(
            generation(&images(&["quay.io/calico/kube-controllers:v1.0.3"]), Component::KubeControllers),
            Generation::V2
        );
        assert_eq!(
            generation(&images(&["quay.io/calico/kube-controllers:v2.0.2"]), Component::KubeControllers),
            Generation::V3
        );
        assert_eq!(
            generation(&images(&["quay.io/calico/kube-controllers:v3.0.11"]), Component::KubeControllers),
            Generation::V3
        );
    }

    #[test]
    fn releases_are_named_from_node_or_kube_controllers() {
        assert_eq!(
            release(&images(&["quay.io/calico/node:v2.6.8", "quay.io/calico/cni:v1.11.4"])).as_deref(),
            Some("v2.6")
        );
        assert_eq!(release(&images(&["quay.io/calico/node:v3.0.4"])).as_deref(), Some("v3.0"));
        assert_eq!(release(&images(&["quay.io/calico/kube-controllers:v1.0.3"])).as_deref(), Some("v2.6"));
        assert_eq!(release(&images(&["quay.io/calico/kube-controllers:v2.0.2"])).as_deref(), Some("v3.0"));
        assert_eq!(release(&images(&["quay.io/calico/kube-controllers:v3.1.3"])).as_deref(), Some("v3.1"));
        assert_eq!(release(&images(&["calico/node:latest"])), None);
        assert_eq!(on_images(&images(&["nginx:1.25"])), "on other images");
    }
}
