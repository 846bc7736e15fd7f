//! `bench-parse MODE FILE [MIN_ITERS] [BUDGET_MS]`: read FILE (a kubectl table), then parse it
//! with the library again and again, and print one line
//! `rows=N bytes=B iters=K median_ms=X min_ms=Y max_ms=Z first_ms=F` (the first parse in a fresh
//! process also pays the page faults of its memory, as the tool does with each output it reads).
//!
//! MODE: `pods` = `calico_downgrade::tools::kubectl::parse_pods` (the custom-columns table of
//! `POD_COLUMNS`), `table` = `calico_downgrade::tools::table::parse` (any table, e.g. `-o wide`),
//! `read` = only read the file (a baseline for peak RSS). Iterates at least MIN_ITERS times and
//! until BUDGET_MS of parsing has been spent (at most 10 000 times). `1 0` = parse once, for a
//! peak-RSS measurement of a single parse. Exits 1 if the library refuses the table.

use std::hint::black_box;
use std::time::{Duration, Instant};

use calico_downgrade::exec::Output;
use calico_downgrade::tools::{kubectl, table};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: bench-parse pods|table|read FILE [MIN_ITERS] [BUDGET_MS]");
        std::process::exit(2);
    }
    let mode = args[1].as_str();
    let text = std::fs::read_to_string(&args[2]).unwrap_or_else(|e| {
        eprintln!("bench-parse: {}: {e}", args[2]);
        std::process::exit(2)
    });
    let min_iters: usize = args.get(3).map_or(5, |s| s.parse().expect("MIN_ITERS"));
    let budget = Duration::from_millis(args.get(4).map_or(500, |s| s.parse().expect("BUDGET_MS")));
    let bytes = text.len();
    let output = Output { code: Some(0), signal: None, stdout: text, stderr: String::new(), duration: Duration::ZERO };

    let parse_once = |output: &Output| -> Result<usize, String> {
        match mode {
            "pods" => kubectl::parse_pods(black_box(output)).map(|pods| pods.len()).map_err(|e| e.to_string()),
            "table" => table::parse("bench table", black_box(&output.stdout))
                .map(|t| t.rows.len())
                .map_err(|e| e.to_string()),
            "read" => Ok(output.stdout.lines().count().saturating_sub(1)),
            other => Err(format!("unknown mode {other}")),
        }
    };

    let mut samples = Vec::new();
    let mut rows = 0;
    let mut spent = Duration::ZERO;
    while samples.len() < min_iters.max(1) || (spent < budget && samples.len() < 10_000) {
        let started = Instant::now();
        let result = parse_once(&output);
        let took = started.elapsed();
        match result {
            Ok(n) => rows = black_box(n),
            Err(e) => {
                eprintln!("bench-parse: the library refused the table: {e}");
                std::process::exit(1);
            }
        }
        spent += took;
        samples.push(took);
    }
    let first = samples[0];
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "rows={rows} bytes={bytes} iters={} median_ms={:.3} min_ms={:.3} max_ms={:.3} first_ms={:.3}",
        samples.len(),
        ms(samples[samples.len() / 2]),
        ms(samples[0]),
        ms(samples[samples.len() - 1]),
        ms(first)
    );
}
