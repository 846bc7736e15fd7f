//! Calico's images and release lines: which image belongs to Calico v2.6 and which to v3.x.
//!
//! Calico v2.6 ships `calico/node:v2.6.x`, `calico/cni:v1.11.x` and
//! `calico/kube-controllers:v1.0.x`; Calico v3.0 ships `calico/node:v3.0.x`,
//! `calico/cni:v2.0.x`, `calico/kube-controllers:v2.0.x` and, in its Kubernetes-API-datastore
//! manifests, `calico/typha:v0.6.x` (from v3.0.10 every component carries the Calico version).
//! Calico v2.6's manifests run no Typha. Registries differ (`quay.io/calico/node`,
//! `calico/node`, a private mirror), so an image is recognised by the last two path segments
//! of its repository.

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
    /// `calico/cni`: the CNI plugin and its installer (`install-cni`).
    Cni,
    /// `calico/typha`: the fan-out proxy of the Kubernetes API datastore manifests (Calico v3.0).
    Typha,
    /// Any other `calico/*` image (`calico/ctl`, `calico/routereflector`, ...).
    Other,
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
        "cni" => Some(Component::Cni),
        "typha" => Some(Component::Typha),
        _ => Some(Component::Other),
    }
}

/// Whether an image is Calico's (`quay.io/calico/*`, or `calico/*` from any registry or mirror).
pub fn is_calico(image: &str) -> bool {
    component(image).is_some()
}

/// The Calico release (major, minor) one image belongs to, by its component's numbering:
/// calico/node carries it; calico/cni v1.11 and calico/kube-controllers v1.0 shipped with
/// v2.6, their v2.0 with v3.0; calico/typha v0.6 with v3.0; from v3.0.10 every component
/// carries the Calico version. `None` when that cannot be told.
pub fn image_release(image: &str) -> Option<(u64, u64)> {
    let component = component(image)?;
    let version = split_image(image).1.and_then(version::parse_lenient)?;
    let own = (version.major, version.minor);
    match (component, version.major, version.minor) {
        (_, major, _) if major >= 3 => Some(own),
        (Component::Node, 2, _) => Some(own),
        (Component::KubeControllers | Component::Cni, 1, _) => Some((2, 6)),
        (Component::KubeControllers | Component::Cni, 2, 0) => Some((3, 0)),
        (Component::Typha, 0, 6) => Some((3, 0)),
        (Component::PolicyController, _, _) => Some((2, 5)),
        _ => None,
    }
}

/// The newest Calico release among `images`, named `v3.0`; `None` when none can be told.
pub fn newest_release(images: &[String]) -> Option<(u64, u64)> {
    images.iter().filter_map(|image| image_release(image)).max()
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
        Component::KubeControllers | Component::PolicyController | Component::Cni => 1,
        // Typha shipped with Calico v3.0 first (v0.6.x); no v2.6 manifest runs it.
        Component::Typha => {
            return if (version.major, version.minor) >= (0, 6) { Generation::V3 } else { Generation::Unknown }
        }
        Component::Other => return Generation::Unknown,
    };
    match version.major {
        major if major == v2_major => Generation::V2,
        major if major > v2_major => Generation::V3,
        _ => Generation::Unknown,
    }
}

/// `Calico v3.0 → v2.6 images`: a rollback in a few words (the images themselves when their
/// releases cannot be told).
pub fn transition(from: &[String], to: &[String]) -> String {
    match (newest_release(from), newest_release(to)) {
        (Some(a), Some(b)) => format!("Calico {} → {} images", release_name(a), release_name(b)),
        _ => format!("{} → {}", from.join(", "), to.join(", ")),
    }
}

/// `Calico v2.6 images`, or the images when their release cannot be told.
pub fn images_in_words(images: &[String]) -> String {
    match newest_release(images) {
        Some(release) => format!("Calico {} images", release_name(release)),
        None => images.join(", "),
    }
}

/// `v3.0`: a release as the report names it.
pub fn release_name((major, minor): (u64, u64)) -> String {
    format!("v{major}.{minor}")
}

/// The shape of a CNI network configuration, as `calico-config`'s `cni_network_config` holds
/// it: Calico v3.0's manifests made it a conflist (`"plugins": [calico, portmap]`, written as
/// `10-calico.conflist` by the v3.0 installer, `CNI_CONF_NAME`); Calico v2.6's is a single
/// network configuration (`"type": "calico"`), which its installer (calico/cni v1.11, no
/// `CNI_CONF_NAME`) writes as `10-calico.conf`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "format")]
pub enum CniConfig {
    /// A `plugins` list (the Calico v3.0 shape).
    Conflist { cni_version: Option<String>, plugins: Vec<String> },
    /// One network configuration (the Calico v2.6 shape).
    Conf { cni_version: Option<String> },
    /// Not JSON even with the installer's `__PLACEHOLDERS__` filled in: not told apart.
    Unreadable { reason: String },
}

/// Read `cni_network_config`. The installer replaces `__NAME__` placeholders before writing
/// the file, and some stand where a number goes (`"mtu": __CNI_MTU__`), so bare ones count as
/// a number here.
pub fn cni_config(text: &str) -> CniConfig {
    let filled = fill_placeholders(text);
    let value: serde_json::Value = match serde_json::from_str(&filled) {
        Ok(value) => value,
        Err(error) => return CniConfig::Unreadable { reason: format!("not JSON: {error}") },
    };
    let cni_version = value.get("cniVersion").and_then(|v| v.as_str()).map(str::to_string);
    match value.get("plugins").and_then(|p| p.as_array()) {
        Some(plugins) => CniConfig::Conflist {
            cni_version,
            plugins: plugins.iter().filter_map(|p| Some(p.get("type")?.as_str()?.to_string())).collect(),
        },
        None if value.get("type").is_some() => CniConfig::Conf { cni_version },
        None => CniConfig::Unreadable { reason: "neither `plugins` nor `type`".to_string() },
    }
}

/// `__CNI_MTU__` outside a string becomes `0`; inside strings placeholders are left alone.
fn fill_placeholders(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        if c == '"' {
            in_string = true;
            out.push(c);
        } else if c == '_' && chars.peek() == Some(&'_') {
            // A bare placeholder: `__` NAME `__`.
            let mut name = String::from("_");
            while let Some(&next) = chars.peek() {
                if next.is_ascii_uppercase() || next.is_ascii_digit() || next == '_' {
                    name.push(next);
                    chars.next();
                } else {
                    break;
                }
            }
            out.push_str(if name.len() > 4 && name.ends_with("__") { "0" } else { &name });
        } else {
            out.push(c);
        }
    }
    out
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
    fn every_calico_image_is_placed_in_its_release_whatever_the_registry() {
        assert_eq!(image_release("quay.io/calico/typha:v0.6.2"), Some((3, 0)));
        assert_eq!(image_release("registry.corp:5000/mirror/calico/typha:v3.0.12"), Some((3, 0)));
        assert_eq!(image_release("calico/cni:v1.11.4"), Some((2, 6)));
        assert_eq!(image_release("calico/cni:v2.0.2"), Some((3, 0)));
        assert_eq!(image_release("quay.io/calico/node:v2.6.8"), Some((2, 6)));
        assert_eq!(image_release("quay.io/calico/typha:latest"), None);
        assert!(
            is_calico("calico/ctl:v1.6.5") && !is_calico("nginx:1.25") && !is_calico("quay.io/coreos/flannel:v0.9.1")
        );
        assert_eq!(newest_release(&images(&["quay.io/calico/typha:v0.6.2", "nginx:1.25"])), Some((3, 0)));
        assert_eq!(generation(&images(&["quay.io/calico/typha:v0.6.2"]), Component::Typha), Generation::V3);
    }

    #[test]
    fn the_cni_configuration_of_each_release_is_told_apart() {
        // calico-config's cni_network_config of the Calico v3.0 KDD manifest (projectcalico/calico
        // v3.0/.../kubernetes-datastore/calico-networking/1.7/calico.yaml), shortened.
        let v3 = r#"{"name": "k8s-pod-network", "cniVersion": "0.3.0", "plugins": [
            {"type": "calico", "mtu": 1500, "nodename": "__KUBERNETES_NODE_NAME__"},
            {"type": "portmap", "snat": true, "capabilities": {"portMappings": true}}]}"#;
        assert_eq!(
            cni_config(v3),
            CniConfig::Conflist { cni_version: Some("0.3.0".into()), plugins: vec!["calico".into(), "portmap".into()] }
        );
        let v2 = r#"{"name": "k8s-pod-network", "cniVersion": "0.1.0", "type": "calico", "mtu": __CNI_MTU__}"#;
        assert_eq!(cni_config(v2), CniConfig::Conf { cni_version: Some("0.1.0".into()) });
        assert!(matches!(cni_config("{not json"), CniConfig::Unreadable { .. }));
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
