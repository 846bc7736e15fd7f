//! The cluster lock, as data and pure decisions: two runs against one cluster (two shells, two
//! bastions, an Ansible fleet) must never interleave their changes, so the exclusion lives where
//! the cluster is: an annotation [`ANNOTATION`] on the calico-node DaemonSet itself, the object
//! the downgrade rolls back. It needs no right beyond the documented procedure's (`kubectl
//! rollout undo` patches that DaemonSet), works on every Kubernetes version the tool supports,
//! and the inspection, which reads the DaemonSet anyway, sees it without a read of its own.
//!
//! Every write is one `kubectl patch --type=json` whose first operation is a `test`, so the API
//! server applies it only to the object as this run last saw it (a compare-and-swap: the server
//! applies the patch to the stored object and writes it with that object's resourceVersion; a
//! writer in between makes it try again on the new object, where the `test` fails):
//! - take ([`take`]): `test` that the annotation is absent (`"value": null`), then `add` it;
//! - renew, and take over an expired lock ([`swap`]): `test` that it holds exactly the value last
//!   seen, then `replace` it;
//! - release ([`release`]): `test` that it still holds this run's value, then `remove` it.
//!
//! Testing the annotation's value, not the DaemonSet's resourceVersion, keeps the swap true
//! while the DaemonSet controller writes the object's status many times a second during the
//! rollout: a renewal must not fail because a pod became ready. The annotation is metadata: it
//! changes neither the DaemonSet's generation nor its pod template, so it starts no rollout and
//! no ControllerRevision, and `kubectl rollout undo` (a patch of the template) neither sees nor
//! disturbs it.
//!
//! Its value says who holds it (host, user, pid, command, start) and when it was last renewed,
//! with the lease's length, as one JSON object. A holder that died (killed, the bastion lost)
//! stops renewing; its lock is taken over only once the lease has clearly expired: [`LEASE`]
//! plus a [`MARGIN`] for clocks that disagree, judged by this host's clock against the holder's
//! last renewal. Of two runs taking it over at once only one wins the swap; and a holder whose
//! renewal finds another value knows it lost the lock and changes nothing more.

use std::time::{Duration, SystemTime};

use serde::Serialize;

/// The annotation on the DaemonSet that holds the lock.
pub const ANNOTATION: &str = "calico-downgrade/lock";
/// How long a renewal holds the lock.
pub const LEASE: Duration = Duration::from_secs(30);
/// How often the holder renews it (three renewals a lease: one slow API server call is no loss).
pub const RENEW_EVERY: Duration = Duration::from_secs(10);
/// How much later than its lease's end a lock is taken over: clocks of two bastions may differ.
pub const MARGIN: Duration = Duration::from_secs(15);

/// Who holds the lock, as its data says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Holder {
    pub host: String,
    pub user: String,
    pub pid: u32,
    pub command: String,
    /// RFC 3339, the holder's clock.
    pub started: String,
    /// RFC 3339, the holder's clock: the last renewal.
    pub renewed: String,
    pub lease_seconds: u64,
}

impl Holder {
    /// The annotation's value: one JSON object (`command`, `host`, `lease-seconds`, `pid`,
    /// `renewed`, `started`, `user`, keys in this order).
    pub fn value(&self) -> String {
        serde_json::json!({
            "host": self.host,
            "user": self.user,
            "pid": self.pid,
            "command": self.command,
            "started": self.started,
            "renewed": self.renewed,
            "lease-seconds": self.lease_seconds,
        })
        .to_string()
    }

    /// Read from the annotation's value; `None` when it is not a lock this tool wrote.
    pub fn from_value(value: &str) -> Option<Holder> {
        let document: serde_json::Value = serde_json::from_str(value).ok()?;
        let text = |key: &str| document.get(key).and_then(|v| v.as_str()).map(str::to_string);
        let number = |key: &str| document.get(key).and_then(|v| v.as_u64());
        Some(Holder {
            host: text("host")?,
            user: text("user").unwrap_or_default(),
            pid: u32::try_from(number("pid")?).ok()?,
            command: text("command").unwrap_or_default(),
            started: text("started")?,
            renewed: text("renewed")?,
            lease_seconds: number("lease-seconds")?,
        })
    }

    /// The same run, whatever its last renewal: a lock found with this holder is this run's
    /// (a write whose answer was lost took effect).
    pub fn same_run(&self, other: &Holder) -> bool {
        Holder { renewed: String::new(), ..self.clone() } == Holder { renewed: String::new(), ..other.clone() }
    }

    /// `jane@bastion-2, pid 4242, `calico-downgrade run --yes``.
    pub fn who(&self) -> String {
        let user = if self.user.is_empty() { String::new() } else { format!("{}@", self.user) };
        format!("{user}{}, pid {}, `{}`", self.host, self.pid, self.command)
    }

    /// The same holder renewed at `now`.
    pub fn renewed_at(&self, now: SystemTime) -> Holder {
        Holder { renewed: rfc3339(now), ..self.clone() }
    }
}

/// `2026-12-05T00:53:12Z`.
pub fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

/// What to do about a lock found held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// Its lease is running: refuse, saying who holds it, since when and how old its last
    /// renewal is.
    Held { started_ago: Option<Duration>, renewed_ago: Option<Duration> },
    /// Its lease ended more than [`MARGIN`] ago: take it over (and say so).
    Expired { renewed_ago: Duration },
    /// Not a lock this tool wrote, or its times cannot be read: never taken over.
    Unreadable,
}

/// Decide about a lock found held, by this host's clock.
pub fn judge(holder: Option<&Holder>, now: SystemTime) -> Found {
    let Some(holder) = holder else { return Found::Unreadable };
    let age = |text: &str| humantime::parse_rfc3339(text).ok().map(|t| now.duration_since(t).unwrap_or_default());
    let Some(renewed_ago) = age(&holder.renewed) else { return Found::Unreadable };
    let lease = Duration::from_secs(holder.lease_seconds);
    if renewed_ago > lease + MARGIN {
        Found::Expired { renewed_ago }
    } else {
        Found::Held { started_ago: age(&holder.started), renewed_ago: Some(renewed_ago) }
    }
}

/// `1m 20s`.
pub fn ago(duration: Duration) -> String {
    humantime::format_duration(Duration::from_secs(duration.as_secs())).to_string()
}

/// `/metadata/annotations/calico-downgrade~1lock`: the annotation as a JSON pointer (RFC 6901:
/// `/` in a key is written `~1`).
fn pointer() -> String {
    format!("/metadata/annotations/{}", ANNOTATION.replace('~', "~0").replace('/', "~1"))
}

/// The patch that takes a free lock: `test` that the annotation is absent (the API server's
/// JSON patch takes a `null` value as "no such key"), then `add` this run's.
pub fn take(holder: &Holder) -> String {
    serde_json::json!([
        {"op": "test", "path": pointer(), "value": null},
        {"op": "add", "path": pointer(), "value": holder.value()},
    ])
    .to_string()
}

/// The patch that renews this run's lock or takes over an expired one: `test` that the
/// annotation still holds `seen`, then `replace` it with `holder`'s.
pub fn swap(seen: &str, holder: &Holder) -> String {
    serde_json::json!([
        {"op": "test", "path": pointer(), "value": seen},
        {"op": "replace", "path": pointer(), "value": holder.value()},
    ])
    .to_string()
}

/// The patch that releases the lock: `test` that the annotation still holds `seen` (this run's
/// last value), then `remove` it.
pub fn release(seen: &str) -> String {
    serde_json::json!([
        {"op": "test", "path": pointer(), "value": seen},
        {"op": "remove", "path": pointer()},
    ])
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(renewed: &str) -> Holder {
        Holder {
            host: "bastion-2".into(),
            user: "jane".into(),
            pid: 4242,
            command: "calico-downgrade run --yes".into(),
            started: "2026-12-05T01:00:00Z".into(),
            renewed: renewed.into(),
            lease_seconds: 30,
        }
    }

    fn at(text: &str) -> SystemTime {
        humantime::parse_rfc3339(text).unwrap()
    }

    #[test]
    fn a_lock_is_taken_over_only_once_its_lease_has_clearly_expired() {
        let now = at("2026-12-05T01:01:00Z");
        // Renewed 20 s ago: held. 44 s ago: the lease (30 s) is over, but within the margin.
        assert!(matches!(judge(Some(&holder("2026-12-05T01:00:40Z")), now), Found::Held { .. }));
        assert!(matches!(judge(Some(&holder("2026-12-05T01:00:16Z")), now), Found::Held { .. }));
        assert_eq!(
            judge(Some(&holder("2026-12-05T01:00:10Z")), now),
            Found::Expired { renewed_ago: Duration::from_secs(50) }
        );
        // A holder's clock ahead of ours: renewed "in the future" is held.
        assert!(matches!(judge(Some(&holder("2026-12-05T01:05:00Z")), now), Found::Held { .. }));
        assert_eq!(judge(None, now), Found::Unreadable);
        assert_eq!(judge(Some(&holder("yesterday")), now), Found::Unreadable);
    }

    #[test]
    fn the_value_reads_back_as_written_and_the_patches_test_before_they_write() {
        let h = holder("2026-12-05T01:00:40Z");
        assert_eq!(Holder::from_value(&h.value()), Some(h.clone()));
        assert_eq!(h.who(), "jane@bastion-2, pid 4242, `calico-downgrade run --yes`");
        assert!(h.same_run(&h.renewed_at(at("2026-12-05T01:00:50Z"))));
        assert!(!h.same_run(&Holder { pid: 1, ..h.clone() }));
        assert_eq!(Holder::from_value("{}"), None);
        assert_eq!(Holder::from_value("not json"), None);
        let take: serde_json::Value = serde_json::from_str(&take(&h)).unwrap();
        assert_eq!(
            take[0],
            serde_json::json!({"op": "test", "path": "/metadata/annotations/calico-downgrade~1lock", "value": null})
        );
        assert_eq!(take[1]["op"], "add");
        assert_eq!(take[1]["value"], h.value());
        let swap: serde_json::Value = serde_json::from_str(&swap("old", &h)).unwrap();
        assert_eq!((swap[0]["op"].as_str(), swap[0]["value"].as_str()), (Some("test"), Some("old")));
        assert_eq!(swap[1]["op"], "replace");
        let release: serde_json::Value = serde_json::from_str(&release("mine")).unwrap();
        assert_eq!((release[0]["value"].as_str(), release[1]["op"].as_str()), (Some("mine"), Some("remove")));
    }
}
