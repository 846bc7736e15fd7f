//! The cluster lock, as data and pure decisions: two runs against one cluster (two shells, two
//! bastions, an Ansible fleet) must never interleave their changes, so the exclusion lives where
//! the cluster is: a ConfigMap `calico-downgrade-lock` in the Calico namespace, created
//! atomically (`kubectl create` fails when it exists), renewed while the run works (`kubectl
//! replace` with the resourceVersion last seen: a compare-and-swap), deleted at the end. A
//! ConfigMap works on every Kubernetes version the tool supports (a `Lease` object needs 1.14).
//!
//! Its data says who holds it (host, user, pid, command, start) and when it was last renewed,
//! with the lease's length. A holder that died (killed, the bastion lost) stops renewing; its
//! lock is taken over only once the lease has clearly expired: [`LEASE`] plus a [`MARGIN`] for
//! clocks that disagree, judged by this host's clock against the holder's last renewal. The
//! takeover is a replace with the resourceVersion just read, so of two runs taking it over at
//! once only one wins; and a holder whose renewal finds the object changed knows it lost the
//! lock and changes nothing more.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde::Serialize;

/// The ConfigMap's name, in the Calico namespace.
pub const NAME: &str = "calico-downgrade-lock";
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
    /// The ConfigMap's data (`host`, `user`, `pid`, `command`, `started`, `renewed`,
    /// `lease-seconds`), in this order.
    pub fn data(&self) -> Vec<(&'static str, String)> {
        vec![
            ("host", self.host.clone()),
            ("user", self.user.clone()),
            ("pid", self.pid.to_string()),
            ("command", self.command.clone()),
            ("started", self.started.clone()),
            ("renewed", self.renewed.clone()),
            ("lease-seconds", self.lease_seconds.to_string()),
        ]
    }

    /// Read from the ConfigMap's data; `None` when it is not a lock this tool wrote.
    pub fn from_data(data: &BTreeMap<String, String>) -> Option<Holder> {
        let text = |key: &str| data.get(key).cloned();
        Some(Holder {
            host: text("host")?,
            user: text("user").unwrap_or_default(),
            pid: text("pid")?.parse().ok()?,
            command: text("command").unwrap_or_default(),
            started: text("started")?,
            renewed: text("renewed")?,
            lease_seconds: text("lease-seconds")?.parse().ok()?,
        })
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

/// The ConfigMap as `kubectl replace -f -` takes it: the data, and the resourceVersion last
/// seen, so that the API server refuses it (Conflict) if anyone changed the lock since.
pub fn replacement(namespace: &str, resource_version: &str, holder: &Holder) -> String {
    let data: serde_json::Map<String, serde_json::Value> =
        holder.data().into_iter().map(|(k, v)| (k.to_string(), serde_json::Value::String(v))).collect();
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": NAME, "namespace": namespace, "resourceVersion": resource_version},
        "data": data,
    })
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
    fn the_data_reads_back_as_written() {
        let h = holder("2026-12-05T01:00:40Z");
        let data: BTreeMap<String, String> = h.data().into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        assert_eq!(Holder::from_data(&data), Some(h.clone()));
        assert_eq!(h.who(), "jane@bastion-2, pid 4242, `calico-downgrade run --yes`");
        let body: serde_json::Value = serde_json::from_str(&replacement("kube-system", "4701", &h)).unwrap();
        assert_eq!(body["metadata"]["resourceVersion"], "4701");
        assert_eq!(body["data"]["lease-seconds"], "30");
    }
}
