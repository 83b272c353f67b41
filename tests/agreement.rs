//! One model, several views: on every bundled sample, the exported tables, the headless
//! dashboard's export and the terminal report agree with `analyze --json` on every number
//! they share: episodes, failures by cause with their users and clients, every per-key row
//! and column, the nameless user.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn samples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("samples/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no samples in {}", dir.display());
    v
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

fn ndjson(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

fn sum(rows: &[Value], col: &str) -> u64 {
    rows.iter().map(|r| r[col].as_u64().unwrap_or(0)).sum()
}

#[test]
fn exported_tables_agree_with_the_json_summary() {
    for sample in samples() {
        let file = sample.to_str().expect("utf-8 path");
        let summary: Value = serde_json::from_slice(&run(&[
            "analyze", "--json", "--quiet", "--top", "100000", file,
        ]))
        .expect("JSON");
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().to_str().expect("utf-8 path");
        run(&[
            "export", "--quiet", "--out", out, "--format", "ndjson", file,
        ]);

        let episodes = ndjson(&dir.path().join("episodes.ndjson"));
        let users = ndjson(&dir.path().join("users.ndjson"));
        let clients = ndjson(&dir.path().join("clients.ndjson"));
        let causes = ndjson(&dir.path().join("causes.ndjson"));
        let name = sample.display();

        assert_eq!(
            episodes.len() as u64,
            summary["episodes"]["total"],
            "{name}: episodes"
        );
        for outcome in ["authenticated", "failed", "unresolved"] {
            let n = episodes.iter().filter(|e| e["outcome"] == outcome).count() as u64;
            assert_eq!(n, summary["episodes"][outcome], "{name}: {outcome}");
            assert_eq!(sum(&users, outcome), n, "{name}: users.{outcome}");
            assert_eq!(sum(&clients, outcome), n, "{name}: clients.{outcome}");
        }
        for c in &causes {
            let cause = c["cause"].as_str().expect("cause name");
            assert_eq!(
                c["episodes"], summary["causes"][cause],
                "{name}: causes.{cause}"
            );
            let col = format!("failed_{cause}");
            assert_eq!(
                sum(&users, &col),
                summary["causes"][cause],
                "{name}: users.{col}"
            );
        }
        // Per-user and per-client rows: the same keys and the same counts.
        let top_users = summary["top"]["users"].as_array().expect("top.users");
        let named = |rows: &[Value], key: &str| -> Vec<(String, u64, u64)> {
            let mut v: Vec<(String, u64, u64)> = rows
                .iter()
                .filter(|r| !r[key].is_null() && r[key] != "(unknown)")
                .map(|r| {
                    (
                        r[key].as_str().unwrap_or("").to_string(),
                        r["episodes"].as_u64().unwrap_or(0),
                        r["failed"].as_u64().unwrap_or(0),
                    )
                })
                .collect();
            v.sort();
            v
        };
        assert_eq!(
            named(&users, "user"),
            named(top_users, "user"),
            "{name}: users"
        );
        let top_clients = summary["top"]["clients"].as_array().expect("top.clients");
        assert_eq!(
            named(&clients, "client_ip"),
            named(top_clients, "client_ip"),
            "{name}: clients"
        );
        // Every per-key row, every column, the nameless user included: the same in the
        // JSON summary, the exported tables and the headless dashboard's last export.
        let view = tempfile::tempdir().expect("tempdir");
        run(&[
            "dashboard",
            "--headless",
            "--max-speed",
            "--format",
            "ndjson",
            "--out",
            view.path().to_str().expect("utf-8 path"),
            file,
        ]);
        let last = std::fs::read_dir(view.path())
            .expect("dashboard export")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .max()
            .expect("one export");
        for table in ["users", "clients", "proxies", "targets"] {
            let exported = ndjson(&dir.path().join(format!("{table}.ndjson")));
            let top = summary["top"][table].as_array().expect("top table");
            assert_eq!(&exported, top, "{name}: {table} rows");
            let shown = ndjson(&last.join(format!("{table}.ndjson")));
            assert_eq!(shown, exported, "{name}: dashboard {table} rows");
        }
        assert_eq!(
            ndjson(&last.join("causes.ndjson")),
            causes,
            "{name}: dashboard causes"
        );
        // The report's failures by cause: episodes, users, clients as in `causes`.
        let text = String::from_utf8(run(&["analyze", "--quiet", "--no-color", file]))
            .expect("utf-8 report");
        for c in causes.iter().filter(|c| c["episodes"].as_u64() > Some(0)) {
            let cause = c["cause"].as_str().expect("cause name");
            let line = text
                .lines()
                .find(|l| l.trim_start().starts_with(&format!("{cause}  ")))
                .unwrap_or_else(|| panic!("{name}: no report line for {cause}\n{text}"));
            let plural = |n: &Value, word: &str| {
                let n = n.as_u64().unwrap_or(0);
                format!("{n} {word}{}", if n == 1 { "" } else { "s" })
            };
            for (col, word) in [
                ("episodes", "episode"),
                ("users", "user"),
                ("clients", "client"),
            ] {
                assert!(
                    line.contains(&plural(&c[col], word)),
                    "{name}: {cause} {col} {} not in {line:?}",
                    c[col]
                );
            }
        }
    }
}
