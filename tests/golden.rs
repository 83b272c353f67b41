//! The analysis gives the same numbers as the recorded ones: `analyze --json` of every sample,
//! every capture of the public corpus beside the repository and two generated mirror-port
//! mixes (the test kit's `gen-mix`), compared field by field with `tests/golden/`. A change of behaviour shows here as
//! the first field that differs; a deliberate one is recorded again with
//! `PROXY407_BLESS=1 cargo test --test golden` and reviewed in the diff.
//!
//! Fields added to the summary after a file was recorded (present in the output, absent in
//! the file) are not compared, so a new section does not rewrite every record.

mod common;

use proxy407_testkit::mix;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn golden_dir(group: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(group)
}

fn bless() -> bool {
    std::env::var("PROXY407_BLESS").as_deref() == Ok("1")
}

/// The differences between the recorded value and the current one, as JSON paths.
fn diff(path: &str, want: &Value, got: &Value, out: &mut Vec<String>) {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (k, wv) in w {
                match g.get(k) {
                    Some(gv) => diff(&format!("{path}.{k}"), wv, gv, out),
                    None => out.push(format!("{path}.{k}: missing (recorded {wv})")),
                }
            }
        }
        (Value::Array(w), Value::Array(g)) if w.len() == g.len() => {
            for (i, (wv, gv)) in w.iter().zip(g).enumerate() {
                diff(&format!("{path}[{i}]"), wv, gv, out);
            }
        }
        _ if want == got => {}
        _ => out.push(format!("{path}: recorded {want}, now {got}")),
    }
}

/// Runs `analyze --json` on `capture` and compares it with `tests/golden/<group>/<name>.json`.
fn check(group: &str, capture: &Path, failures: &mut Vec<String>) {
    let name = capture
        .file_name()
        .expect("capture file name")
        .to_string_lossy()
        .into_owned();
    let run = common::run(&["analyze", "--json", "--quiet"], &[capture]);
    assert!(run.ok, "analyze {name} failed: {}", run.stderr);
    let got: Value = serde_json::from_str(&run.stdout).expect("the summary is JSON");
    let file = golden_dir(group).join(format!("{name}.json"));
    if bless() {
        // As printed, so that a re-recorded file differs only where the numbers do.
        std::fs::write(&file, &run.stdout).expect("write golden file");
        return;
    }
    let text = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("no recorded summary {}: {e}", file.display()));
    let want: Value = serde_json::from_str(&text).expect("recorded summary is JSON");
    let mut out = Vec::new();
    diff("", &want, &got, &mut out);
    if !out.is_empty() {
        failures.push(format!("{group}/{name}:\n  {}", out.join("\n  ")));
    }
}

/// The public captures beside the repository; required in CI (`CI=true`).
fn corpus_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    if dir.join("MANIFEST.md").is_file() {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "the capture corpus is missing at {} (required in CI)",
        dir.display()
    );
    eprintln!("note: no capture corpus at {}; skipping", dir.display());
    None
}

fn captures_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
        .collect();
    v.sort();
    v
}

#[test]
fn samples_give_the_recorded_summaries() {
    let samples = captures_in(&Path::new(env!("CARGO_MANIFEST_DIR")).join("samples"));
    assert!(samples.len() >= 20, "samples missing");
    let mut failures = Vec::new();
    for s in &samples {
        check("samples", s, &mut failures);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn corpus_gives_the_recorded_summaries() {
    let Some(dir) = corpus_dir() else {
        return;
    };
    let corpus = captures_in(&dir);
    assert!(corpus.len() >= 30, "corpus incomplete");
    let mut failures = Vec::new();
    for c in &corpus {
        check("corpus", c, &mut failures);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The mirror-port mixes of the test kit, written again (the same seed writes the same
/// bytes) and analysed.
#[test]
fn generated_mixes_give_the_recorded_summaries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut failures = Vec::new();
    for (seed, size, concurrency) in [(7, 30_000_000, 192), (11, 8_000_000, 40)] {
        let path = dir.path().join(format!("mix-{seed}.pcap"));
        let mut file = std::io::BufWriter::new(std::fs::File::create(&path).expect("create"));
        let opts = mix::Options {
            size,
            seed,
            concurrency,
        };
        mix::generate(&mut file, &opts).expect("write the mix");
        drop(file);
        check("mix", &path, &mut failures);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn recorded_differences_are_found() {
    // The comparison itself: a changed number, a missing field and a shorter list all show.
    let want: Value = serde_json::json!({"a": {"b": 1, "c": [1, 2]}, "d": "x"});
    let got: Value = serde_json::json!({"a": {"b": 2, "c": [1]}, "e": 0});
    let mut out = Vec::new();
    diff("", &want, &got, &mut out);
    assert_eq!(out.len(), 3, "{out:?}");
    assert!(out[0].starts_with(".a.b: recorded 1, now 2"));
    assert!(out[1].starts_with(".a.c: recorded [1,2]"));
    assert!(out[2].starts_with(".d: missing"));
    let mut none = Vec::new();
    diff("", &want, &want, &mut none);
    assert!(none.is_empty());
}
