//! Ansible's `diff` (the module with `_ansible_diff`, `ansible-playbook --diff`): for each
//! workload the rollback changes, its pod template's containers (image and environment) at the
//! live revision and at the target, as text Ansible shows as a unified diff. Built from the
//! template changes the inspection found (`state_before.template_changes`), so check mode and
//! `plan` show the same diff a run carries out.
//!
//! It lives with the JSON report, which carries it, rather than with the module entry point:
//! the report sits below the application, the module above it.

use serde::Serialize;

use crate::cluster::ContainerSummary;
use crate::playbook::{Command, Outcome};
use crate::tasks::TemplateChanges;

/// One entry of Ansible's `diff` list, in the shape its callbacks print
/// (`--- before_header` / `+++ after_header`, then the unified diff of `before` and `after`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileDiff {
    pub before_header: String,
    pub after_header: String,
    pub before: String,
    pub after: String,
}

/// The rollbacks of the outcome's command: one entry per workload that `run` rolls back (or,
/// in check mode and `plan`, would). `status` and `abort` roll nothing back: no entry.
pub fn of(outcome: &Outcome) -> Vec<FileDiff> {
    if !matches!(outcome.command, Command::Run | Command::Plan) {
        return Vec::new();
    }
    let changes = outcome.facts.cluster.iter().flat_map(|cluster| &cluster.template_changes);
    changes.map(entry).collect()
}

/// `ds/calico-node (revision 2, live)` → `ds/calico-node (revision 1, target)`.
pub fn entry(changes: &TemplateChanges) -> FileDiff {
    FileDiff {
        before_header: format!("{} (revision {}, live)", changes.workload, changes.from_revision),
        after_header: format!("{} (revision {}, target)", changes.workload, changes.to_revision),
        before: text(&changes.before),
        after: text(&changes.after),
    }
}

/// The containers as lines a unified diff reads well, one variable a line, each line ended
/// (Ansible warns about a last line without its newline):
/// ```text
/// calico-node:
///   image: quay.io/calico/node:v3.0.4
///   env:
///     DATASTORE_TYPE=kubernetes
///     CALICO_NETWORKING_BACKEND from configMap calico-config/calico_backend
/// ```
pub fn text(containers: &[ContainerSummary]) -> String {
    let mut out = String::new();
    for container in containers {
        out.push_str(&format!("{}:\n  image: {}\n", container.name, container.image));
        if container.env.is_empty() {
            out.push_str("  env: none\n");
        } else {
            out.push_str("  env:\n");
            for variable in &container.env {
                out.push_str(&format!("    {variable}\n"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(name: &str, image: &str, env: &[&str]) -> ContainerSummary {
        ContainerSummary { name: name.into(), image: image.into(), env: env.iter().map(|e| e.to_string()).collect() }
    }

    #[test]
    fn each_workload_reads_as_its_containers_at_the_live_revision_and_at_the_target() {
        let changes = TemplateChanges {
            workload: "ds/calico-node".into(),
            from_revision: 3,
            to_revision: 1,
            changes: vec!["containers[calico-node].image: …".into()],
            before: vec![
                container("install-cni", "quay.io/calico/cni:v2.0.2", &[]),
                container(
                    "calico-node",
                    "quay.io/calico/node:v3.0.4",
                    &["DATASTORE_TYPE=kubernetes", "NODENAME from field spec.nodeName"],
                ),
            ],
            after: vec![container("calico-node", "quay.io/calico/node:v2.6.8", &["DATASTORE_TYPE=kubernetes"])],
        };
        assert_eq!(
            entry(&changes),
            FileDiff {
                before_header: "ds/calico-node (revision 3, live)".into(),
                after_header: "ds/calico-node (revision 1, target)".into(),
                before: "install-cni:\n  image: quay.io/calico/cni:v2.0.2\n  env: none\n\
                         calico-node:\n  image: quay.io/calico/node:v3.0.4\n  env:\n    DATASTORE_TYPE=kubernetes\n    NODENAME from field spec.nodeName\n"
                    .into(),
                after: "calico-node:\n  image: quay.io/calico/node:v2.6.8\n  env:\n    DATASTORE_TYPE=kubernetes\n".into(),
            }
        );
    }

    #[test]
    fn no_containers_is_no_text() {
        assert_eq!(text(&[]), "");
    }
}
