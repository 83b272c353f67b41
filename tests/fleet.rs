//! The fleet view (`contrib/`): a generated capture (the test kit's mirror-port mix, and a
//! user whose wrong password is tried from six clients) is analysed as three shards into one
//! records directory, each shard a sensor of its own. Then the PySpark job
//! (`contrib/spark/tables.py`, local mode) and DuckDB running `contrib/sql/*.sql` read that
//! directory, and every table they write must be what one `export` of the whole capture
//! writes: same columns in the same order, same types (but signed where export's are
//! unsigned), same rows in the same order, every value equal, but for the percentiles of a
//! row with more than 32 values, where export's DDSketch is within 5 % of the exact value.
//! The lockout-risk user's attempts fall in several shards, so only counting across sensors
//! finds it; the job's `--lockout-threshold` gives export's tables with the same option. With `CI=true` a missing python3 module (pyspark, duckdb) or Java is a failure.

mod common;
use common::*;
use proxy407_testkit::{mix, Packet, TcpConv, Ts};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const TABLES: [&str; 6] = [
    "users", "clients", "proxies", "targets", "causes", "timeline",
];

/// 2025-03-04T09:00:00Z, where the test kit's mix starts.
const MIX_START_US: i64 = 1_741_078_800_000_000;
const MINUTE_US: i64 = 60_000_000;
/// A proxy of the mix.
const PROXY: &str = "10.0.1.11:3128";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Whether python3 has `module` (and, for pyspark, Java runs); with `CI=true` its absence
/// fails the test.
fn have(module: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .status()
        .is_ok_and(|s| s.success())
        && (module != "pyspark"
            || Command::new("java")
                .arg("-version")
                .output()
                .is_ok_and(|o| o.status.success()));
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but {module} is missing (.ci/run installs pyspark, duckdb and \
             openjdk-17-jre-headless)"
        );
        println!("note: {module} (or Java) not installed; skipping that engine");
    }
    ok
}

/// One Basic login with a wrong password from `client`, `minute` minutes into the mix:
/// `407`, the credentials, `407` again, and the client gives up.
fn wrong_password(client: &str, minute: i64, user: &str) -> Vec<Packet> {
    let start = Ts(MIX_START_US + 500_000 + minute * MINUTE_US);
    let mut c = TcpConv::new(addr(client), addr(PROXY)).start(start);
    let target = "http://intranet.example.com/";
    let creds = format!("Basic {}", b64(format!("{user}:autumn2024").as_bytes()));
    c.handshake()
        .client_send(&req("GET", target, &[("User-Agent", "Updater/2.1")]))
        .server_send(&resp407(&["Basic realm=\"corp\""]))
        .client_ack()
        .client_send(&req(
            "GET",
            target,
            &[
                ("User-Agent", "Updater/2.1"),
                ("Proxy-Authorization", &creds),
            ],
        ))
        .server_send(&resp407(&["Basic realm=\"corp\""]))
        .client_fin()
        .server_fin()
        .client_ack();
    c.into_packets()
}

/// The mix and the spread-out user, two files analysed together.
fn capture(dir: &Path) -> Vec<PathBuf> {
    let mix_path = dir.join("mix.pcap");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&mix_path).expect("create"));
    let opts = mix::Options {
        size: 8_000_000,
        seed: 11,
        concurrency: 40,
    };
    mix::generate(&mut file, &opts).expect("write the mix");
    drop(file);
    // One account (`erin.cross`, also written `CORP\Erin.Cross`) rejected once from each of
    // six clients: at minutes 0, 6, 7, 8 and 9 (five within 10 minutes: lockout risk) and
    // at 17 (only four in the 10 minutes before it: no lockout risk).
    let attempts = [
        ("10.40.0.1:50001", 0, "erin.cross"),
        ("10.40.0.2:50002", 6, "CORP\\Erin.Cross"),
        ("10.40.0.3:50003", 7, "erin.cross"),
        ("10.40.0.4:50004", 8, "erin.cross"),
        ("10.40.0.5:50005", 9, "CORP\\Erin.Cross"),
        ("10.40.0.6:50006", 17, "erin.cross"),
    ];
    let spread = dir.join("spread.pcap");
    write_pcap(
        &spread,
        &merged(
            attempts
                .iter()
                .map(|(c, m, u)| wrong_password(c, *m, u))
                .collect(),
        ),
        proxy407_testkit::LinkKind::Ethernet,
    );
    vec![mix_path, spread]
}

fn proxy407(args: &[&str], files: &[PathBuf]) {
    let out = Command::new(BIN)
        .args(args)
        .args(files)
        .output()
        .expect("proxy407 runs");
    assert!(
        out.status.success(),
        "proxy407 {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Runs a python script with arguments; its standard output.
fn python(script: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = Command::new("python3")
        .args(["-c", script])
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "python failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every table under `dir` read by DuckDB: `{table: {columns, types, rows}}`, timestamps as
/// RFC 3339 text. `single` reads `dir/<table>.parquet` (export), else `dir/<table>/*.parquet`.
fn read_tables(dir: &Path, single: bool) -> Value {
    const READ: &str = r#"
import sys, json, duckdb
root, single = sys.argv[1], sys.argv[2] == "1"
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
out = {}
for t in ["users", "clients", "proxies", "targets", "causes", "timeline"]:
    path = f"{root}/{t}.parquet" if single else f"{root}/{t}/*.parquet"
    r = con.sql(f"SELECT * FROM read_parquet('{path}')")
    rows = [[v.isoformat() if hasattr(v, "isoformat") else v for v in row] for row in r.fetchall()]
    out[t] = {"columns": r.columns, "types": [str(x) for x in r.types], "rows": rows}
print(json.dumps(out))
"#;
    let text = python(READ, &[path_str(dir), if single { "1" } else { "0" }], &[]);
    serde_json::from_str(&text).expect("tables as JSON")
}

/// export's unsigned integers are signed in Spark and in the SQL files (`CAST ... AS BIGINT`).
fn signed(ty: &str) -> String {
    match ty {
        "UBIGINT" => "BIGINT".into(),
        "UINTEGER" => "INTEGER".into(),
        other => other.to_string(),
    }
}

/// Compares one engine's tables with export's; returns the rows whose percentiles were
/// compared within the sketch's bound, and those compared exactly (with a value).
fn compare(engine: &str, want: &Value, got: &Value) -> (usize, usize) {
    let (mut bounded, mut exact) = (0, 0);
    let mut diffs = Vec::new();
    for t in TABLES {
        let (w, g) = (&want[t], &got[t]);
        assert_eq!(g["columns"], w["columns"], "{engine} {t}: columns");
        let wt: Vec<String> = w["types"]
            .as_array()
            .expect("types")
            .iter()
            .map(|x| signed(x.as_str().unwrap_or("")))
            .collect();
        let gt: Vec<String> = g["types"]
            .as_array()
            .expect("types")
            .iter()
            .map(|x| x.as_str().unwrap_or("").to_string())
            .collect();
        assert_eq!(gt, wt, "{engine} {t}: types");
        let cols: Vec<&str> = w["columns"]
            .as_array()
            .expect("columns")
            .iter()
            .map(|c| c.as_str().unwrap_or(""))
            .collect();
        let (wr, gr) = (
            w["rows"].as_array().expect("rows"),
            g["rows"].as_array().expect("rows"),
        );
        assert_eq!(gr.len(), wr.len(), "{engine} {t}: rows");
        assert!(!wr.is_empty(), "{t} is empty");
        for (i, (a, b)) in wr.iter().zip(gr).enumerate() {
            let values = cols.iter().position(|c| *c == "authenticated");
            let n = values.and_then(|j| a[j].as_u64()).unwrap_or(0);
            for (j, c) in cols.iter().enumerate() {
                let (x, y) = (&a[j], &b[j]);
                if c.starts_with("time_to_auth_p") && x.is_f64() {
                    let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(-1.0));
                    if n > 32 {
                        bounded += 1;
                        if (x - y).abs() > 0.05 * y {
                            diffs.push(format!("{t} row {i} {c}: export {x}, {engine} {y}"));
                        }
                        continue;
                    }
                    exact += 1;
                }
                if x != y {
                    diffs.push(format!(
                        "{t} row {i} ({}) {c}: export {x}, {engine} {y}",
                        a[0]
                    ));
                }
            }
        }
    }
    assert!(
        diffs.is_empty(),
        "{engine} differs from export:\n{}",
        diffs.join("\n")
    );
    (bounded, exact)
}

/// Episodes per sensor and user in the records, and those carrying their sensor's own
/// `lockout_risk`.
fn records_summary(records: &Path) -> Value {
    const SUMMARY: &str = r#"
import sys, json, duckdb
con = duckdb.connect()
rec = sys.argv[1]
ep = f"read_parquet('{rec}/episodes/**/*.parquet', hive_partitioning = true)"
rows = con.sql(f"""SELECT sensor, coalesce("user", ''), count(*),
                         sum(CASE WHEN list_contains(findings, 'lockout_risk') THEN 1 ELSE 0 END)
                  FROM {ep} GROUP BY ALL ORDER BY ALL""").fetchall()
print(json.dumps([list(r) for r in rows]))
"#;
    serde_json::from_str(&python(SUMMARY, &[path_str(records)], &[])).expect("JSON")
}

const RUN_SQL: &str = r#"
import sys, pathlib, duckdb
rec, sql, out = sys.argv[1:4]
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
con.execute(f"CREATE VIEW episodes AS SELECT * FROM read_parquet('{rec}/episodes/**/*.parquet', hive_partitioning = true)")
con.execute(f"CREATE VIEW transactions AS SELECT * FROM read_parquet('{rec}/transactions/**/*.parquet', hive_partitioning = true)")
for t in ["users", "clients", "proxies", "targets", "causes", "timeline"]:
    q = pathlib.Path(f"{sql}/{t}.sql").read_text().strip().rstrip(";")
    pathlib.Path(f"{out}/{t}").mkdir(parents=True)
    con.execute(f"COPY ({q}) TO '{out}/{t}/part-0.parquet' (FORMAT parquet)")
"#;

/// Spark in local mode, bound to loopback, without its web UI.
const SPARK_ENV: [(&str, &str); 2] = [
    ("SPARK_LOCAL_IP", "127.0.0.1"),
    (
        "PYSPARK_SUBMIT_ARGS",
        "--master local[2] --conf spark.ui.enabled=false --conf spark.sql.shuffle.partitions=4 \
         pyspark-shell",
    ),
];

fn spark_job(args: &[&str]) -> std::process::Output {
    Command::new("python3")
        .arg(repo().join("contrib/spark/tables.py"))
        .args(args)
        .envs(SPARK_ENV)
        .output()
        .expect("python3 runs the Spark job")
}

#[test]
fn spark_and_sql_give_the_export_of_the_whole_capture_from_three_shards() {
    let started = Instant::now();
    let spark = have("pyspark");
    let duckdb = have("duckdb");
    if !duckdb {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let files = capture(dir.path());
    let records = dir.path().join("records");
    for k in 1..=3 {
        let shard = format!("{k}/3");
        let sensor = format!("shard-{k}");
        proxy407(
            &[
                "analyze",
                "--quiet",
                "--json",
                "--shard",
                &shard,
                "--records",
                path_str(&records),
                "--records-transactions",
                "--sensor",
                &sensor,
            ],
            &files,
        );
    }
    let export = dir.path().join("export");
    proxy407(
        &[
            "export",
            "--quiet",
            "--format",
            "parquet",
            "--out",
            path_str(&export),
        ],
        &files,
    );
    let want = read_tables(&export, true);
    let prepared = started.elapsed();

    // The capture: many users, failures of several causes, a lockout-risk user.
    let users = want["users"]["rows"].as_array().expect("users");
    assert!(users.len() >= 100, "{} users", users.len());
    let causes = want["causes"]["rows"].as_array().expect("causes");
    let failing = causes
        .iter()
        .filter(|r| r[1].as_u64().unwrap_or(0) > 0)
        .count();
    assert!(failing >= 5, "{failing} causes of failure");
    let lockout_col = want["users"]["columns"]
        .as_array()
        .and_then(|c| c.iter().position(|c| c == "lockout_risk"))
        .expect("a lockout_risk column");
    let lockout = |name: &str| -> u64 {
        users
            .iter()
            .find(|r| r[0] == name)
            .and_then(|r| r[lockout_col].as_u64())
            .unwrap_or_else(|| panic!("no row for {name}"))
    };
    // Five of erin's six rejections fall within 10 minutes.
    assert_eq!(lockout("erin.cross") + lockout("CORP\\Erin.Cross"), 3 + 2);

    // The shards split erin's clients, so no sensor alone saw the lockout risk.
    let summary = records_summary(&records);
    let rows = summary.as_array().expect("rows");
    let sensors: BTreeSet<&str> = rows.iter().filter_map(|r| r[0].as_str()).collect();
    assert_eq!(sensors.len(), 3, "{summary}");
    let erin: Vec<&Value> = rows
        .iter()
        .filter(|r| {
            r[1].as_str()
                .is_some_and(|u| u.to_lowercase().ends_with("erin.cross"))
        })
        .collect();
    let erin_sensors: BTreeSet<&str> = erin.iter().filter_map(|r| r[0].as_str()).collect();
    assert!(erin_sensors.len() >= 2, "erin in one shard: {erin:?}");
    let own: u64 = erin.iter().map(|r| r[3].as_u64().unwrap_or(0)).sum();
    assert!(own < 5, "the shards' own findings: {own}");
    let own_all: u64 = rows.iter().map(|r| r[3].as_u64().unwrap_or(0)).sum();
    let total: u64 = users
        .iter()
        .map(|r| r[lockout_col].as_u64().unwrap_or(0))
        .sum();
    assert!(
        own_all < total,
        "lockout episodes: shards {own_all}, whole {total}"
    );

    // DuckDB running contrib/sql/.
    let t = Instant::now();
    let sql_out = dir.path().join("sql");
    python(
        RUN_SQL,
        &[
            path_str(&records),
            path_str(&repo().join("contrib/sql")),
            path_str(&sql_out),
        ],
        &[],
    );
    let (b, e) = compare("duckdb", &want, &read_tables(&sql_out, false));
    println!("duckdb: {:.1} s", t.elapsed().as_secs_f64());
    assert!(
        b > 0 && e > 0,
        "percentiles: {b} within the bound, {e} exact"
    );

    if spark {
        // The Spark job in local mode.
        let help = spark_job(&["--help"]);
        assert!(help.status.success());
        assert!(String::from_utf8_lossy(&help.stdout).contains("--lockout-threshold"));
        let t = Instant::now();
        let spark_out = dir.path().join("spark");
        let out = spark_job(&[path_str(&records), path_str(&spark_out)]);
        assert!(
            out.status.success(),
            "the Spark job failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (b, e) = compare("spark", &want, &read_tables(&spark_out, false));
        assert!(
            b > 0 && e > 0,
            "percentiles: {b} within the bound, {e} exact"
        );
        println!("spark job: {:.1} s", t.elapsed().as_secs_f64());

        // Another threshold: four rejections within 10 minutes, as export counts them with
        // the same option (erin's attempt at minute 17 then counts too).
        let export4 = dir.path().join("export4");
        proxy407(
            &[
                "export",
                "--quiet",
                "--format",
                "parquet",
                "--lockout-threshold",
                "4/10m",
                "--out",
                path_str(&export4),
            ],
            &files,
        );
        let want4 = read_tables(&export4, true);
        let t = Instant::now();
        let spark4 = dir.path().join("spark4");
        let out = spark_job(&[
            "--lockout-threshold",
            "4/10m",
            path_str(&records),
            path_str(&spark4),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got4 = read_tables(&spark4, false);
        compare("spark --lockout-threshold 4/10m", &want4, &got4);
        let lockout4: u64 = want4["users"]["rows"]
            .as_array()
            .expect("users")
            .iter()
            .filter(|r| r[0] == "erin.cross" || r[0] == "CORP\\Erin.Cross")
            .map(|r| r[lockout_col].as_u64().unwrap_or(0))
            .sum();
        assert_eq!(lockout4, 6);
        println!(
            "spark job, another threshold: {:.1} s",
            t.elapsed().as_secs_f64()
        );

        // Records of another version in the same directory are refused, naming the file.
        let t = Instant::now();
        let old = other_version(&records);
        let out = spark_job(&[path_str(&records), path_str(&dir.path().join("mixed"))]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains(&old) && stderr.contains("lockout_account"),
            "{stderr}"
        );
        assert!(!dir.path().join("mixed").exists());
        println!("spark job refusing: {:.1} s", t.elapsed().as_secs_f64());
    }
    println!(
        "fleet test: {:.1} s (capture, shards and export {:.1} s)",
        started.elapsed().as_secs_f64(),
        prepared.as_secs_f64()
    );
}

/// Adds to the records a transactions file as an older version wrote it (no
/// `lockout_account`); its name.
fn other_version(records: &Path) -> String {
    const OLD: &str = r#"
import sys, glob, duckdb
rec = sys.argv[1]
src = sorted(glob.glob(f"{rec}/transactions/*/*/*.parquet"))[0]
dst = src.rsplit("/", 1)[0] + "/old-sensor-0.parquet"
duckdb.sql(f"COPY (SELECT * EXCLUDE (lockout_account) FROM read_parquet('{src}')) TO '{dst}' (FORMAT parquet)")
print(dst)
"#;
    python(OLD, &[path_str(records)], &[]).trim().to_string()
}
