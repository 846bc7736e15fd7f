//! What Calico v2.6 will not read or enforce of the Calico objects in the Kubernetes API
//! datastore (KDD) once calico-node runs v2.6 again: the pure judgement, object by object.
//!
//! Every rule here is established from libcalico-go, the library both releases read the
//! datastore with (github.com/projectcalico/libcalico-go), and nothing is flagged that those
//! sources do not establish:
//!
//! - **Kinds only v3.0 reads.** v2.6's KDD backend (`release-v2.6`, `lib/backend/k8s/k8s.go` and
//!   `lib/backend/k8s/resources/`) has clients for `globalfelixconfigs`, `globalbgpconfigs`,
//!   `bgppeers`, `ippools` and `globalnetworkpolicies` only. v3.0's (`release-v3.0`, same paths)
//!   adds `networkpolicies` (namespaced, `resources/networkpolicy.go`), `felixconfigurations`,
//!   `bgpconfigurations` and `clusterinformations`.
//! - **IP pools.** v2.6 reads a pool's key from its name (`resources/ippool.go`, `ToKVPair` →
//!   `ResourceNameToIPNet` in `resources/names.go`: the last `-` is the `/`, the other dashes the
//!   dots, or the colons of an IPv6 address); a name that is no CIDR so spelled
//!   (`default-ipv4-ippool`, v3.0's default) fails, and v2.6's list skips the object
//!   (`resources/customresource.go`, `List`: "unable to process resource, skipping"). Its spec is
//!   v2.6's `api.IPPoolSpec` (`lib/api/ippool.go`: `ipip: {enabled, mode}`, `nat-outgoing`);
//!   v3.0's `lib/apis/v3/ippool.go` writes `ipipMode` and `natOutgoing` instead (its
//!   `IPPoolv1v3Converter` reads v2.6's fields, never the other way round).
//! - **BGP peers.** v2.6's `resources/globalbgppeer.go` refuses a peer whose `spec.scope` is not
//!   `global` ("configured with non-global scope - this is expected during upgrade to v3.x"), and
//!   the list skips it; v3.0's `lib/apis/v3/bgppeer.go` has no scope at all.
//! - **Global network policies.** v2.6 reads the spec as its `api.PolicySpec`, unvalidated
//!   (`resources/globalnetworkpolicies.go`); its API knows the actions `allow`, `deny`, `log`,
//!   `pass` (`lib/validator/validator.go`, `actionRegex`) and the types `ingress`, `egress`
//!   (`lib/api/policy.go`), where v3.0 writes `Allow`, `Deny`, `Log`, `Pass` and `Ingress`,
//!   `Egress` (`lib/apis/v3/policy.go`). A policy's name is read as is by both: no name is
//!   flagged.

use std::net::IpAddr;

use serde::Serialize;

use crate::tools::calico_crds::CalicoObject;

/// One kind of Calico object the judgement lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Kind {
    /// The resource's plural (`networkpolicies`), in group `crd.projectcalico.org`.
    pub plural: &'static str,
    pub namespaced: bool,
    /// Only v3.0 reads it: every object is named.
    pub v3_only: bool,
    /// What an object of it means once v2.6 runs (for a shared kind: what is judged).
    pub meaning: &'static str,
}

/// The kinds, the v3-only ones first, in the order the report names them.
pub const KINDS: &[Kind] = &[
    Kind {
        plural: "networkpolicies",
        namespaced: true,
        v3_only: true,
        meaning: "namespaced Calico policy, which v2.6 does not have: no longer enforced (traffic it denied flows again)",
    },
    Kind {
        plural: "felixconfigurations",
        namespaced: false,
        v3_only: true,
        meaning: "Felix settings v2.6 does not read (it reads globalfelixconfigs): they no longer apply",
    },
    Kind {
        plural: "bgpconfigurations",
        namespaced: false,
        v3_only: true,
        meaning: "BGP settings v2.6 does not read (it reads globalbgpconfigs): they no longer apply",
    },
    Kind {
        plural: "clusterinformations",
        namespaced: false,
        v3_only: true,
        meaning: "v3.0's cluster information (its version, its datastore's readiness), which v2.6 does not read",
    },
    Kind {
        plural: "ippools",
        namespaced: false,
        v3_only: false,
        meaning: "IP pools named other than by their CIDR (skipped by v2.6), or with IPIP or NAT outgoing only in v3.0's fields (read as off)",
    },
    Kind {
        plural: "bgppeers",
        namespaced: false,
        v3_only: false,
        meaning: "BGP peers without v2.6's `scope: global` (skipped by v2.6)",
    },
    Kind {
        plural: "globalnetworkpolicies",
        namespaced: false,
        v3_only: false,
        meaning: "global policies with v3.0's actions or types (`Allow`, `Ingress`), which v2.6's policy API spells `allow`, `ingress`",
    },
];

/// The kind of this plural.
pub fn kind(plural: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|k| k.plural == plural)
}

/// One object v2.6 will not read or enforce as v3.0 did, and what that means.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Namespaced kinds only.
    pub namespace: Option<String>,
    pub name: String,
    pub meaning: String,
}

impl Finding {
    /// `shop/deny-all`, or `default-ipv4-ippool`.
    pub fn reference(&self) -> String {
        match &self.namespace {
            Some(namespace) => format!("{namespace}/{}", self.name),
            None => self.name.clone(),
        }
    }
}

/// The objects of `kind` that v2.6 will not read or enforce as v3.0 did, each with what that
/// means; the others (a pool named by its CIDR with v2.6's fields, say) are not listed.
pub fn judge(kind: &Kind, objects: &[CalicoObject]) -> Vec<Finding> {
    objects
        .iter()
        .filter_map(|object| {
            let meaning = match kind.plural {
                _ if kind.v3_only => Some(kind.meaning.to_string()),
                "ippools" => ip_pool(object),
                "bgppeers" => bgp_peer(object),
                "globalnetworkpolicies" => global_policy(object),
                _ => None,
            }?;
            Some(Finding { namespace: object.namespace.clone(), name: object.name.clone(), meaning })
        })
        .collect()
}

/// The CIDR v2.6 reads from an IP pool's name (`192-168-0-0-16` → 192.168.0.0/16), as
/// `ResourceNameToIPNet` of `release-v2.6` reads it: `None` when it reads none.
pub fn cidr_of_pool_name(name: &str) -> Option<(IpAddr, u8)> {
    let (address, size) = name.rsplit_once('-')?;
    let v6 = address.contains("--") || address.matches('-').count() > 3;
    let address: String = if v6 { replace_first(address, ':', 7) } else { replace_first(address, '.', 3) };
    let ip: IpAddr = address.parse().ok()?;
    if size.is_empty() || !size.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let size: u8 = size.parse().ok()?;
    let bits = if ip.is_ipv4() { 32 } else { 128 };
    (size <= bits).then_some((ip, size))
}

/// `text` with its first `count` dashes replaced by `with`.
fn replace_first(text: &str, with: char, count: usize) -> String {
    let mut left = count;
    text.chars()
        .map(|c| {
            if c == '-' && left > 0 {
                left -= 1;
                with
            } else {
                c
            }
        })
        .collect()
}

fn text<'a>(spec: &'a serde_json::Value, field: &str) -> Option<&'a str> {
    spec.get(field).and_then(serde_json::Value::as_str)
}

fn flag(spec: &serde_json::Value, field: &str) -> bool {
    spec.get(field).and_then(serde_json::Value::as_bool).unwrap_or(false)
}

fn ip_pool(object: &CalicoObject) -> Option<String> {
    let spec = &object.spec;
    let cidr = text(spec, "cidr").unwrap_or("its CIDR");
    if cidr_of_pool_name(&object.name).is_none() {
        return Some(format!(
            "named other than by its CIDR (v2.6 reads the CIDR from a name such as `192-168-0-0-16`): v2.6 skips it, so it has no pool {cidr}"
        ));
    }
    let mut v3_only = Vec::new();
    let ipip_v1 = spec.get("ipip").is_some_and(|ipip| flag(ipip, "enabled"));
    if let Some(mode @ ("Always" | "CrossSubnet")) = text(spec, "ipipMode") {
        if !ipip_v1 {
            v3_only.push(format!("IPIP (`ipipMode: {mode}`, no `ipip`): v2.6 reads IPIP off"));
        }
    }
    if flag(spec, "natOutgoing") && !flag(spec, "nat-outgoing") {
        v3_only.push("NAT outgoing (`natOutgoing`, no `nat-outgoing`): v2.6 reads it off".to_string());
    }
    (!v3_only.is_empty()).then(|| format!("pool {cidr} has only v3.0's fields for {}", v3_only.join("; ")))
}

fn bgp_peer(object: &CalicoObject) -> Option<String> {
    let spec = &object.spec;
    if text(spec, "scope") == Some("global") {
        return None;
    }
    let peer = text(spec, "peerIP").unwrap_or("its peer");
    let scope = match text(spec, "scope") {
        Some(scope) => format!("`scope: {scope}`"),
        None => "no `scope` (v3.0 has none)".to_string(),
    };
    Some(format!("{scope}, where v2.6 reads only `scope: global`: v2.6 skips it, so no BGP session with {peer}"))
}

fn global_policy(object: &CalicoObject) -> Option<String> {
    let spec = &object.spec;
    let mut unknown: Vec<String> = Vec::new();
    for direction in ["ingress", "egress"] {
        let rules = spec.get(direction).and_then(serde_json::Value::as_array).map(Vec::as_slice).unwrap_or_default();
        for action in rules.iter().filter_map(|rule| text(rule, "action")) {
            let known = matches!(action, "allow" | "deny" | "log" | "pass");
            if !known && !unknown.iter().any(|u| u == &format!("action `{action}`")) {
                unknown.push(format!("action `{action}`"));
            }
        }
    }
    let types = spec.get("types").and_then(serde_json::Value::as_array).map(Vec::as_slice).unwrap_or_default();
    for kind in types.iter().filter_map(serde_json::Value::as_str) {
        if !matches!(kind, "ingress" | "egress") {
            unknown.push(format!("type `{kind}`"));
        }
    }
    (!unknown.is_empty()).then(|| {
        format!(
            "{}, which v2.6's policy API does not have (actions `allow`, `deny`, `log`, `pass`; types `ingress`, `egress`): do not count on v2.6 enforcing it as written",
            unknown.join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn object(namespace: Option<&str>, name: &str, spec: serde_json::Value) -> CalicoObject {
        CalicoObject { namespace: namespace.map(str::to_string), name: name.into(), spec }
    }

    #[test]
    fn pool_names_are_read_as_v2_6_reads_them() {
        assert_eq!(cidr_of_pool_name("192-168-0-0-16"), Some(("192.168.0.0".parse().unwrap(), 16)));
        assert_eq!(cidr_of_pool_name("fd80-24e2-f998-72d6---64"), Some(("fd80:24e2:f998:72d6::".parse().unwrap(), 64)));
        assert_eq!(cidr_of_pool_name("default-ipv4-ippool"), None);
        assert_eq!(cidr_of_pool_name("10-0-0-0-33"), None);
        assert_eq!(cidr_of_pool_name("10-0-0-0-+8"), None);
        assert_eq!(cidr_of_pool_name("10-0-0-0"), None);
    }

    #[test]
    fn every_object_of_a_v3_only_kind_is_named_with_its_namespace() {
        let policies = [object(Some("shop"), "deny-all", json!({})), object(Some("web"), "allow-dns", json!({}))];
        let found = judge(kind("networkpolicies").unwrap(), &policies);
        assert_eq!(found.iter().map(Finding::reference).collect::<Vec<_>>(), ["shop/deny-all", "web/allow-dns"]);
        assert!(found[0].meaning.contains("no longer enforced"), "{}", found[0].meaning);
    }

    #[test]
    fn pools_are_flagged_for_their_name_or_their_v3_only_fields() {
        let pools = [
            object(
                None,
                "default-ipv4-ippool",
                json!({"cidr": "192.168.0.0/16", "ipipMode": "Always", "natOutgoing": true}),
            ),
            object(None, "10-1-0-0-16", json!({"cidr": "10.1.0.0/16", "ipipMode": "CrossSubnet", "natOutgoing": true})),
            object(
                None,
                "10-2-0-0-16",
                json!({"cidr": "10.2.0.0/16", "ipip": {"enabled": true}, "nat-outgoing": true, "ipipMode": "Always", "natOutgoing": true}),
            ),
            object(None, "10-3-0-0-16", json!({"cidr": "10.3.0.0/16", "ipipMode": "Never"})),
        ];
        let found = judge(kind("ippools").unwrap(), &pools);
        assert_eq!(found.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["default-ipv4-ippool", "10-1-0-0-16"]);
        assert!(found[0].meaning.contains("v2.6 skips it, so it has no pool 192.168.0.0/16"), "{}", found[0].meaning);
        assert!(found[1].meaning.contains("`ipipMode: CrossSubnet`"), "{}", found[1].meaning);
        assert!(found[1].meaning.contains("NAT outgoing"), "{}", found[1].meaning);
    }

    #[test]
    fn peers_without_global_scope_and_policies_in_v3_spelling_are_flagged() {
        let peers = [
            object(None, "rack-1-tor", json!({"peerIP": "10.0.0.1", "asNumber": 64512})),
            object(None, "10-0-0-2", json!({"scope": "global", "peerIP": "10.0.0.2", "asNumber": 64512})),
        ];
        let found = judge(kind("bgppeers").unwrap(), &peers);
        assert_eq!(found.len(), 1);
        assert!(found[0].meaning.contains("no BGP session with 10.0.0.1"), "{}", found[0].meaning);
        let policies = [
            object(None, "v3", json!({"types": ["Ingress"], "ingress": [{"action": "Deny"}, {"action": "Deny"}]})),
            object(
                None,
                "v2",
                json!({"types": ["ingress"], "ingress": [{"action": "deny"}], "egress": [{"action": "allow"}]}),
            ),
        ];
        let found = judge(kind("globalnetworkpolicies").unwrap(), &policies);
        assert_eq!(found.len(), 1);
        assert!(found[0].meaning.starts_with("action `Deny`, type `Ingress`,"), "{}", found[0].meaning);
    }
}
