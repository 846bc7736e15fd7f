//! The README's excerpt of the demo (between `<!-- demo-excerpt:begin -->` and `:end -->`) is
//! what `scripts/demo` prints: the demo's simulated cluster (its `init_args`, read from the
//! script) is laid out and `run --yes` runs as the demo runs it; every line of the excerpt must
//! appear in that output, in order (times, dates and generated names aside). A changed report
//! fails here until the README shows it.

use std::path::Path;

use crate::support::fake::{normalise, FakeCluster};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `init_args=(--pod-start-ms 900 --pod-stop-ms 300)` in scripts/demo.
fn demo_init_args() -> Vec<String> {
    let script = std::fs::read_to_string(root().join("scripts/demo")).unwrap();
    let line = script.lines().find_map(|l| l.strip_prefix("init_args=(")).expect("scripts/demo sets init_args=(...)");
    line.trim_end_matches(')').split_whitespace().map(str::to_string).collect()
}

fn readme_excerpt() -> Vec<String> {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let start = readme.find("<!-- demo-excerpt:begin -->").expect("the README marks the demo excerpt");
    let end = readme.find("<!-- demo-excerpt:end -->").expect("the excerpt's end");
    let block = &readme[start..end];
    let body = block.split_once("```\n").expect("a code block").1;
    let body = body.rsplit_once("```").expect("its end").0;
    body.lines().map(str::to_string).collect()
}

/// What differs from one run to the next: times, dates, generated pod names.
fn steady(line: &str, cluster: &FakeCluster) -> String {
    let line = normalise(line, cluster);
    regex::Regex::new(r"web-[0-9a-z]{8,10}-[0-9a-z]{5}").unwrap().replace_all(&line, "web-[ID]").trim_end().to_string()
}

#[test]
fn the_readme_shows_what_the_demo_prints() {
    let args = demo_init_args();
    let cluster = FakeCluster::new(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let mut command = cluster.command(&["run", "--yes"]);
    command.env("TERM", "dumb");
    let output = command.output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    let printed: Vec<String> = String::from_utf8_lossy(&output.stdout).lines().map(|l| steady(l, &cluster)).collect();
    let excerpt = readme_excerpt();
    assert!(excerpt.len() >= 10, "the excerpt is a real part of a run: {excerpt:#?}");
    let mut at = 0;
    for line in &excerpt {
        let wanted = steady(line, &cluster);
        match printed[at..].iter().position(|p| *p == wanted) {
            Some(found) => at += found + 1,
            None => panic!(
                "the README's demo excerpt has a line the demo does not print (update README.md from `scripts/demo`):\n  {line}\nthe demo printed:\n{}",
                printed.join("\n")
            ),
        }
    }
}
