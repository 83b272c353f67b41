//! `--threads N` gives what `--threads 1` gives, byte for byte: the JSON summary and every
//! exported table (the episodes and transactions with their numbers and connection ids
//! included), on every sample, every capture of the public corpus beside the repository,
//! and generated mirror-port mixes; with a shard too.

use proxy407_testkit::mix;
use std::path::{Path, PathBuf};
use std::process::Command;

fn captures_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
        .collect();
    v.sort();
    v
}

fn samples() -> Vec<PathBuf> {
    let v = captures_in(&Path::new(env!("CARGO_MANIFEST_DIR")).join("samples"));
    assert!(v.len() >= 20, "samples missing");
    v
}

/// The public corpus (required in CI, as in `tests/corpus.rs`).
fn corpus() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    if !dir.join("MANIFEST.md").is_file() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "the capture corpus is missing at {} (required in CI)",
            dir.display()
        );
        eprintln!("note: no capture corpus at {}", dir.display());
        return Vec::new();
    }
    captures_in(&dir)
}

fn run(args: &[&str]) -> Vec<u8> {
    let out = Command::new(env!("CARGO_BIN_EXE_proxy407"))
        .args(args)
        .output()
        .expect("run proxy407");
    assert!(
        out.status.success(),
        "proxy407 {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The JSON summary and every table of `export`, file name → bytes.
fn outputs(file: &Path, threads: &str, extra: &[&str]) -> Vec<(String, Vec<u8>)> {
    let f = file.to_str().expect("utf-8 path");
    let mut args = vec!["--quiet", "--threads", threads];
    args.extend_from_slice(extra);
    let mut a = vec!["analyze", "--json", "--top", "1000"];
    a.extend_from_slice(&args);
    a.push(f);
    let mut v = vec![("summary.json".to_string(), run(&a))];
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().to_str().expect("utf-8 path");
    let mut e = vec!["export", "--out", out, "--format", "ndjson"];
    e.extend_from_slice(&args);
    e.push(f);
    run(&e);
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .expect("export directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    names.sort();
    for p in names {
        let name = p.file_name().expect("name").to_string_lossy().into_owned();
        v.push((name, std::fs::read(&p).expect("read table")));
    }
    v
}

fn same(file: &Path, threads: &str, extra: &[&str]) {
    let one = outputs(file, "1", extra);
    let many = outputs(file, threads, extra);
    let names = |o: &[(String, Vec<u8>)]| o.iter().map(|x| x.0.clone()).collect::<Vec<_>>();
    assert_eq!(names(&one), names(&many), "{}", file.display());
    assert!(one.len() >= 9, "{}: tables missing", file.display());
    for ((name, a), (_, b)) in one.iter().zip(&many) {
        assert!(
            a == b,
            "{}: {name} differs with --threads {threads} {extra:?}",
            file.display()
        );
    }
}

#[test]
fn every_sample_and_corpus_capture_gives_the_same_with_threads() {
    let all: Vec<PathBuf> = samples().into_iter().chain(corpus()).collect();
    for f in &all {
        same(f, "3", &[]);
    }
}

#[test]
fn generated_mixes_give_the_same_with_threads_and_shards() {
    let dir = tempfile::tempdir().expect("tempdir");
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
        same(&path, "2", &[]);
        same(&path, "4", &[]);
        same(&path, "2", &["--shard", "2/3"]);
    }
}
