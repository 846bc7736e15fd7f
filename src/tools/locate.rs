//! Finding the three tools: the `--kubectl`/`--calicoctl`/`--calico-upgrade` option (or its
//! `CALICO_DOWNGRADE_*` variable), else the first match on `PATH`; and every calicoctl on
//! `PATH`, because a stray v3 calicoctl earlier or later on `PATH` is exactly the trap the docs
//! warn about ("Remove any upgraded `calicoctl` instances").

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// Where a tool was found, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// Named by an option or variable: used as given, even if it turns out to be missing (the
    /// run then fails naming that path).
    Given(PathBuf),
    /// The first match on `PATH`.
    OnPath(PathBuf),
    /// Not on `PATH`.
    Missing,
}

impl Found {
    pub fn path(&self) -> Option<&Path> {
        match self {
            Found::Given(path) | Found::OnPath(path) => Some(path),
            Found::Missing => None,
        }
    }
}

/// Resolve one tool. `search_path` is the `PATH` value read once in `main`; `cwd` resolves
/// relative entries, as a shell would.
pub fn locate(name: &str, given: Option<&Path>, search_path: Option<&OsStr>, cwd: &Path) -> Found {
    if let Some(given) = given {
        // A bare name (`--kubectl kubectl-1.27`) is looked up on PATH like the default.
        if given.components().count() == 1 && !given.as_os_str().is_empty() && !given.starts_with(".") {
            if let Ok(path) = which::which_in(given, search_path, cwd) {
                return Found::Given(path);
            }
        }
        return Found::Given(if given.is_relative() { cwd.join(given) } else { given.to_path_buf() });
    }
    match which::which_in(name, search_path, cwd) {
        Ok(path) => Found::OnPath(path),
        Err(_) => Found::Missing,
    }
}

/// Every executable called `name` on `PATH`, in `PATH` order, without duplicates.
pub fn all_on_path(name: &str, search_path: Option<&OsStr>, cwd: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = Vec::new();
    if let Ok(paths) = which::which_in_all(name, search_path, cwd) {
        for path in paths {
            if !found.contains(&path) {
                found.push(path);
            }
        }
    }
    found
}
