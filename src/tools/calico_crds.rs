//! kubectl's answers about Calico's custom resources (group `crd.projectcalico.org`, the
//! Kubernetes API datastore): the pure parser of one `kubectl get --raw
//! /apis/crd.projectcalico.org/v1/PLURAL` ([`super::kubectl::Kubectl::calico_objects`]) and
//! what its failure means. Three outcomes are told apart from kubectl's own words, never
//! guessed: the CRD is not installed (`Error from server (NotFound): the server could not find
//! the requested resource`), the user may not list it (`Error from server (Forbidden): … cannot
//! list resource "PLURAL" in API group "crd.projectcalico.org" at the cluster scope`), and a list
//! (empty or not).
//!
//! A list as the API server sends it (`fixtures/kubectl/get-raw-calico/*`):
//!
//! ```text
//! {"apiVersion":"crd.projectcalico.org/v1","items":[{"apiVersion":"crd.projectcalico.org/v1",
//!  "kind":"NetworkPolicy","metadata":{"name":"deny-all","namespace":"shop",…},"spec":{…}}],
//!  "kind":"NetworkPolicyList","metadata":{"continue":"","resourceVersion":"1234"}}
//! ```

use serde::Serialize;

use super::Unrecognised;
use crate::exec::Output;

/// The API group of Calico's custom resources, in v2.6 and v3.0 alike.
pub const GROUP: &str = "crd.projectcalico.org";

/// One Calico object: its name, its namespace (namespaced kinds only) and its `spec` as it is
/// stored, for the pure judgement of what v2.6 reads of it (`crate::calico_kdd`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CalicoObject {
    pub namespace: Option<String>,
    pub name: String,
    pub spec: serde_json::Value,
}

#[derive(Debug, serde::Deserialize)]
struct ListJson {
    kind: String,
    items: Option<Vec<ObjectJson>>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct ObjectJson {
    metadata: MetadataJson,
    spec: serde_json::Value,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct MetadataJson {
    name: String,
    namespace: Option<String>,
}

/// Read a successful `kubectl get --raw /apis/crd.projectcalico.org/v1/PLURAL`: the API server's
/// `…List` (`items` may be `null` or absent when empty). Anything else is unrecognised.
pub fn parse_calico_list(plural: &str, output: &Output) -> Result<Vec<CalicoObject>, Unrecognised> {
    let what = format!("`kubectl get --raw /apis/{GROUP}/v1/{plural}` list");
    let text = &output.stdout;
    let refuse = |reason: String| Unrecognised::new(what.clone(), reason, text);
    let list: ListJson = serde_json::from_str(text).map_err(|e| refuse(format!("not a list: {e}")))?;
    if !list.kind.ends_with("List") {
        return Err(refuse(format!("a `{}`, not a list", list.kind)));
    }
    let mut objects = Vec::new();
    for item in list.items.unwrap_or_default() {
        if item.metadata.name.is_empty() {
            return Err(refuse("an object without a name".into()));
        }
        objects.push(CalicoObject {
            namespace: item.metadata.namespace.filter(|n| !n.is_empty()),
            name: item.metadata.name,
            spec: item.spec,
        });
    }
    Ok(objects)
}

/// Why a `kubectl get --raw /apis/crd.projectcalico.org/v1/PLURAL` failed, from kubectl's stderr.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", content = "message", rename_all = "kebab-case")]
pub enum ListFailure {
    /// `Error from server (NotFound)`: the API server serves no such resource (the CRD is not
    /// installed).
    NoCrd,
    /// `Error from server (Forbidden)`: this user may not list it; kubectl's words.
    Forbidden(String),
    /// Anything else, in kubectl's words.
    Other(String),
}

/// Read the stderr of a failed list.
pub fn list_failure(stderr: &str) -> ListFailure {
    let said = |prefix: &str| stderr.lines().any(|line| line.starts_with(prefix));
    if said("Error from server (NotFound)") {
        ListFailure::NoCrd
    } else if said("Error from server (Forbidden)") {
        ListFailure::Forbidden(super::kubectl::failure_message(stderr))
    } else {
        ListFailure::Other(super::kubectl::failure_message(stderr))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(stdout: &str) -> Output {
        Output {
            code: Some(0),
            signal: None,
            stdout: stdout.into(),
            stderr: String::new(),
            duration: std::time::Duration::ZERO,
            stopped: false,
        }
    }

    #[test]
    fn a_list_keeps_names_namespaces_and_specs() {
        let text = r#"{"apiVersion":"crd.projectcalico.org/v1","items":[{"kind":"NetworkPolicy","metadata":{"name":"deny-all","namespace":"shop"},"spec":{"selector":"all()"}}],"kind":"NetworkPolicyList","metadata":{"resourceVersion":"9"}}"#;
        let objects = parse_calico_list("networkpolicies", &output(text)).unwrap();
        assert_eq!(objects.len(), 1);
        assert_eq!(objects[0].namespace.as_deref(), Some("shop"));
        assert_eq!(objects[0].spec["selector"], "all()");
        let empty = r#"{"apiVersion":"crd.projectcalico.org/v1","items":[],"kind":"IPPoolList","metadata":{}}"#;
        assert!(parse_calico_list("ippools", &output(empty)).unwrap().is_empty());
        assert!(parse_calico_list("ippools", &output(r#"{"kind":"Status"}"#)).is_err());
        assert!(parse_calico_list("ippools", &output("No resources found")).is_err());
    }

    #[test]
    fn a_missing_crd_a_refusal_and_other_failures_are_told_apart() {
        assert_eq!(
            list_failure("Error from server (NotFound): the server could not find the requested resource\n"),
            ListFailure::NoCrd
        );
        let forbidden = "Error from server (Forbidden): ippools.crd.projectcalico.org is forbidden: User \"jane\" cannot list resource \"ippools\" in API group \"crd.projectcalico.org\" at the cluster scope\n";
        assert!(matches!(list_failure(forbidden), ListFailure::Forbidden(m) if m.contains("cannot list")));
        assert!(matches!(list_failure("error: unknown flag: --raw\n"), ListFailure::Other(_)));
    }
}
