//! The real-proxy lab: the bundled captures of `samples/` against their expected summaries,
//! a live run of `lab/run.sh` (Squid, tinyproxy and tcpdump on loopback) judged scenario by
//! scenario, and the lab's throwaway passwords searched for in every output.

use base64::Engine as _;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_proxy407");

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `samples/NAME.pcap` that has a `samples/NAME.expected.json`, sorted by name.
fn samples() -> Vec<(String, PathBuf, PathBuf)> {
    let dir = repo().join("samples");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("samples/ is part of the repository") {
        let path = entry.expect("readable samples/ entry").path();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".expected.json"))
        else {
            continue;
        };
        let pcap = dir.join(format!("{name}.pcap"));
        assert!(
            pcap.exists(),
            "{} has no capture {}",
            path.display(),
            pcap.display()
        );
        out.push((name.to_string(), pcap, path));
    }
    out.sort();
    out
}

fn run(args: &[&str], file: &Path) -> (bool, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .arg(file)
        .output()
        .expect("the proxy407 binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn analyze_json(file: &Path) -> Value {
    let (ok, stdout, stderr) = run(&["analyze", "--json", "-q"], file);
    assert!(ok, "analyze --json {} failed: {stderr}", file.display());
    serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("analyze --json {} is not JSON: {e}", file.display()))
}

fn scalar_eq(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::Number(e), Value::Number(a)) => e.as_f64() == a.as_f64(),
        _ => expected == actual,
    }
}

/// Compares only what the expected value names: object keys present in `expected` (keys
/// starting with `_` are notes), each expected array element matched by some actual element
/// (rows of a top list in any order), scalars equal. Mismatches are pushed as `path: why`.
fn subset(expected: &Value, actual: &Value, path: &str, errors: &mut Vec<String>) {
    match expected {
        Value::Object(map) => {
            let Some(actual) = actual.as_object() else {
                errors.push(format!("{path}: expected an object, found {actual}"));
                return;
            };
            for (key, want) in map {
                if key.starts_with('_') {
                    continue;
                }
                let here = format!("{path}.{key}");
                match actual.get(key) {
                    Some(got) => subset(want, got, &here, errors),
                    None => errors.push(format!("{here}: missing (expected {want})")),
                }
            }
        }
        Value::Array(rows) => {
            let Some(actual) = actual.as_array() else {
                errors.push(format!("{path}: expected an array, found {actual}"));
                return;
            };
            for want in rows {
                let found = actual.iter().any(|got| {
                    let mut e = Vec::new();
                    subset(want, got, path, &mut e);
                    e.is_empty()
                });
                if !found {
                    errors.push(format!("{path}: no row matches {want} in {actual:?}"));
                }
            }
        }
        _ => {
            if !scalar_eq(expected, actual) {
                errors.push(format!("{path}: expected {expected}, found {actual}"));
            }
        }
    }
}

fn check_against_expected(name: &str, capture: &Path, expected: &Path) -> Vec<String> {
    let want: Value = serde_json::from_str(
        &std::fs::read_to_string(expected).expect("readable expected summary"),
    )
    .expect("expected summary is JSON");
    let got = analyze_json(capture);
    let mut errors = Vec::new();
    subset(&want, &got, name, &mut errors);
    errors
}

#[test]
fn subset_comparison_reports_what_differs() {
    let want: Value = serde_json::json!({
        "_about": "ignored",
        "episodes": {"failed": 1},
        "top": {"users": [{"user": "bob", "failed": 5}]}
    });
    let good: Value = serde_json::json!({
        "episodes": {"failed": 1.0, "total": 3},
        "top": {"users": [{"user": "al", "failed": 0}, {"user": "bob", "failed": 5, "x": 1}]}
    });
    let mut e = Vec::new();
    subset(&want, &good, "t", &mut e);
    assert!(e.is_empty(), "{e:?}");
    let bad: Value = serde_json::json!({
        "episodes": {"failed": 2},
        "top": {"users": [{"user": "bob", "failed": 4}]}
    });
    let mut e = Vec::new();
    subset(&want, &bad, "t", &mut e);
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(e[0].starts_with("t.episodes.failed"), "{e:?}");
}

#[test]
fn samples_match_their_expected_summaries() {
    let all = samples();
    assert!(all.len() >= 15, "samples/ holds {} captures", all.len());
    let mut errors = Vec::new();
    for (name, pcap, expected) in &all {
        errors.extend(check_against_expected(name, pcap, expected));
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

#[test]
fn samples_total_stays_small() {
    let total: u64 = std::fs::read_dir(repo().join("samples"))
        .expect("samples/")
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    assert!(total < 1 << 20, "samples/ is {total} bytes");
}

/// `user:password` pairs of `samples/SECRETS.txt`.
fn lab_secrets() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo().join("samples/SECRETS.txt")).expect("SECRETS.txt");
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (u, p) = l
                .split_once(':')
                .expect("SECRETS.txt lines are user:password");
            (u.to_string(), p.to_string())
        })
        .collect()
}

/// Strings that must never appear: each password, `user:password`, and its base64 forms
/// (standard and URL-safe, with and without padding).
fn forbidden() -> Vec<String> {
    let mut out = Vec::new();
    for (user, pw) in lab_secrets() {
        let pair = format!("{user}:{pw}");
        out.push(base64::engine::general_purpose::STANDARD.encode(&pair));
        out.push(base64::engine::general_purpose::STANDARD_NO_PAD.encode(&pair));
        out.push(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&pair));
        out.push(pair);
        out.push(pw);
    }
    out
}

#[test]
fn lab_secrets_are_in_the_captures_but_in_no_output() {
    let forbidden = forbidden();
    assert!(forbidden.len() >= 20, "SECRETS.txt lists too little");
    // The search is meaningful: Basic credentials of the lab travel in clear in the samples.
    let mut seen_on_wire = 0;
    for (name, pcap, _) in samples() {
        let raw = std::fs::read(&pcap).expect("readable sample");
        let raw = String::from_utf8_lossy(&raw);
        seen_on_wire += forbidden
            .iter()
            .filter(|s| raw.contains(s.as_str()))
            .count();
        for args in [
            &["analyze", "--json", "-q"][..],
            &["analyze", "-q"][..],
            &["transactions", "-q"][..],
        ] {
            let (_, stdout, stderr) = run(args, &pcap);
            for s in &forbidden {
                assert!(
                    !stdout.contains(s.as_str()) && !stderr.contains(s.as_str()),
                    "`proxy407 {}` on {name} printed a lab secret",
                    args.join(" ")
                );
            }
        }
    }
    assert!(
        seen_on_wire >= 5,
        "the samples carry only {seen_on_wire} clear secrets"
    );
}

/// The episodes of a capture, from `proxy407 export --format ndjson`.
fn episodes(file: &Path) -> Vec<Value> {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new(BIN)
        .args([
            "export", "-q", "--format", "ndjson", "--tables", "episodes", "--out",
        ])
        .arg(dir.path())
        .arg(file)
        .output()
        .expect("the proxy407 binary runs");
    assert!(
        out.status.success(),
        "export {} failed: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(dir.path().join("episodes.ndjson"))
        .expect("episodes.ndjson written")
        .lines()
        .map(|l| serde_json::from_str(l).expect("an episode is JSON"))
        .collect()
}

#[test]
fn kerberos_samples_attribute_and_classify_negotiate_episodes() {
    // A Kerberos ticket names no user: the Negotiate episode takes frank from his Basic
    // login of the same address, marked inferred.
    let eps = episodes(&repo().join("samples/kerberos-success.pcap"));
    assert_eq!(eps.len(), 2, "{eps:?}");
    let basic = &eps[0];
    assert_eq!(basic["scheme"], "Basic");
    assert_eq!(basic["user_source"], "credentials");
    let krb = &eps[1];
    assert_eq!(krb["scheme"], "Negotiate");
    assert_eq!(krb["proxy_port"], 3130);
    assert_eq!(krb["outcome"], "authenticated");
    assert_eq!(krb["user"], "frank");
    assert_eq!(krb["user_source"], "inferred");
    // A rejected AP-REQ (wrong key, clock skew between client and proxy): Squid repeats its
    // bare Negotiate challenge, so the realm of the ticket is all the identity there is.
    for name in ["kerberos-rejected", "kerberos-clock-skew"] {
        let eps = episodes(&repo().join(format!("samples/{name}.pcap")));
        assert_eq!(eps.len(), 1, "{name}: {eps:?}");
        let e = &eps[0];
        assert_eq!(e["scheme"], "Negotiate", "{name}");
        assert_eq!(e["cause"], "bad_credentials", "{name}");
        assert_eq!(e["final_status"], 407, "{name}");
        assert_eq!(e["domain"], "LAB.TEST", "{name}");
        // No KRB-ERROR from the proxy, none from the KDC: the detail says a ticket was
        // rejected (the remedy names the clock and the keytab).
        assert_eq!(e["detail"], "kerberos_token_rejected rounds=1", "{name}");
        assert!(e["user"].is_null(), "{name}: {e}");
        assert!(e["user_source"].is_null(), "{name}: {e}");
    }
}

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// The lab binds fixed loopback ports: tests that run it take turns.
static LAB: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn lab_turn() -> std::sync::MutexGuard<'static, ()> {
    LAB.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn live_lab_scenarios_get_their_verdicts() {
    let missing: Vec<&str> = [
        "squid",
        "tcpdump",
        "tinyproxy",
        "curl",
        "htpasswd",
        "python3",
        "krb5kdc",
        "kdb5_util",
        "kadmin.local",
        "kinit",
        "kvno",
        "faketime",
    ]
    .into_iter()
    .filter(|t| !have(t))
    .collect();
    if !missing.is_empty() || !is_root() {
        let why = if missing.is_empty() {
            "not running as root".to_string()
        } else {
            format!("missing {}", missing.join(", "))
        };
        assert!(!ci(), "live lab cannot run under CI=true: {why}");
        eprintln!("skipping the live lab: {why} (see .ci/run for the packages)");
        return;
    }
    let out = tempfile::tempdir().expect("temp dir");
    let _turn = lab_turn();
    let status = Command::new(repo().join("lab/run.sh"))
        .arg("--out")
        .arg(out.path())
        .status()
        .expect("lab/run.sh starts");
    assert!(status.success(), "lab/run.sh failed: {status}");
    let mut errors = Vec::new();
    let mut judged = 0;
    for (name, _, expected) in samples() {
        let fresh = out.path().join(format!("{name}.pcap"));
        assert!(fresh.exists(), "the lab wrote no {}", fresh.display());
        errors.extend(check_against_expected(&name, &fresh, &expected));
        judged += 1;
    }
    assert!(judged >= 15, "only {judged} scenarios judged");
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

/// The dashboard on a live interface: `proxy407 live --headless` on `lo` while the lab runs
/// a real Squid scenario (a wrong Basic password retried); the export written when SIGTERM
/// stops it names the failing user, and the ECS records streamed meanwhile hold the failed
/// episode with its cause.
#[cfg(feature = "live")]
#[test]
fn live_headless_dashboard_sees_a_failing_user_through_squid() {
    let missing: Vec<&str> = ["squid", "tcpdump", "curl", "htpasswd", "python3", "kill"]
        .into_iter()
        .filter(|t| !have(t))
        .collect();
    if !missing.is_empty() || !is_root() {
        assert!(!ci(), "the live dashboard test cannot run under CI=true");
        eprintln!("skipping the live dashboard test: needs root and {missing:?}");
        return;
    }
    let work = tempfile::tempdir().expect("temp dir");
    let exports = work.path().join("exports");
    let records = work.path().join("records");
    let _turn = lab_turn();
    let live = Command::new(env!("CARGO_BIN_EXE_proxy407"))
        .args([
            "live",
            "--interface",
            "lo",
            "--headless",
            "--proxy-port",
            "3128",
        ])
        .args(["--export-every", "1s", "--status-every", "1s", "--out"])
        .arg(&exports)
        .args(["--records-format", "ecs", "--sensor", "lab", "--records"])
        .arg(&records)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("proxy407 live starts");
    std::thread::sleep(std::time::Duration::from_secs(2));
    let status = Command::new(repo().join("lab/run.sh"))
        .arg("--out")
        .arg(work.path().join("lab"))
        .args(["--only", "basic-wrong-password"])
        .status()
        .expect("lab/run.sh starts");
    std::thread::sleep(std::time::Duration::from_secs(1));
    let term = Command::new("kill")
        .args(["-TERM", &live.id().to_string()])
        .status()
        .expect("kill");
    let out = live.wait_with_output().expect("proxy407 live ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(status.success(), "lab/run.sh failed: {status}");
    assert!(term.success());
    assert!(
        out.status.success(),
        "proxy407 live: {}\n{stderr}",
        out.status
    );
    // The last export (written after SIGTERM judged what was open).
    let mut dirs: Vec<std::path::PathBuf> = std::fs::read_dir(&exports)
        .expect("exports written")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    dirs.sort();
    let last = dirs.last().expect("at least one export");
    let mut docs = Vec::new();
    let mut stack = vec![records.join("episodes")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("records written").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "ndjson") {
                let text = std::fs::read_to_string(&p).expect("ndjson");
                docs.extend(
                    text.lines()
                        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json")),
                );
            }
        }
    }
    assert!(
        docs.iter().any(|d| d["user"]["name"] == "bob"
            && d["event"]["outcome"] == "failure"
            && d["event"]["reason"] == "bad_credentials"
            && d["observer"]["hostname"] == "lab"),
        "no failed episode of bob in the records: {docs:?}\n{stderr}"
    );
    let users = std::fs::read_to_string(last.join("users.csv")).expect("users.csv");
    assert!(users.lines().any(|l| l.starts_with("bob,")), "{users}");
}

/// The same on the screen: `proxy407 live` in a real terminal (tmux) on `lo` while the lab
/// runs a wrong Basic password through Squid; the failing user and the cause show up.
#[cfg(feature = "live")]
#[test]
fn live_dashboard_screen_shows_the_failing_user() {
    let missing: Vec<&str> = ["squid", "tcpdump", "curl", "htpasswd", "python3", "tmux"]
        .into_iter()
        .filter(|t| !have(t))
        .collect();
    if !missing.is_empty() || !is_root() {
        assert!(!ci(), "the live screen test cannot run under CI=true");
        eprintln!("skipping the live screen test: needs root and {missing:?}");
        return;
    }
    let work = tempfile::tempdir().expect("temp dir");
    let socket = format!("p407-live-{}", std::process::id());
    let tmux = |args: &[&str]| {
        Command::new("tmux")
            .args(["-L", &socket])
            .args(args)
            .output()
            .expect("tmux")
    };
    let screen = || {
        String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-t", "live"]).stdout).into_owned()
    };
    let _turn = lab_turn();
    let cmd = format!(
        "{} live --interface lo --proxy-port 3128 --retry-window 1s",
        env!("CARGO_BIN_EXE_proxy407")
    );
    tmux(&[
        "new-session",
        "-d",
        "-s",
        "live",
        "-x",
        "120",
        "-y",
        "36",
        &cmd,
    ]);
    std::thread::sleep(std::time::Duration::from_secs(2));
    let status = Command::new(repo().join("lab/run.sh"))
        .arg("--out")
        .arg(work.path())
        .args(["--only", "basic-wrong-password"])
        .status()
        .expect("lab/run.sh starts");
    // No packet follows the lab's last one: the quiet interface's clock alone moves time
    // past the retry window, and the failure is judged and shown.
    let mut shown = String::new();
    for _ in 0..150 {
        shown = screen();
        if shown.contains("bob") && shown.contains("bad_credentials") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    tmux(&["send-keys", "-t", "live", "q"]);
    std::thread::sleep(std::time::Duration::from_millis(500));
    tmux(&["kill-server"]);
    assert!(status.success(), "lab/run.sh failed: {status}");
    assert!(
        shown.contains("bob") && shown.contains("bad_credentials"),
        "bob's failure not on the live screen:\n{shown}"
    );
}
