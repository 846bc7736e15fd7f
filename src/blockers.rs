//! What blocks the rollout, judged from the wait's pod rows (pure): a container that waits for
//! a reason other than a normal start, an unschedulable pod, a pod still Terminating past its
//! grace period, a pod whose node stopped heartbeating. Each is named once with its node and the
//! command to look further, with what the pod read whole adds (the image, the kubelet's or the
//! scheduler's message, the restarts and the last termination).
//!
//! A node that stops heartbeating is seen from its pods alone, with the namespace's rights on
//! pods and nothing on nodes: after `--node-monitor-grace-period` the node lifecycle controller
//! sets the Ready condition of each of the node's pods to False and touches nothing else
//! (`MarkPodsNotReady`, kubernetes/kubernetes pkg/controller/util/node/controller_utils.go:
//! only the condition's status changes), while the kubelet always sets Ready and
//! ContainersReady together. So a pod Running, Ready False, ContainersReady True is one whose
//! node went away. The DaemonSet controller gives its pods tolerations of the
//! `node.kubernetes.io/not-ready` and `unreachable` NoExecute taints (as the captured pods show),
//! so the pod is not evicted: it stays, not available, and holds the rollout's `maxUnavailable`
//! budget. Seen on the real kube-controller-manager 1.20.2: a watch row `Running False … node-3
//! <none> 0,0 <none> True` once node-3 stopped heartbeating.

use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::tools::kubectl::{PodDetail, PodStatus};

/// The waiting reasons of a normal start.
pub const NORMAL_WAITING: [&str; 2] = ["ContainerCreating", "PodInitializing"];

/// How long past the end of its grace period a pod may still be Terminating before it is named
/// (the kubelet's last status and the API server's clock may each be a little behind).
pub const TERMINATING_SLACK: Duration = Duration::from_secs(30);

/// Why a pod blocks the rollout, as its row shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// A container waits for this reason (`ImagePullBackOff`, `CrashLoopBackOff`, …).
    Waiting(String),
    /// The scheduler found no node for it.
    Unschedulable,
    /// Still there this long past the end of its grace period.
    Terminating(Duration),
    /// Its node stopped heartbeating: the node lifecycle controller marked it not ready.
    NodeUnreachable,
}

impl Cause {
    /// The reason as the report and the JSON name it.
    pub fn reason(&self) -> String {
        match self {
            Cause::Waiting(reason) => reason.clone(),
            Cause::Unschedulable => "Unschedulable".to_string(),
            Cause::Terminating(_) => "Terminating".to_string(),
            Cause::NodeUnreachable => "NodeNotReady".to_string(),
        }
    }

    /// What is named once per pod ([`family`]).
    pub fn family(&self) -> &'static str {
        family(&self.reason())
    }

    /// Whether the pod read whole adds to what the row says.
    pub fn wants_detail(&self) -> bool {
        matches!(self, Cause::Waiting(_) | Cause::Unschedulable)
    }
}

/// What is named once per pod, from a reason: an image that cannot be pulled goes from
/// `ErrImagePull` to `ImagePullBackOff` and back, one blocker; a crash loop is one whatever its
/// restarts; any other reason is its own.
pub fn family(reason: &str) -> &'static str {
    match reason {
        "ErrImagePull" | "ImagePullBackOff" | "ErrImageNeverPull" | "InvalidImageName" => "image",
        "CrashLoopBackOff" | "RunContainerError" => "crash",
        "Unschedulable" => "unschedulable",
        "Terminating" => "terminating",
        "NodeNotReady" => "node",
        _ => "other",
    }
}

/// The key a blocker is named once by: its pod and its reason's [`family`] (an unknown reason
/// its own).
pub fn key(pod: &str, reason: &str) -> (String, String) {
    let family = family(reason);
    (pod.to_string(), if family == "other" { reason.to_string() } else { family.to_string() })
}

/// What blocks this pod, if anything, `now` (the wall clock, for the grace period).
pub fn cause(pod: &PodStatus, now: SystemTime) -> Option<Cause> {
    if pod.deleting {
        let ended = pod.deletion.as_deref().and_then(|t| humantime::parse_rfc3339(t).ok())?;
        let past = now.duration_since(ended).ok()?;
        return (past >= TERMINATING_SLACK).then_some(Cause::Terminating(past));
    }
    if pod.scheduling.as_deref() == Some("Unschedulable") {
        return Some(Cause::Unschedulable);
    }
    if let Some(reason) = pod.waiting.iter().find(|r| !NORMAL_WAITING.contains(&r.as_str())) {
        return Some(Cause::Waiting(reason.clone()));
    }
    if pod.phase.as_deref() == Some("Running") && pod.ready == Some(false) && pod.containers_ready == Some(true) {
        return Some(Cause::NodeUnreachable);
    }
    None
}

/// A pod that blocks the rollout, as the report and the JSON name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Blocker {
    pub pod: String,
    pub node: Option<String>,
    /// `ImagePullBackOff`, `ErrImagePull`, `CrashLoopBackOff`, `CreateContainerConfigError`, …,
    /// `Unschedulable`, `Terminating`, `NodeNotReady`.
    pub reason: String,
    /// The waiting container's image.
    pub image: Option<String>,
    /// The kubelet's or the scheduler's words, or what the tool saw.
    pub message: Option<String>,
    pub restarts: Option<u64>,
    /// Why the container last ended, with its exit code (`Error, exit code 1`).
    pub last_termination: Option<String>,
    /// The command that shows the kubelet's and the scheduler's words whole.
    pub look_further: String,
    /// Still so in the wait's last view.
    pub still: bool,
}

impl Blocker {
    /// Name what blocks `pod` (`cause`), with what the pod read whole adds (`detail`), or why
    /// it could not be read.
    pub fn new(pod: &PodStatus, cause: &Cause, detail: Result<&PodDetail, &str>, look_further: String) -> Self {
        let mut blocker = Blocker {
            pod: pod.name.clone(),
            node: pod.node.clone(),
            reason: cause.reason(),
            image: None,
            message: None,
            restarts: None,
            last_termination: None,
            look_further,
            still: true,
        };
        match cause {
            Cause::Terminating(past) => {
                blocker.message = Some(format!(
                    "still Terminating {} past the end of its grace period",
                    crate::pace::duration_words(Duration::from_secs(past.as_secs()))
                ))
            }
            Cause::NodeUnreachable => {
                blocker.message = Some(
                    "its node stopped heartbeating (NotReady or unreachable): the node lifecycle controller set the pod's Ready condition False, so it holds the rollout's maxUnavailable budget"
                        .to_string(),
                )
            }
            Cause::Unschedulable => match detail {
                Ok(detail) => blocker.message = detail.unschedulable_message.clone().filter(|m| !m.is_empty()),
                Err(why) => blocker.message = Some(format!("the scheduler's message not read: {why}")),
            },
            Cause::Waiting(reason) => match detail {
                Ok(detail) => {
                    let container = detail
                        .containers
                        .iter()
                        .find(|c| c.waiting_reason.as_deref() == Some(reason.as_str()))
                        .or_else(|| detail.containers.iter().find(|c| c.waiting_reason.is_some()));
                    if let Some(container) = container {
                        // The reason read whole is the newer one (ErrImagePull or its back-off),
                        // kept when it is of the same kind: a blocker is named once by its row's.
                        if let Some(now) = container.waiting_reason.as_ref().filter(|now| {
                            key(&pod.name, now) == key(&pod.name, reason)
                        }) {
                            blocker.reason = now.clone();
                        }
                        blocker.image = Some(container.image.clone()).filter(|i| !i.is_empty());
                        blocker.message = container.waiting_message.clone();
                        blocker.restarts = (container.restarts > 0 || reason == "CrashLoopBackOff").then_some(container.restarts);
                        blocker.last_termination = container.last_termination.as_ref().map(|why| match container.last_exit_code {
                            Some(code) => format!("{why}, exit code {code}"),
                            None => why.clone(),
                        });
                    }
                }
                Err(why) => {
                    blocker.restarts = (pod.restarts > 0).then_some(pod.restarts);
                    blocker.message = Some(format!("the kubelet's message not read: {why}"));
                }
            },
        }
        blocker
    }

    /// `calico-node-x on node-2: ImagePullBackOff, image quay.io/calico/node:v2.6.99: Back-off
    /// pulling image "…" (`kubectl describe pod calico-node-x -n kube-system`)`.
    pub fn words(&self) -> String {
        let mut line = format!("{} on {}: {}", self.pod, self.node.as_deref().unwrap_or("no node"), self.reason);
        if let Some(restarts) = self.restarts {
            line.push_str(&format!(", {restarts} restart{}", if restarts == 1 { "" } else { "s" }));
        }
        if let Some(last) = &self.last_termination {
            line.push_str(&format!(", last ended {last}"));
        }
        if let Some(image) = &self.image {
            line.push_str(&format!(", image {image}"));
        }
        if let Some(message) = self.message.as_deref().filter(|m| !m.is_empty()) {
            line.push_str(&format!(": {}", message.split_whitespace().collect::<Vec<_>>().join(" ")));
        }
        line.push_str(&format!(" (`{}`)", self.look_further));
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::kubectl::ContainerDetail;

    fn row(phase: &str, ready: bool) -> PodStatus {
        PodStatus {
            name: "calico-node-abcde".into(),
            phase: Some(phase.into()),
            ready: Some(ready),
            images: vec!["quay.io/calico/node:v2.6.12".into()],
            owner: Some("calico-node".into()),
            deleting: false,
            node: Some("node-2".into()),
            deletion: None,
            waiting: Vec::new(),
            restarts: 0,
            scheduling: None,
            containers_ready: Some(ready),
        }
    }

    fn at(text: &str) -> SystemTime {
        humantime::parse_rfc3339(text).unwrap()
    }

    #[test]
    fn a_normal_start_blocks_nothing_and_other_waiting_reasons_do() {
        let now = at("2026-12-08T00:00:00Z");
        let mut pod = row("Pending", false);
        pod.waiting = vec!["ContainerCreating".into(), "PodInitializing".into()];
        assert_eq!(cause(&pod, now), None);
        pod.waiting = vec!["ContainerCreating".into(), "ImagePullBackOff".into()];
        assert_eq!(cause(&pod, now), Some(Cause::Waiting("ImagePullBackOff".into())));
        assert_eq!(cause(&pod, now).unwrap().family(), Cause::Waiting("ErrImagePull".into()).family());
        pod.waiting = vec!["CreateContainerConfigError".into()];
        assert_eq!(cause(&pod, now).map(|c| c.reason()).as_deref(), Some("CreateContainerConfigError"));
    }

    #[test]
    fn unschedulable_terminating_and_unreachable_are_read_from_the_row() {
        let now = at("2026-12-08T00:01:00Z");
        let mut pod = row("Pending", false);
        pod.scheduling = Some("Unschedulable".into());
        assert_eq!(cause(&pod, now), Some(Cause::Unschedulable));
        let mut pod = row("Running", true);
        pod.deleting = true;
        pod.deletion = Some("2026-12-08T00:00:45Z".into());
        assert_eq!(cause(&pod, now), None, "15 s past its grace period is within the slack");
        pod.deletion = Some("2026-12-08T00:00:00Z".into());
        assert_eq!(cause(&pod, now), Some(Cause::Terminating(Duration::from_secs(60))));
        // The node lifecycle controller sets Ready False and leaves ContainersReady True.
        let mut pod = row("Running", true);
        pod.ready = Some(false);
        assert_eq!(cause(&pod, now), Some(Cause::NodeUnreachable));
        pod.containers_ready = Some(false);
        assert_eq!(cause(&pod, now), None, "the kubelet's own not ready is a pod starting or failing its probe");
    }

    #[test]
    fn a_blocker_is_named_with_its_image_message_restarts_and_last_termination() {
        let mut pod = row("Running", false);
        pod.waiting = vec!["CrashLoopBackOff".into()];
        pod.restarts = 4;
        let detail = PodDetail {
            name: pod.name.clone(),
            node: pod.node.clone(),
            containers: vec![ContainerDetail {
                name: "calico-node".into(),
                image: "quay.io/calico/node:v2.6.12".into(),
                waiting_reason: Some("CrashLoopBackOff".into()),
                waiting_message: Some("back-off 1m20s restarting failed container=calico-node".into()),
                restarts: 4,
                last_termination: Some("Error".into()),
                last_exit_code: Some(1),
            }],
            unschedulable_message: None,
            not_ready: None,
            deletion_timestamp: None,
            deletion_grace_seconds: None,
        };
        let cause = cause(&pod, SystemTime::UNIX_EPOCH).unwrap();
        let command = "kubectl describe pod calico-node-abcde -n kube-system".to_string();
        let blocker = Blocker::new(&pod, &cause, Ok(&detail), command.clone());
        assert_eq!(
            blocker.words(),
            "calico-node-abcde on node-2: CrashLoopBackOff, 4 restarts, last ended Error, exit code 1, image quay.io/calico/node:v2.6.12: back-off 1m20s restarting failed container=calico-node (`kubectl describe pod calico-node-abcde -n kube-system`)"
        );
        let unread = Blocker::new(&pod, &cause, Err("`kubectl get pod` was still running"), command);
        assert_eq!(unread.restarts, Some(4));
        assert!(unread.words().contains("the kubelet's message not read"), "{}", unread.words());
    }
}
