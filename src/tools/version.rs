//! Version strings as the three tools print them, read leniently and compared strictly.
//!
//! The tools' versions come from `git describe` (see `fixtures/README.md`): `v1.6.3`,
//! `v2.0.0-beta1`, `v1.6.3-2-gd4cfc95`, `v1.6.3-dirty`, `v3.4.0-0.dev`, `…-dev-build`. We accept
//! an optional leading `v`, then `MAJOR.MINOR.PATCH`, then an optional `-anything`, and keep
//! the pre-release part so that `v2.0.0-beta1` is still a 2.x (not "below 2.0").

use semver::Version;

/// Parse `v1.6.3`, `1.6.3`, `v2.0.0-beta1`, `v1.6.3-2-gd4cfc95`; `None` for anything else
/// (an empty string, a bare commit hash, `latest`).
pub fn parse_lenient(text: &str) -> Option<Version> {
    let text = text.trim();
    let text = text.strip_prefix('v').unwrap_or(text);
    if let Ok(version) = Version::parse(text) {
        return Some(version);
    }
    // `git describe` suffixes such as `-2-gd4cfc95` or `-dirty` are valid semver pre-releases;
    // what semver rejects are leading zeros and odd characters in them. Keep the triple and
    // carry the rest as an opaque pre-release tag.
    let (core, rest) = match text.find(['-', '+']) {
        Some(i) => (&text[..i], Some(&text[i + 1..])),
        None => (text, None),
    };
    let mut parts = core.split('.');
    let (Some(major), Some(minor), Some(patch), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return None;
    };
    let number = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten()
    };
    let mut version = Version::new(number(major)?, number(minor)?, number(patch)?);
    if let Some(rest) = rest {
        let cleaned: String =
            rest.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' { c } else { '-' }).collect();
        let cleaned =
            cleaned.split('.').filter(|s| !s.is_empty()).map(|s| format!("x{s}")).collect::<Vec<_>>().join(".");
        version.pre = semver::Prerelease::new(&cleaned).ok()?;
    }
    Some(version)
}

/// `v1.6.3` for display (the `v` the tools themselves print).
pub fn display(version: &Version) -> String {
    format!("v{version}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_release_prerelease_and_describe_forms() {
        assert_eq!(parse_lenient("v1.6.3").unwrap(), Version::new(1, 6, 3));
        assert_eq!(parse_lenient("1.6.3").unwrap(), Version::new(1, 6, 3));
        let beta = parse_lenient("v2.0.0-beta1").unwrap();
        assert_eq!((beta.major, beta.minor, beta.patch), (2, 0, 0));
        assert!(!beta.pre.is_empty());
        let between = parse_lenient("v1.6.3-2-gd4cfc95").unwrap();
        assert_eq!((between.major, between.minor, between.patch), (1, 6, 3));
        let dev = parse_lenient("v3.4.0-0.dev").unwrap();
        assert_eq!(dev.major, 3);
        assert!(parse_lenient("v01.6.3").is_none() || parse_lenient("v01.6.3").unwrap().major == 1);
    }

    #[test]
    fn refuses_what_is_not_a_version() {
        for text in ["", "latest", "d4cfc95", "v1.6", "v1.6.3.4", "vx.y.z", "master"] {
            assert_eq!(parse_lenient(text), None, "{text:?}");
        }
    }
}
