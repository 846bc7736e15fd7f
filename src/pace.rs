//! How the rollout is going: progress, stall and pace, judged from the wait's complete views
//! and the time each was seen. Pure: it takes observations with their times (how long into the
//! wait) and returns data; the wait reads the clock.
//!
//! A rollout of calico-node with `maxUnavailable: 1` replaces one pod at a time: more than 30
//! minutes on 100 nodes (gardener/gardener#5628), 2.5 hours on 250 (openshift/enhancements#854).
//! So the wait is judged by progress, not by wall time, as a Deployment's
//! `progressDeadlineSeconds` is: it goes on as long as something advances, and gives up after
//! `--stall-timeout` with nothing advancing (or at `--timeout`, an absolute limit, when given).
//!
//! Progress is a count passing its best so far, per workload: pods Running and ready on the
//! target images, pods on the target images (a pod updated), the rollout status's updated and
//! available counts and observed generation. Only counts that rise: a view rebuilt from a fresh
//! list shows its pods one row at a time, and a count that fell there (fewer pods left on the
//! old images) would read as progress that never was. A pod that goes unready and ready again
//! has not advanced anything, so a flapping pod does not keep a stalled wait alive.
//!
//! The pace is the pods that became ready (each counted once, by name) over the time they took, over the last [`WINDOW`]
//! of them (memory flat whatever the size); what is left is the live desired count less those
//! ready, so the estimate follows nodes that join or leave during the rollout.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use serde::Serialize;

use crate::convergence::Progress;
use crate::tools::kubectl::WorkloadStatus;

/// The pods that became ready which the pace is measured over, the newest.
pub const WINDOW: usize = 20;

/// How long the wait goes on: without progress for `stall`, or `limit` in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Patience {
    /// `--stall-timeout`.
    pub stall: Duration,
    /// `--timeout`, when given.
    pub limit: Option<Duration>,
}

/// Why the wait gave up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GaveUp {
    /// Nothing advanced for `--stall-timeout`.
    Stalled,
    /// `--timeout` passed.
    Limit,
}

/// One workload's best counts so far and the times its pods became ready.
#[derive(Debug, Clone, Default)]
struct Track {
    seen: bool,
    /// The rollout status has been read once (the wait by looks reads it only when the pods
    /// look done): its first counts are where it starts, not progress.
    status_seen: bool,
    ready: u32,
    on_target: u32,
    updated: u32,
    available: u32,
    observed_generation: u64,
    /// Every pod seen ready on the target images: a pod that becomes ready is counted once,
    /// when first seen so (not from the count, which a fresh list rebuilds row by row and a
    /// node leaving lowers). At most the workload's pods during the rollout.
    ever_ready: HashSet<String>,
    /// When pods became ready, the newest last; at most WINDOW + 1 (the one before the window
    /// is where it starts).
    readied: VecDeque<Duration>,
    /// How many became ready during the wait.
    became_ready: u32,
}

/// The wait's progress so far (see the module comment).
#[derive(Debug, Clone)]
pub struct Pace {
    pub patience: Patience,
    tracks: Vec<Track>,
    last_progress: Duration,
    last_what: String,
    /// The latest time observed: times never go back (two strategies' views may be timed by
    /// two readings of the clock).
    latest: Duration,
}

/// When something last advanced, and what.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LastProgress {
    /// How long into the wait.
    pub at_secs: f64,
    pub what: String,
}

/// One workload's pace and what is left.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estimate {
    pub name: String,
    /// Pods that became ready during the wait.
    pub became_ready: u32,
    /// Pods that became ready per minute, over the last [`WINDOW`] of them.
    pub per_minute: f64,
    /// Pods still to become ready: the live desired count less those ready.
    pub left_pods: u32,
    /// At this pace (`None`: none left).
    pub left_secs: Option<f64>,
}

/// What the wait's live line shows beside the counts: how long it has run, how long nothing
/// advanced, and its limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    pub elapsed: Duration,
    /// Since the last progress.
    pub quiet: Duration,
    pub patience: Patience,
}

impl Clock {
    /// Nothing has advanced for a tenth of `--stall-timeout` (a minute by default), and at
    /// least a second: the live line says so instead of a pace that no longer holds.
    pub fn stalled(&self) -> bool {
        self.quiet >= self.patience.stall / 10 && self.quiet >= Duration::from_secs(1)
    }

    /// The same clock `passed` later, nothing having been seen since.
    pub fn later(&self, passed: Duration) -> Clock {
        Clock { elapsed: self.elapsed + passed, quiet: self.quiet + passed, ..*self }
    }
}

/// The wait's live line as last seen: the counts with each workload's pace (`moving`), the
/// counts with since when nothing advanced (`stalled`), and the clock when it was seen.
#[derive(Debug, Clone, PartialEq)]
pub struct Live {
    pub moving: String,
    pub stalled: String,
    pub clock: Clock,
}

impl Live {
    /// The line and the clock `passed` after this was seen, with nothing seen since.
    pub fn after(&self, passed: Duration) -> (&str, Clock) {
        let clock = self.clock.later(passed);
        (if clock.stalled() { &self.stalled } else { &self.moving }, clock)
    }
}

/// The wait's end as the report and the JSON give it: its limits, when something last
/// advanced, whether (and why) it gave up, each workload's pace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Record {
    pub stall_timeout_secs: u64,
    pub timeout_secs: Option<u64>,
    pub elapsed_secs: f64,
    pub last_progress: LastProgress,
    pub gave_up: Option<GaveUp>,
    pub pace: Vec<Estimate>,
    /// What blocked the rollout, each named once as seen, and whether the last view still
    /// showed it (filled by the wait).
    pub blockers: Vec<crate::blockers::Blocker>,
}

impl Pace {
    pub fn new(patience: Patience, workloads: usize) -> Self {
        Pace {
            patience,
            tracks: vec![Track::default(); workloads],
            last_progress: Duration::ZERO,
            last_what: "the wait started".to_string(),
            latest: Duration::ZERO,
        }
    }

    /// Take a complete view seen `at` into the wait (the workloads in the order of the
    /// targets; their rollout status when read). The first view of each workload sets where it
    /// starts; from then on, what advanced is remembered with its time. Returns what advanced.
    pub fn observe(&mut self, at: Duration, progress: &[Progress], statuses: &[WorkloadStatus]) -> Option<String> {
        let at = at.max(self.latest);
        self.latest = at;
        let mut advanced = None;
        for (track, p) in self.tracks.iter_mut().zip(progress) {
            let status = statuses.iter().find(|s| s.kind == p.kind && s.name == p.name);
            let on_target = p.ready + p.not_ready.len() as u32;
            if !track.seen {
                *track = Track {
                    seen: true,
                    status_seen: status.is_some(),
                    ready: p.ready,
                    on_target,
                    updated: status.map_or(0, |s| s.updated),
                    available: status.map_or(0, |s| s.available),
                    observed_generation: status.map_or(0, |s| s.observed_generation),
                    ever_ready: p.ready_names.iter().cloned().collect(),
                    readied: VecDeque::new(),
                    became_ready: 0,
                };
                continue;
            }
            for name in &p.ready_names {
                if track.ever_ready.insert(name.clone()) {
                    track.became_ready += 1;
                    track.readied.push_back(at);
                    if track.readied.len() > WINDOW + 1 {
                        track.readied.pop_front();
                    }
                }
            }
            let mut what = None;
            let mut note = |text: String| {
                what.get_or_insert(text);
            };
            if p.ready > track.ready {
                track.ready = p.ready;
                note(format!("{}: {} of {} ready on the target images", p.name, p.ready, p.desired));
            }
            if let Some(status) = status.filter(|_| !track.status_seen) {
                track.status_seen = true;
                track.updated = status.updated;
                track.available = status.available;
                track.observed_generation = status.observed_generation;
            } else if let Some(status) = status {
                if status.updated > track.updated {
                    track.updated = status.updated;
                    note(format!("{}: {} of {} updated", p.name, status.updated, status.desired));
                }
                if status.available > track.available {
                    track.available = status.available;
                    note(format!("{}: {} of {} available", p.name, status.available, status.desired));
                }
                if status.observed_generation > track.observed_generation {
                    track.observed_generation = status.observed_generation;
                    note(format!("{}: its controller saw the rolled-back template", p.name));
                }
            }
            if on_target > track.on_target {
                track.on_target = on_target;
                note(format!("{}: {} on the target images", p.name, pods(on_target as usize)));
            }
            if let Some(what) = what {
                advanced.get_or_insert(what);
            }
        }
        if let Some(what) = &advanced {
            self.last_progress = at;
            self.last_what = what.clone();
        }
        advanced
    }

    /// When something last advanced (the wait's start until anything does), and what.
    pub fn last_progress(&self) -> LastProgress {
        LastProgress { at_secs: self.last_progress.as_secs_f64(), what: self.last_what.clone() }
    }

    /// How long into the wait it gives up unless something advances first.
    pub fn deadline(&self) -> Duration {
        let stall = self.last_progress.saturating_add(self.patience.stall);
        self.patience.limit.map_or(stall, |limit| limit.min(stall))
    }

    /// Which limit the deadline is now: `--timeout` when it comes before the stall deadline.
    pub fn deadline_cause(&self) -> GaveUp {
        let stall = self.last_progress.saturating_add(self.patience.stall);
        if self.patience.limit.is_some_and(|limit| limit <= stall) {
            GaveUp::Limit
        } else {
            GaveUp::Stalled
        }
    }

    /// Whether the wait gives up `at` this time into it, and why.
    pub fn gave_up(&self, at: Duration) -> Option<GaveUp> {
        if self.patience.limit.is_some_and(|limit| at >= limit) {
            Some(GaveUp::Limit)
        } else if at >= self.last_progress.saturating_add(self.patience.stall) {
            Some(GaveUp::Stalled)
        } else {
            None
        }
    }

    /// Each workload's pace and what is left, `at` this time into the wait (`None` until one
    /// of its pods became ready).
    pub fn estimates(&self, at: Duration, progress: &[Progress]) -> Vec<Option<Estimate>> {
        self.tracks.iter().zip(progress).map(|(track, p)| estimate(track, at, p)).collect()
    }

    /// The live line `at` this time into the wait: the counts, and the pace of each workload
    /// with pods left, or, once nothing has advanced for a while ([`Clock::stalled`]), since
    /// when it stalled.
    pub fn line(&self, at: Duration, progress: &[Progress]) -> String {
        let live = self.live(at, progress);
        live.after(Duration::ZERO).0.to_string()
    }

    /// What the live line shows `at` this time into the wait, in both its forms, and its
    /// clock: a terminal's line keeps running between two views and turns to the stalled form
    /// on its own.
    pub fn live(&self, at: Duration, progress: &[Progress]) -> Live {
        let paces: Vec<Option<String>> = self
            .estimates(at, progress)
            .into_iter()
            .map(|e| e.filter(|e| e.left_pods > 0).map(|e| e.words()))
            .collect();
        let stalled = format!("stalled since {}", duration_words(self.last_progress));
        let stalls: Vec<Option<String>> = progress.iter().map(|p| (!p.converged).then(|| stalled.clone())).collect();
        Live {
            moving: crate::convergence::summary_paced(progress, &paces),
            stalled: crate::convergence::summary_paced(progress, &stalls),
            clock: self.clock(at),
        }
    }

    pub fn clock(&self, at: Duration) -> Clock {
        Clock { elapsed: at, quiet: at.saturating_sub(self.last_progress), patience: self.patience }
    }

    /// The record of the wait `at` this time into it.
    pub fn record(&self, at: Duration, progress: &[Progress]) -> Record {
        Record {
            stall_timeout_secs: self.patience.stall.as_secs(),
            timeout_secs: self.patience.limit.map(|l| l.as_secs()),
            elapsed_secs: at.as_secs_f64(),
            last_progress: self.last_progress(),
            gave_up: self.gave_up(at),
            pace: self.estimates(at, progress).into_iter().flatten().collect(),
            blockers: Vec::new(),
        }
    }

    /// `last progress 3m 12s into the wait, 10m ago: calico-node: 2 of 3 ready on the target
    /// images`, then each workload's pace: what the end of a wait says.
    pub fn words(&self, at: Duration, progress: &[Progress]) -> Vec<String> {
        let last = format!(
            "last progress {} into the wait, {} ago: {}",
            duration_words(self.last_progress),
            duration_words(at.saturating_sub(self.last_progress)),
            self.last_what
        );
        std::iter::once(last)
            .chain(self.estimates(at, progress).into_iter().flatten().map(|e| {
                // The pace, not a time left: at the end of a stalled wait it would promise one.
                let mut line = format!(
                    "{}: {} became ready during the wait, {}",
                    e.name,
                    e.became_ready,
                    rate_words(e.per_minute)
                );
                if e.left_pods > 0 {
                    line.push_str(&format!(" ({} to go)", e.left_pods));
                }
                line
            }))
            .collect()
    }
}

fn estimate(track: &Track, at: Duration, p: &Progress) -> Option<Estimate> {
    let left_pods = p.desired.saturating_sub(p.ready);
    if track.readied.is_empty() {
        return None;
    }
    // Over the window: from the one before it, else from the start of the wait.
    let (count, from) =
        if track.readied.len() > WINDOW { (WINDOW, track.readied[0]) } else { (track.readied.len(), Duration::ZERO) };
    let over = at.saturating_sub(from).as_secs_f64();
    if over <= 0.0 {
        return None;
    }
    let per_second = count as f64 / over;
    Some(Estimate {
        name: p.name.clone(),
        became_ready: track.became_ready,
        per_minute: per_second * 60.0,
        left_pods,
        left_secs: (left_pods > 0).then(|| f64::from(left_pods) / per_second),
    })
}

/// `1 pod`, `3 pods`.
fn pods(count: usize) -> String {
    if count == 1 {
        "1 pod".to_string()
    } else {
        format!("{count} pods")
    }
}

/// `8/min`, `2.5/min`, `0.3/min`: one decimal below 10 a minute, unless it is a whole number.
pub fn rate_words(per_minute: f64) -> String {
    let tenths = (per_minute * 10.0).round();
    if per_minute >= 10.0 || tenths % 10.0 == 0.0 {
        format!("{:.0}/min", per_minute.round())
    } else {
        format!("{:.1}/min", tenths / 10.0)
    }
}

/// `under a minute`, `about 22 min`, `about 2 h 20 min`.
pub fn left_words(seconds: f64) -> String {
    if seconds < 60.0 {
        return "under a minute".to_string();
    }
    let minutes = (seconds / 60.0).round() as u64;
    if minutes < 90 {
        format!("about {minutes} min")
    } else {
        format!("about {} h {} min", minutes / 60, minutes % 60)
    }
}

impl Estimate {
    /// `8/min, about 22 min left`.
    pub fn words(&self) -> String {
        match self.left_secs {
            Some(left) => format!("{}, {} left", rate_words(self.per_minute), left_words(left)),
            None => rate_words(self.per_minute),
        }
    }
}

/// `10m`, `1h 30m`, `4.2s`: a duration as the options spell them, to the second (tenths under
/// a minute when it is not a whole number of seconds).
pub fn duration_words(duration: Duration) -> String {
    if duration < Duration::from_secs(60) && duration.subsec_millis() != 0 {
        format!("{:.1}s", duration.as_secs_f64())
    } else {
        humantime::format_duration(Duration::from_secs(duration.as_secs())).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convergence::PodRef;
    use crate::tools::kubectl::WorkloadKind;

    const MINUTE: Duration = Duration::from_secs(60);

    fn pod(name: &str) -> PodRef {
        PodRef { name: name.to_string(), node: None, images: vec!["calico/node:v3.0.4".to_string()] }
    }

    /// calico-node with `desired` pods, `ready` of them ready on the target images, `waiting`
    /// on them but not ready, `old` still on v3.
    fn node(desired: u32, ready: u32, waiting: usize, old: usize) -> Progress {
        Progress {
            kind: WorkloadKind::DaemonSet,
            name: "calico-node".to_string(),
            desired,
            ready,
            ready_names: (0..ready).map(|i| format!("ready-{i}")).collect(),
            on_other_images: (0..old).map(|i| pod(&format!("old-{i}"))).collect(),
            not_ready: (0..waiting).map(|i| pod(&format!("new-{i}"))).collect(),
            rollout: None,
            converged: false,
        }
    }

    fn patience(stall: u64, limit: Option<u64>) -> Patience {
        Patience { stall: MINUTE * stall as u32, limit: limit.map(|l| MINUTE * l as u32) }
    }

    #[test]
    fn a_rollout_that_keeps_advancing_outlives_the_stall_deadline() {
        let mut pace = Pace::new(patience(10, None), 1);
        pace.observe(Duration::ZERO, &[node(300, 0, 0, 300)], &[]);
        // One pod a minute for two hours: never ten minutes without progress.
        for minute in 1..=120u32 {
            let at = MINUTE * minute;
            let ready = minute.min(300);
            let advanced = pace.observe(at, &[node(300, ready, 0, 300 - ready as usize)], &[]);
            assert_eq!(
                advanced.as_deref(),
                Some(format!("calico-node: {ready} of 300 ready on the target images").as_str())
            );
            assert_eq!(pace.gave_up(at + MINUTE * 9), None);
        }
        assert_eq!(pace.deadline(), MINUTE * 130);
    }

    #[test]
    fn no_progress_for_the_stall_timeout_gives_up_naming_the_last_progress() {
        let mut pace = Pace::new(patience(10, None), 1);
        pace.observe(Duration::ZERO, &[node(3, 0, 0, 3)], &[]);
        pace.observe(MINUTE, &[node(3, 0, 1, 2)], &[]);
        pace.observe(MINUTE * 2, &[node(3, 1, 0, 2)], &[]);
        // The same view again and again: nothing advanced.
        for minute in 3..12 {
            assert_eq!(pace.observe(MINUTE * minute, &[node(3, 1, 0, 2)], &[]), None);
        }
        assert_eq!(pace.gave_up(MINUTE * 11), None);
        assert_eq!(pace.gave_up(MINUTE * 12), Some(GaveUp::Stalled));
        assert_eq!(
            pace.last_progress(),
            LastProgress { at_secs: 120.0, what: "calico-node: 1 of 3 ready on the target images".to_string() }
        );
    }

    #[test]
    fn a_pod_that_flaps_is_no_progress() {
        let mut pace = Pace::new(patience(10, None), 1);
        pace.observe(Duration::ZERO, &[node(3, 2, 0, 1)], &[]);
        assert_eq!(pace.observe(MINUTE, &[node(3, 1, 1, 1)], &[]), None);
        assert_eq!(pace.observe(MINUTE * 2, &[node(3, 2, 0, 1)], &[]), None);
        assert_eq!(pace.gave_up(MINUTE * 10), Some(GaveUp::Stalled));
    }

    #[test]
    fn a_pod_updated_and_the_rollout_status_advancing_are_progress() {
        let mut pace = Pace::new(patience(10, None), 1);
        pace.observe(Duration::ZERO, &[node(3, 0, 0, 3)], &[]);
        assert_eq!(pace.observe(MINUTE, &[node(3, 0, 0, 2)], &[]), None, "a count that fell is no progress");
        assert_eq!(
            pace.observe(MINUTE * 2, &[node(3, 0, 1, 2)], &[]).as_deref(),
            Some("calico-node: 1 pod on the target images")
        );
        let status = WorkloadStatus {
            kind: WorkloadKind::DaemonSet,
            name: "calico-node".to_string(),
            generation: 3,
            observed_generation: 3,
            desired: 3,
            updated: 1,
            available: 2,
            current: 3,
            images: Vec::new(),
        };
        assert_eq!(
            pace.observe(MINUTE * 3, &[node(3, 0, 1, 2)], std::slice::from_ref(&status)),
            None,
            "the first status read sets where it starts"
        );
        let more = WorkloadStatus { updated: 2, ..status };
        assert_eq!(
            pace.observe(MINUTE * 4, &[node(3, 0, 1, 2)], &[more]).as_deref(),
            Some("calico-node: 2 of 3 updated")
        );
        assert_eq!(pace.last_progress().at_secs, 240.0);
    }

    #[test]
    fn the_absolute_limit_ends_a_wait_that_progresses() {
        let mut pace = Pace::new(patience(10, Some(30)), 1);
        pace.observe(Duration::ZERO, &[node(300, 0, 0, 300)], &[]);
        pace.observe(MINUTE * 25, &[node(300, 25, 0, 275)], &[]);
        assert_eq!((pace.deadline(), pace.deadline_cause()), (MINUTE * 30, GaveUp::Limit));
        assert_eq!(pace.gave_up(MINUTE * 29), None);
        assert_eq!(pace.gave_up(MINUTE * 30), Some(GaveUp::Limit));
    }

    #[test]
    fn the_estimate_is_the_pace_over_what_is_left() {
        let mut pace = Pace::new(patience(10, None), 1);
        pace.observe(Duration::ZERO, &[node(300, 0, 0, 300)], &[]);
        assert_eq!(pace.estimates(MINUTE, &[node(300, 0, 0, 300)]), vec![None], "no pod ready yet: no pace");
        // 8 a minute for 15 minutes: 120 ready, 170 left, about 21 minutes.
        for step in 1..=120u32 {
            let at = Duration::from_millis(7500) * step;
            pace.observe(at, &[node(290, step, 0, 290 - step as usize)], &[]);
        }
        let now = MINUTE * 15;
        let estimate = pace.estimates(now, &[node(290, 120, 0, 170)])[0].clone().unwrap();
        assert_eq!((estimate.per_minute.round(), estimate.left_pods, estimate.became_ready), (8.0, 170, 120));
        assert_eq!(estimate.words(), "8/min, about 21 min left");
        assert_eq!(
            pace.line(now, &[node(290, 120, 0, 170)]),
            "calico-node 120/290 (170 on v3.0 images; 8/min, about 21 min left)"
        );
    }

    #[test]
    fn the_estimate_follows_nodes_that_join_and_leave() {
        let mut pace = Pace::new(patience(10, None), 1);
        pace.observe(Duration::ZERO, &[node(10, 0, 0, 10)], &[]);
        for step in 1..=4u32 {
            pace.observe(MINUTE * step, &[node(10, step, 0, 10 - step as usize)], &[]);
        }
        // Two nodes join: two more pods to roll, at the same pace of one a minute.
        let joined = pace.estimates(MINUTE * 4, &[node(12, 4, 0, 8)])[0].clone().unwrap();
        assert_eq!((joined.per_minute, joined.left_pods, joined.left_secs), (1.0, 8, Some(480.0)));
        // A node with a ready pod leaves: its pod is gone, the next to become ready counts once.
        let mut left_one = node(11, 3, 0, 8);
        left_one.ready_names = vec!["ready-0".into(), "ready-1".into(), "ready-3".into()];
        pace.observe(MINUTE * 5, &[left_one.clone()], &[]);
        let mut next = node(11, 4, 0, 7);
        next.ready_names = [&left_one.ready_names[..], &["ready-4".to_string()]].concat();
        pace.observe(MINUTE * 6, &[next.clone()], &[]);
        let left = pace.estimates(MINUTE * 6, &[next])[0].clone().unwrap();
        assert_eq!((left.left_pods, left.words()), (7, "0.8/min, about 8 min left".to_string()));
    }

    #[test]
    fn the_pace_is_measured_over_the_newest_pods_only() {
        let mut pace = Pace::new(patience(60, None), 1);
        pace.observe(Duration::ZERO, &[node(100, 0, 0, 100)], &[]);
        // Slow at first (one every 10 minutes), then one a minute.
        let mut at = Duration::ZERO;
        for ready in 1..=50u32 {
            at += if ready <= 5 { MINUTE * 10 } else { MINUTE };
            pace.observe(at, &[node(100, ready, 0, 100 - ready as usize)], &[]);
        }
        let estimate = pace.estimates(at, &[node(100, 50, 0, 50)])[0].clone().unwrap();
        assert_eq!((estimate.per_minute, estimate.left_secs), (1.0, Some(3000.0)));
        assert!(pace.tracks[0].readied.len() <= WINDOW + 1);
    }

    #[test]
    fn a_fresh_list_shown_row_by_row_counts_no_pod_twice() {
        let mut pace = Pace::new(patience(10, None), 1);
        pace.observe(Duration::ZERO, &[node(3, 0, 0, 3)], &[]);
        pace.observe(MINUTE, &[node(3, 2, 0, 1)], &[]);
        // The watches start again: the list comes back one pod at a time.
        for ready in 0..=2 {
            pace.observe(MINUTE * 2, &[node(3, ready, 0, 1)], &[]);
        }
        assert_eq!(pace.estimates(MINUTE * 2, &[node(3, 2, 0, 1)])[0].clone().unwrap().became_ready, 2);
    }

    #[test]
    fn the_live_line_says_stalled_instead_of_a_pace_that_no_longer_holds() {
        let mut pace = Pace::new(patience(10, None), 1);
        pace.observe(Duration::ZERO, &[node(3, 0, 0, 3)], &[]);
        pace.observe(Duration::from_secs(20), &[node(3, 1, 0, 2)], &[]);
        pace.observe(Duration::from_secs(40), &[node(3, 2, 0, 1)], &[]);
        let seen = Duration::from_secs(45);
        let live = pace.live(seen, &[node(3, 2, 0, 1)]);
        assert_eq!(live.moving, "calico-node 2/3 (1 on v3.0 images; 2.7/min, under a minute left)");
        assert_eq!(live.stalled, "calico-node 2/3 (1 on v3.0 images; stalled since 40s)");
        assert_eq!(live.after(Duration::ZERO).0, live.moving, "5s without progress is no stall yet");
        // A tenth of --stall-timeout with nothing advancing: the line turns on its own, with
        // no new view, as a terminal's line does between two rows.
        let (line, clock) = live.after(Duration::from_secs(55));
        assert_eq!((line, clock.quiet), (live.stalled.as_str(), MINUTE));
        assert_eq!(pace.line(MINUTE * 3, &[node(3, 2, 0, 1)]), live.stalled);
        // A workload that is done has nothing stalled.
        let mut done = node(3, 3, 0, 0);
        done.converged = true;
        assert_eq!(pace.live(MINUTE * 3, &[done]).stalled, "calico-node 3/3");
    }

    #[test]
    fn times_in_words() {
        assert_eq!(duration_words(Duration::from_millis(4230)), "4.2s");
        assert_eq!(duration_words(Duration::from_secs(6)), "6s");
        assert_eq!(duration_words(Duration::from_secs(3792)), "1h 3m 12s");
        assert_eq!(left_words(30.0), "under a minute");
        assert_eq!(left_words(22.0 * 60.0 + 10.0), "about 22 min");
        assert_eq!(left_words(140.0 * 60.0), "about 2 h 20 min");
        assert_eq!(
            (rate_words(8.0), rate_words(12.4), rate_words(0.33)),
            ("8/min".into(), "12/min".into(), "0.3/min".into())
        );
    }
}
