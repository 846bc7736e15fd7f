//! The three external tools: for each, the [`Invocation`](crate::exec::Invocation)s the tool
//! runs and the pure parsers of their output, side by side, with a sample of the output in
//! the comments. `locate` finds the binaries, `version` reads their version strings, `table`
//! reads kubectl's tabwriter tables.

pub mod calico_crds;
pub mod calico_upgrade;
pub mod calicoctl;
pub mod kubectl;
pub mod locate;
pub mod table;
pub mod version;

use std::fmt;

/// Output that no parser recognised. The tool never guesses: it stops (exit 2) and quotes
/// the first lines it could not read, so the operator can report them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unrecognised {
    /// What was being read, e.g. "`kubectl get daemonsets` table".
    pub what: String,
    /// Why it was not understood.
    pub reason: String,
    /// The first few lines of the output in question, verbatim.
    pub excerpt: Vec<String>,
}

impl Unrecognised {
    pub fn new(what: impl Into<String>, reason: impl Into<String>, output: &str) -> Self {
        Unrecognised { what: what.into(), reason: reason.into(), excerpt: excerpt(output) }
    }
}

/// The first three non-empty lines of `output`, each cut at 200 characters.
pub fn excerpt(output: &str) -> Vec<String> {
    output.lines().filter(|line| !line.trim().is_empty()).take(3).map(|line| line.chars().take(200).collect()).collect()
}

impl Unrecognised {
    /// `could not read the <what>: <reason>`, without the excerpt.
    pub fn headline(&self) -> String {
        format!("could not read the {}: {}", self.what, self.reason)
    }
}

impl fmt::Display for Unrecognised {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.headline())?;
        if self.excerpt.is_empty() {
            write!(f, " (the output was empty)")?;
        } else {
            write!(f, "; it began:")?;
            for line in &self.excerpt {
                write!(f, "\n    | {line}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for Unrecognised {}
