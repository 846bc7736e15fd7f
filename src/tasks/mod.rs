//! The tasks of the playbook, one file each: observe (read-only commands and parsers), decide
//! (a pure function), act (only if needed, never in check mode) and verify.
//!
//! A task returns [`Done`] (ok, changed or skipped, with what it observed) or [`Stop`] (the
//! exit code from the table and a message naming the command and the cause): `outcome`.
//! [`Context`] (`context`) runs commands for the tasks, turning every way a command can fail
//! into a `Stop` (`failures`, which decides exit 1 or 2), recording each command for the
//! report, and carrying the [`Facts`] (`facts`) learned so far from task to task; an
//! [`Observer`] (`observer`) hears about tasks as they happen.

mod context;
mod facts;
mod failures;
mod observer;
mod outcome;
mod pods_listing;

pub mod abort;
pub mod find_cluster;
pub mod find_tools;
pub mod inspect;
pub mod lock;
pub mod managers;
pub mod pods_at_risk;
pub mod preflight;
pub mod rollback;
pub mod status;
pub mod typha;
pub mod v3_data;
pub mod verify;
pub mod wait;

pub use context::{Ahead, Context, Environment, LockHold};
pub use facts::{
    CalicoConfig, CalicoctlSeen, Cluster, Facts, FoundTool, LiveRevision, OtherWorkload, TemplateChanges, Tools,
    WayBack,
};
pub use failures::{exec_stop, refused, succeeded};
pub use observer::{Observer, Silent};
pub use outcome::{CommandRecord, Done, Status, Step, Stop, TaskResult};
