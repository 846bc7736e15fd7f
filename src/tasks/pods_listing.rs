//! The pods-at-risk listing's state as its pages are read: shared by the thread that reads
//! them (`Exec::spawn_pages`, through [`pager`]) and the task that reports them
//! (`pods_at_risk`), which reads on in the foreground from a page that failed. It knows
//! nothing of the context: the context only holds it.

use std::sync::{Arc, Mutex, PoisonError};

use crate::exec::{Invocation, Output, Pager};
use crate::tools::kubectl::{self, Kubectl, PodSummary};
use crate::tools::Unrecognised;

/// The listing as it goes, shared with the thread that reads its pages.
#[derive(Debug, Default)]
pub struct Listing {
    /// When the v3 upgrade began: pods created after it are at risk (empty until the
    /// inspection has read it: every pod that could be at risk is kept until then).
    pub(super) since: String,
    pub(super) at_risk: Vec<PodSummary>,
    /// Pods seen, over every page.
    pub(super) pods: usize,
    /// Each page read in the background, its output without the pods, for the report's list
    /// of commands (the task records them when it takes the listing).
    pub(super) read: Vec<(Invocation, Output)>,
    /// The page after the last one read, while there is one.
    pub(super) next: Option<Invocation>,
    /// A page this tool could not read: the listing stopped there.
    pub(super) unreadable: Option<Unrecognised>,
}

/// The listing's state, as the task and the thread reading the pages share it.
pub type SharedListing = Arc<Mutex<Listing>>;

/// A listing of the pods created after `since`, nothing read yet.
pub fn shared(since: &str) -> SharedListing {
    Arc::new(Mutex::new(Listing { since: since.to_string(), ..Listing::default() }))
}

/// What the thread does with each page: keeps its record for the report (its exit and time,
/// not its pods) and reads it into `listing`.
pub fn pager(listing: &SharedListing, kubectl: Kubectl) -> Pager {
    let shared = Arc::clone(listing);
    Box::new(move |invocation, output| {
        let mut listing = shared.lock().unwrap_or_else(PoisonError::into_inner);
        let read = Output { stdout: String::new(), stderr: output.stderr.clone(), ..*output };
        listing.read.push((invocation.clone(), read));
        read_page(&mut listing, &kubectl, output)
    })
}

/// One page read into the listing: its pods at risk kept, the next page named (`None` after
/// the last, or when the page cannot be read).
pub(super) fn read_page(listing: &mut Listing, kubectl: &Kubectl, output: &Output) -> Option<Invocation> {
    let since = listing.since.clone();
    match kubectl::parse_pods_page(output, |pod| crate::cluster::at_risk(pod, &since)) {
        Ok(page) => {
            listing.pods += page.count;
            listing.at_risk.extend(page.kept);
            listing.next = page.next.map(|token| kubectl.pods_page(Some(&token)));
            listing.next.clone()
        }
        Err(unreadable) => {
            listing.unreadable = Some(unreadable);
            None
        }
    }
}
