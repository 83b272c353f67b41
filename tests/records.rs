//! The records written for a security team (`src/records.rs`), on real bytes: every bundled
//! sample is run through the engine, its episodes and transactions are fed to a
//! `RecordsWriter`, and the directory is read back by DuckDB (Parquet, hive partitions) and
//! by serde_json (ECS lines).

use proxy407::model::{Cause, Episode, Outcome, Transaction, Ts};
use proxy407::records::{
    RecordsConfig, RecordsFormat, RecordsSummary, RecordsWriter, DEFAULT_GRACE_US, MAX_OPEN_HOURS,
    ROW_GROUP_ROWS,
};
use proxy407::{Engine, EngineConfig};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const HOUR_US: i64 = 3_600_000_000;

/// Every episode and transaction of the bundled samples.
fn samples() -> &'static (Vec<Episode>, Vec<Transaction>) {
    static RECORDS: OnceLock<(Vec<Episode>, Vec<Transaction>)> = OnceLock::new();
    RECORDS.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .expect("samples directory")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
            .collect();
        files.sort();
        assert!(files.len() >= 20, "samples missing");
        let (mut episodes, mut transactions) = (Vec::new(), Vec::new());
        for f in &files {
            let mut src = proxy407::source::file::open_files(std::slice::from_ref(f))
                .unwrap_or_else(|e| panic!("open {}: {e}", f.display()));
            let engine = Engine::new(EngineConfig::default());
            let out = proxy407::driver::run(src.as_mut(), engine, &mut proxy407::driver::Batch);
            episodes.extend(out.analysis.episodes);
            transactions.extend(out.analysis.transactions);
        }
        let causes: BTreeSet<_> = episodes.iter().filter_map(|e| e.cause).collect();
        assert!(causes.len() >= 5, "the samples give few causes: {causes:?}");
        assert!(transactions.iter().any(|t| t.status == Some(407)));
        (episodes, transactions)
    })
}

fn config(dir: &Path, sensor: &str, format: RecordsFormat, transactions: bool) -> RecordsConfig {
    RecordsConfig {
        dir: dir.to_path_buf(),
        sensor: sensor.to_string(),
        format,
        transactions,
        grace_us: DEFAULT_GRACE_US,
    }
}

/// Writes everything in one go, then finishes.
fn write_all(cfg: RecordsConfig, episodes: &[Episode], txs: &[Transaction]) -> RecordsSummary {
    let mut w = RecordsWriter::create(cfg).expect("writer");
    for e in episodes {
        w.episode(e).expect("episode written");
    }
    for t in txs {
        w.transaction(t).expect("transaction written");
    }
    w.finish().expect("finish")
}

/// Every file under `dir`, relative to it.
fn files_under(dir: &Path) -> BTreeSet<String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd {
            let p = e.expect("entry").path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).expect("under root");
                out.insert(rel.to_string_lossy().into_owned());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out);
    out
}

fn tmp_files(dir: &Path) -> Vec<String> {
    files_under(dir)
        .into_iter()
        .filter(|f| f.ends_with(".tmp"))
        .collect()
}

/// `date=YYYY-MM-DD/hour=HH` of a packet time.
fn partition_of(ts: Ts) -> (String, i64) {
    let t = time::OffsetDateTime::from_unix_timestamp(ts.secs()).expect("a time of this era");
    (
        format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day()),
        i64::from(t.hour()),
    )
}

fn shifted(e: &Episode, hours: i64) -> Episode {
    Episode {
        start_ts: e.start_ts.plus_micros(hours * HOUR_US),
        end_ts: e.end_ts.plus_micros(hours * HOUR_US),
        ..e.clone()
    }
}

// ---- DuckDB ---------------------------------------------------------------------------

fn has_duckdb() -> bool {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import duckdb"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but the python duckdb package is missing (pip install duckdb)"
        );
        println!("note: python3 duckdb not installed; skipping the DuckDB check");
    }
    ok
}

/// Runs a python script with `dir` as its argument and parses what it prints as JSON.
fn python_json(script: &str, dir: &Path) -> Value {
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(dir)
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

const DUCKDB_PARQUET: &str = r#"
import sys, json, duckdb
d = sys.argv[1]
con = duckdb.connect()
def q(sql):
    return con.execute(sql).fetchall()
out = {}
for t, ts in (("episodes", "start_ts"), ("transactions", "ts")):
    src = f"read_parquet('{d}/{t}/**/*.parquet', hive_partitioning = true)"
    out[t] = {
        "count": q(f"select count(*) from {src}")[0][0],
        "types": [[r[0], r[1]] for r in q(f"describe select * from {src}")],
        "sensors": sorted(r[0] for r in q(f"select distinct sensor from {src}")),
        "partitions": sorted([r[0], r[1], r[2]] for r in q(
            f"select epoch_us({ts}), cast(date as varchar), cast(hour as bigint) from {src}")),
    }
out["causes"] = {r[0]: r[1] for r in q(
    f"SELECT coalesce(cause, '-'), count(*) FROM read_parquet('{d}/episodes/**/*.parquet', hive_partitioning = true) GROUP BY cause")}
out["statuses"] = {r[0]: r[1] for r in q(
    f"select coalesce(cast(status as varchar), '-'), count(*) from read_parquet('{d}/transactions/**/*.parquet') group by 1")}
print(json.dumps(out))
"#;

fn counts(keys: impl IntoIterator<Item = String>) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for k in keys {
        *m.entry(k).or_insert(0) += 1;
    }
    m
}

fn json_counts(v: &Value) -> BTreeMap<String, u64> {
    v.as_object()
        .expect("an object of counts")
        .iter()
        .map(|(k, n)| (k.clone(), n.as_u64().expect("a count")))
        .collect()
}

fn types(v: &Value) -> Vec<(String, String)> {
    v.as_array()
        .expect("describe rows")
        .iter()
        .map(|r| {
            (
                r[0].as_str().expect("name").to_string(),
                r[1].as_str().expect("type").to_string(),
            )
        })
        .collect()
}

fn partitions(v: &Value) -> Vec<(i64, String, i64)> {
    v.as_array()
        .expect("partition rows")
        .iter()
        .map(|r| {
            (
                r[0].as_i64().expect("µs"),
                r[1].as_str().expect("date").to_string(),
                r[2].as_i64().expect("hour"),
            )
        })
        .collect()
}

fn expected_partitions(times: impl IntoIterator<Item = Ts>) -> Vec<(i64, String, i64)> {
    let mut v: Vec<_> = times
        .into_iter()
        .map(|t| {
            let (d, h) = partition_of(t);
            (t.micros(), d, h)
        })
        .collect();
    v.sort();
    v
}

#[test]
fn duckdb_reads_the_partitioned_parquet_records() {
    let (episodes, txs) = samples();
    let dir = tempfile::tempdir().unwrap();
    let sensor = "edge sensor/1";
    let summary = write_all(
        config(dir.path(), sensor, RecordsFormat::Parquet, true),
        episodes,
        txs,
    );
    assert_eq!(summary.episodes, episodes.len() as u64);
    assert_eq!(summary.transactions, txs.len() as u64);
    assert!(tmp_files(dir.path()).is_empty());
    let on_disk = files_under(dir.path());
    let listed: BTreeSet<String> = summary
        .files
        .iter()
        .map(|p| {
            p.strip_prefix(dir.path())
                .expect("under the directory")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(listed, on_disk, "the summary lists every file written");
    for f in &on_disk {
        let name = f.rsplit('/').next().expect("a name");
        assert!(
            name.starts_with("edge_sensor_1-") && name.ends_with(".parquet"),
            "{f}"
        );
        assert!(
            f.starts_with("episodes/date=") || f.starts_with("transactions/date="),
            "{f}"
        );
    }
    if !has_duckdb() {
        return;
    }
    let got = python_json(DUCKDB_PARQUET, dir.path());

    // Counts.
    assert_eq!(got["episodes"]["count"], episodes.len() as u64);
    assert_eq!(got["transactions"]["count"], txs.len() as u64);
    let want_causes = counts(
        episodes
            .iter()
            .map(|e| e.cause.map_or("-", Cause::as_str).to_string()),
    );
    assert_eq!(json_counts(&got["causes"]), want_causes);
    let want_status = counts(
        txs.iter()
            .map(|t| t.status.map_or("-".to_string(), |s| s.to_string())),
    );
    assert_eq!(json_counts(&got["statuses"]), want_status);

    // The sensor column keeps the name as given.
    assert_eq!(got["episodes"]["sensors"], serde_json::json!([sensor]));
    assert_eq!(got["transactions"]["sensors"], serde_json::json!([sensor]));

    // Partitions: each record in the hour of its start (episodes) or its time (transactions).
    assert_eq!(
        partitions(&got["episodes"]["partitions"]),
        expected_partitions(episodes.iter().map(|e| e.start_ts))
    );
    assert_eq!(
        partitions(&got["transactions"]["partitions"]),
        expected_partitions(txs.iter().map(|t| t.ts))
    );

    // Columns: the export's, in order, then sensor, then the hive keys.
    let tables = proxy407::export::build_tables(episodes, txs).expect("tables");
    for (table, frame) in [
        ("episodes", &tables.episodes),
        ("transactions", &tables.transactions),
    ] {
        let t = types(&got[table]["types"]);
        let names: Vec<&str> = t.iter().map(|(n, _)| n.as_str()).collect();
        let mut want: Vec<&str> = frame
            .get_column_names()
            .into_iter()
            .map(|n| n.as_str())
            .collect();
        want.extend(["sensor", "date", "hour"]);
        assert_eq!(names, want, "{table} columns");
    }
    let ep: BTreeMap<_, _> = types(&got["episodes"]["types"]).into_iter().collect();
    for (col, ty) in [
        ("episode_id", "UBIGINT"),
        ("start_ts", "TIMESTAMP WITH TIME ZONE"),
        ("end_ts", "TIMESTAMP WITH TIME ZONE"),
        ("client_ip", "VARCHAR"),
        ("proxy_port", "UINTEGER"),
        ("challenges", "UINTEGER"),
        ("offered_schemes", "VARCHAR[]"),
        ("findings", "VARCHAR[]"),
        ("cause", "VARCHAR"),
        ("time_to_auth_ms", "DOUBLE"),
        ("sensor", "VARCHAR"),
    ] {
        assert_eq!(ep[col], ty, "episodes.{col}");
    }
    let tx: BTreeMap<_, _> = types(&got["transactions"]["types"]).into_iter().collect();
    for (col, ty) in [
        ("ts", "TIMESTAMP WITH TIME ZONE"),
        ("response_ts", "TIMESTAMP WITH TIME ZONE"),
        ("conn_id", "UBIGINT"),
        ("community_id", "VARCHAR"),
        ("status", "UINTEGER"),
        ("offered_schemes", "VARCHAR[]"),
        ("episode_id", "UBIGINT"),
        ("lockout_account", "VARCHAR"),
        ("sensor", "VARCHAR"),
    ] {
        assert_eq!(tx[col], ty, "transactions.{col}");
    }
}

// ---- hours ----------------------------------------------------------------------------

const DUCKDB_COUNT: &str = r#"
import sys, json, duckdb
d = sys.argv[1]
con = duckdb.connect()
src = f"read_parquet('{d}/episodes/**/*.parquet', hive_partitioning = true, filename = true)"
rows = con.execute(f"select filename, count(*) from {src} group by 1").fetchall()
print(json.dumps({"count": sum(r[1] for r in rows), "files": {r[0]: r[1] for r in rows}}))
"#;

#[test]
fn hours_become_partitions_and_close_as_packet_time_passes() {
    let (episodes, _) = samples();
    let dir = tempfile::tempdir().unwrap();
    // Six copies of the samples' episodes, one hour apart, fed in time order.
    let mut fed: Vec<Episode> = (0..6)
        .flat_map(|h| episodes.iter().map(move |e| shifted(e, h)))
        .collect();
    fed.sort_by_key(|e| e.start_ts);
    let mut w =
        RecordsWriter::create(config(dir.path(), "s1", RecordsFormat::Parquet, false)).unwrap();
    let mut most_open = 0;
    for e in &fed {
        w.advance(e.start_ts, Ts::ZERO).unwrap();
        w.episode(e).unwrap();
        let open = tmp_files(dir.path()).len();
        most_open = most_open.max(open);
    }
    // Each hour stayed open for its grace period, no longer.
    assert!(most_open <= 2, "{most_open} files open at once");
    let last = fed.last().expect("episodes").start_ts;
    let last_hour = last.micros().div_euclid(HOUR_US);
    // Past the last hour's end and its grace: everything is closed.
    w.advance(
        Ts((last_hour + 1) * HOUR_US + DEFAULT_GRACE_US + 1),
        Ts::ZERO,
    )
    .unwrap();
    assert!(tmp_files(dir.path()).is_empty(), "every hour closed");
    let closed = files_under(dir.path());

    // A late record for a closed hour: a new file beside the first, which stays as it was.
    let late = &fed[0];
    let (date, hour) = partition_of(late.start_ts);
    let part = format!("episodes/date={date}/hour={hour:02}");
    let first_file = dir.path().join(&part).join("s1-0.parquet");
    let before = std::fs::read(&first_file).expect("the hour's file");
    w.episode(late).unwrap();
    let summary = w.finish().unwrap();
    assert_eq!(summary.episodes, fed.len() as u64 + 1);
    assert_eq!(std::fs::read(&first_file).unwrap(), before);
    let after = files_under(dir.path());
    let added: Vec<&String> = after.difference(&closed).collect();
    assert_eq!(added, vec![&format!("{part}/s1-1.parquet")]);

    // One partition per hour fed.
    let hours: BTreeSet<(String, i64)> = fed.iter().map(|e| partition_of(e.start_ts)).collect();
    let dirs: BTreeSet<String> = after
        .iter()
        .map(|f| f.rsplit_once('/').expect("a directory").0.to_string())
        .collect();
    let want: BTreeSet<String> = hours
        .iter()
        .map(|(d, h)| format!("episodes/date={d}/hour={h:02}"))
        .collect();
    assert_eq!(dirs, want);
    assert!(hours.len() >= 6);

    // A second writer into the same directory (the same sensor, then another) only adds.
    let sums: BTreeMap<String, Vec<u8>> = after
        .iter()
        .map(|f| (f.clone(), std::fs::read(dir.path().join(f)).unwrap()))
        .collect();
    write_all(
        config(dir.path(), "s1", RecordsFormat::Parquet, false),
        &fed,
        &[],
    );
    write_all(
        config(dir.path(), "s2", RecordsFormat::Parquet, false),
        &fed,
        &[],
    );
    let third = files_under(dir.path());
    for (f, bytes) in &sums {
        assert_eq!(&std::fs::read(dir.path().join(f)).unwrap(), bytes, "{f}");
    }
    assert!(third.contains(&format!("{part}/s1-2.parquet")), "{third:?}");
    assert!(third.contains(&format!("{part}/s2-0.parquet")), "{third:?}");
    assert_eq!(third.len(), after.len() + 2 * hours.len());
    assert!(tmp_files(dir.path()).is_empty());

    if !has_duckdb() {
        return;
    }
    let got = python_json(DUCKDB_COUNT, dir.path());
    assert_eq!(got["count"], 3 * fed.len() as u64 + 1);
    assert_eq!(got["files"].as_object().unwrap().len(), third.len());
}

#[test]
fn an_hour_the_engine_holds_nothing_of_is_written_before_its_grace_passes() {
    let (episodes, _) = samples();
    let dir = tempfile::tempdir().unwrap();
    let hour = episodes[0].start_ts.micros().div_euclid(HOUR_US);
    let fed: Vec<&Episode> = episodes
        .iter()
        .filter(|e| e.start_ts.micros().div_euclid(HOUR_US) == hour)
        .collect();
    assert!(fed.len() >= 10, "{} episodes in the first hour", fed.len());
    let (start, end) = (Ts(hour * HOUR_US), Ts((hour + 1) * HOUR_US));
    let mut w =
        RecordsWriter::create(config(dir.path(), "s1", RecordsFormat::Parquet, false)).unwrap();
    for e in &fed[1..] {
        w.episode(e).unwrap();
    }
    let tmp = || {
        let t = tmp_files(dir.path());
        assert_eq!(t.len(), 1, "{t:?}");
        std::fs::metadata(dir.path().join(&t[0])).unwrap().len()
    };
    let buffered = tmp();
    // Past the hour's end, within its grace: while the engine still holds an episode that
    // started in it, the rows stay buffered.
    let now = end.plus_micros(60_000_000);
    w.advance(now, start).unwrap();
    assert_eq!(tmp(), buffered);
    // Once it holds none, they are written as a row group; the file stays open.
    w.advance(now, end).unwrap();
    let written = tmp();
    assert!(written > buffered, "{written} bytes, {buffered} before");
    w.advance(now, end).unwrap();
    assert_eq!(tmp(), written, "nothing more to write");
    // A record that comes late still goes into the same file.
    w.episode(fed[0]).unwrap();
    let summary = w.finish().unwrap();
    assert_eq!(summary.files.len(), 1);
    assert_eq!(summary.episodes, fed.len() as u64);
    if !has_duckdb() {
        return;
    }
    let got = python_json(DUCKDB_COUNT, dir.path());
    assert_eq!(got["count"], fed.len() as u64);
}

#[test]
fn at_most_four_hours_are_open() {
    let (episodes, _) = samples();
    let dir = tempfile::tempdir().unwrap();
    let e = &episodes[0];
    let mut w =
        RecordsWriter::create(config(dir.path(), "s", RecordsFormat::Parquet, false)).unwrap();
    // Ten hours, never advanced: the oldest is closed when a fifth opens.
    for h in 0..10 {
        w.episode(&shifted(e, h)).unwrap();
        let open = tmp_files(dir.path()).len();
        assert_eq!(open, (h as usize + 1).min(MAX_OPEN_HOURS), "after hour {h}");
        let done = files_under(dir.path()).len() - open;
        assert_eq!(done, (h as usize + 1).saturating_sub(MAX_OPEN_HOURS));
    }
    // An hour that was closed for room opens again as a new file.
    w.episode(e).unwrap();
    let summary = w.finish().unwrap();
    assert_eq!(summary.files.len(), 11);
    assert_eq!(summary.episodes, 11);
    let (date, hour) = partition_of(e.start_ts);
    let part = dir
        .path()
        .join(format!("episodes/date={date}/hour={hour:02}"));
    assert!(part.join("s-0.parquet").is_file());
    assert!(part.join("s-1.parquet").is_file());
}

const DUCKDB_ROW_GROUPS: &str = r#"
import sys, json, duckdb
d = sys.argv[1]
con = duckdb.connect()
rows = con.execute(f"select row_group_id, any_value(row_group_num_rows) from parquet_metadata('{d}/episodes/**/*.parquet') group by 1 order by 1").fetchall()
n = con.execute(f"select count(*), count(distinct episode_id) from read_parquet('{d}/episodes/**/*.parquet')").fetchone()
print(json.dumps({"row_groups": [r[1] for r in rows], "count": n[0], "ids": n[1]}))
"#;

#[test]
fn rows_are_written_in_row_groups_of_16384() {
    let (episodes, _) = samples();
    let dir = tempfile::tempdir().unwrap();
    let n = 2 * ROW_GROUP_ROWS + 100;
    let base = &episodes[0];
    let mut w =
        RecordsWriter::create(config(dir.path(), "s", RecordsFormat::Parquet, false)).unwrap();
    for i in 0..n {
        let e = Episode {
            episode_id: i as u64,
            ..base.clone()
        };
        w.episode(&e).unwrap();
    }
    let summary = w.finish().unwrap();
    assert_eq!(summary.files.len(), 1);
    if !has_duckdb() {
        return;
    }
    let got = python_json(DUCKDB_ROW_GROUPS, dir.path());
    assert_eq!(
        got["row_groups"],
        serde_json::json!([ROW_GROUP_ROWS, ROW_GROUP_ROWS, 100])
    );
    assert_eq!(got["count"], n as u64);
    assert_eq!(got["ids"], n as u64);
}

// ---- ECS ------------------------------------------------------------------------------

fn ndjson_lines(dir: &Path, table: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for f in files_under(&dir.join(table)) {
        assert!(f.ends_with(".ndjson"), "{f}");
        let text = std::fs::read_to_string(dir.join(table).join(&f)).unwrap();
        for (i, line) in text.lines().enumerate() {
            let v: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{f}:{}: {e}", i + 1));
            assert!(v.is_object(), "{f}:{}", i + 1);
            out.push(v);
        }
    }
    out
}

/// No null, and no dotted key (ECS names are nested objects).
fn check_shape(v: &Value, path: &str) {
    match v {
        Value::Null => panic!("null at {path}"),
        Value::Object(m) => {
            for (k, x) in m {
                assert!(!k.contains('.'), "dotted key {path}.{k}");
                check_shape(x, &format!("{path}.{k}"));
            }
        }
        Value::Array(a) => a.iter().for_each(|x| check_shape(x, path)),
        _ => {}
    }
}

fn get<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |v, k| v.get(k))
}

fn str_at<'a>(v: &'a Value, path: &str) -> &'a str {
    get(v, path)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{path} is not a string in {v}"))
}

/// The record a document stands for, as the record serializes without its nulls: the ECS
/// fields mapped back to the model's names, and `proxy407.*` as they are.
fn back_to_record(doc: &Value, mapped: &[(&str, &str)]) -> Value {
    let mut m: Map<String, Value> = get(doc, "proxy407")
        .and_then(Value::as_object)
        .expect("a proxy407 object")
        .clone();
    for (ecs, field) in mapped {
        if let Some(v) = get(doc, ecs) {
            m.insert(field.to_string(), v.clone());
        }
    }
    Value::Object(m)
}

fn without_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.into_iter().filter(|(_, x)| !x.is_null()).collect()),
        v => v,
    }
}

fn sorted_json(v: impl IntoIterator<Item = Value>) -> Vec<String> {
    let mut s: Vec<String> = v.into_iter().map(|x| x.to_string()).collect();
    s.sort();
    s
}

const DUCKDB_NDJSON: &str = r#"
import sys, json, duckdb
d = sys.argv[1]
con = duckdb.connect()
out = {}
for t in ("episodes", "transactions"):
    out[t] = con.execute(f"select count(*) from read_json_auto('{d}/{t}/**/*.ndjson', hive_partitioning = true)").fetchone()[0]
print(json.dumps(out))
"#;

#[test]
fn ecs_lines_have_the_elastic_names_and_types() {
    let (episodes, txs) = samples();
    let dir = tempfile::tempdir().unwrap();
    let sensor = "edge-1";
    let summary = write_all(
        config(dir.path(), sensor, RecordsFormat::Ecs, true),
        episodes,
        txs,
    );
    assert!(tmp_files(dir.path()).is_empty());
    assert!(summary
        .files
        .iter()
        .all(|f| f.extension().is_some_and(|x| x == "ndjson")));
    let ep_docs = ndjson_lines(dir.path(), "episodes");
    let tx_docs = ndjson_lines(dir.path(), "transactions");
    assert_eq!(ep_docs.len(), episodes.len());
    assert_eq!(tx_docs.len(), txs.len());

    for (doc, dataset) in ep_docs
        .iter()
        .map(|d| (d, "proxy407.episodes"))
        .chain(tx_docs.iter().map(|d| (d, "proxy407.transactions")))
    {
        check_shape(doc, "");
        assert!(
            Ts::parse_rfc3339(str_at(doc, "@timestamp")).is_some(),
            "{doc}"
        );
        assert_eq!(str_at(doc, "event.kind"), "event");
        assert_eq!(
            get(doc, "event.category"),
            Some(&serde_json::json!(["authentication", "network"]))
        );
        let types = get(doc, "event.type").and_then(Value::as_array).unwrap();
        assert!(
            !types.is_empty() && types.iter().all(Value::is_string),
            "{doc}"
        );
        assert_eq!(str_at(doc, "event.dataset"), dataset);
        assert!(["success", "failure", "unknown"].contains(&str_at(doc, "event.outcome")));
        assert!(str_at(doc, "source.ip").parse::<std::net::IpAddr>().is_ok());
        assert!(str_at(doc, "destination.ip")
            .parse::<std::net::IpAddr>()
            .is_ok());
        assert!(
            get(doc, "destination.port").is_some_and(Value::is_u64),
            "{doc}"
        );
        assert_eq!(str_at(doc, "observer.hostname"), sensor);
        assert!(get(doc, "ecs.version").is_some_and(Value::is_string));
        for s in [
            "user.name",
            "user.domain",
            "url.domain",
            "url.original",
            "user_agent.original",
            "event.reason",
        ] {
            assert!(get(doc, s).is_none_or(Value::is_string), "{s} in {doc}");
        }
        if let Some(d) = get(doc, "url.domain").and_then(Value::as_str) {
            assert!(str_at(doc, "url.original").contains(d), "{doc}");
            assert!(!d.contains('/') && !d.contains('@'), "{doc}");
        }
        assert!(
            get(doc, "event.duration").is_none_or(Value::is_i64),
            "{doc}"
        );
    }
    for doc in &ep_docs {
        assert!(get(doc, "proxy407.episode_id").is_some_and(Value::is_u64));
        assert!(get(doc, "proxy407.findings").is_some_and(Value::is_array));
        // The evidence: the file, the frames that start its heads, the display filter.
        assert!(get(doc, "proxy407.capture_file").is_some_and(Value::is_string));
        assert!(get(doc, "proxy407.frames").is_some_and(Value::is_array));
        assert!(get(doc, "proxy407.frame_count").is_some_and(Value::is_u64));
        assert!(
            str_at(doc, "proxy407.display_filter").contains("ip.addr =="),
            "{doc}"
        );
        assert!(get(doc, "event.duration").is_some_and(Value::is_i64));
        assert_eq!(get(doc, "event.type"), Some(&serde_json::json!(["start"])));
    }
    for doc in &tx_docs {
        assert!(get(doc, "proxy407.community_id").is_some_and(Value::is_string));
        assert!(get(doc, "proxy407.conn_id").is_some_and(Value::is_u64));
        let frames = get(doc, "proxy407.frames").and_then(Value::as_array);
        assert!(frames.is_some_and(|f| !f.is_empty()), "{doc}");
    }

    // Outcomes and causes, counted as the records have them.
    let outcome = |o: Outcome| match o {
        Outcome::Authenticated => "success",
        Outcome::Failed => "failure",
        Outcome::Unresolved => "unknown",
    };
    assert_eq!(
        counts(ep_docs.iter().map(|d| str_at(d, "event.outcome").into())),
        counts(episodes.iter().map(|e| outcome(e.outcome).into()))
    );
    assert_eq!(
        counts(
            ep_docs
                .iter()
                .filter_map(|d| get(d, "event.reason").and_then(Value::as_str))
                .map(String::from)
        ),
        counts(
            episodes
                .iter()
                .filter_map(|e| e.cause)
                .map(|c| c.as_str().into())
        )
    );
    let tx_outcome = |t: &Transaction| match t.status {
        None => "unknown",
        Some(407) => "failure",
        Some(_) => "success",
    };
    assert_eq!(
        counts(tx_docs.iter().map(|d| str_at(d, "event.outcome").into())),
        counts(txs.iter().map(|t| tx_outcome(t).into()))
    );
    assert!(ep_docs
        .iter()
        .any(|d| str_at(d, "event.outcome") == "failure"));
    assert!(ep_docs
        .iter()
        .any(|d| str_at(d, "event.outcome") == "success"));

    // Every field of every record is in its document: mapped back, they are the records.
    let ep_mapped = [
        ("@timestamp", "start_ts"),
        ("source.ip", "client_ip"),
        ("destination.ip", "proxy_ip"),
        ("destination.port", "proxy_port"),
        ("url.original", "target"),
        ("user.name", "user"),
        ("user.domain", "domain"),
        ("event.reason", "cause"),
        ("user_agent.original", "user_agent"),
    ];
    assert_eq!(
        sorted_json(ep_docs.iter().map(|d| back_to_record(d, &ep_mapped))),
        sorted_json(episodes.iter().map(|e| {
            let mut v = without_nulls(serde_json::to_value(e).unwrap());
            // An empty target (an unreachable proxy) is left out.
            if v["target"] == "" {
                v.as_object_mut().unwrap().remove("target");
            }
            v
        }))
    );
    let tx_mapped = [
        ("@timestamp", "ts"),
        ("source.ip", "client_ip"),
        ("destination.ip", "proxy_ip"),
        ("destination.port", "proxy_port"),
        ("url.original", "target"),
        ("user.name", "user"),
        ("user.domain", "domain"),
        ("user_agent.original", "user_agent"),
    ];
    assert_eq!(
        sorted_json(tx_docs.iter().map(|d| back_to_record(d, &tx_mapped))),
        sorted_json(txs.iter().map(|t| {
            let mut v = without_nulls(serde_json::to_value(t).unwrap());
            if v["target"] == "" {
                v.as_object_mut().unwrap().remove("target");
            }
            v
        }))
    );

    if !has_duckdb() {
        return;
    }
    let got = python_json(DUCKDB_NDJSON, dir.path());
    assert_eq!(got["episodes"], episodes.len() as u64);
    assert_eq!(got["transactions"], txs.len() as u64);
}

#[test]
fn transactions_are_written_only_when_asked() {
    let (episodes, txs) = samples();
    let dir = tempfile::tempdir().unwrap();
    let summary = write_all(
        config(dir.path(), "s", RecordsFormat::Parquet, false),
        episodes,
        txs,
    );
    assert_eq!(summary.transactions, 0);
    assert!(!dir.path().join("transactions").exists());
    assert!(files_under(dir.path())
        .iter()
        .all(|f| f.starts_with("episodes/")));
}

// ---- errors ---------------------------------------------------------------------------

#[test]
fn an_unwritable_directory_is_an_error_that_names_it() {
    let (episodes, _) = samples();
    let tmp = tempfile::tempdir().unwrap();
    // Under a plain file: no directory can be made there, whoever runs the test.
    let file = tmp.path().join("plain-file");
    std::fs::write(&file, b"x").unwrap();
    let dir = file.join("records");
    let err = RecordsWriter::create(config(&dir, "s", RecordsFormat::Parquet, false))
        .err()
        .expect("an error");
    let msg = format!("{err:#}");
    assert!(msg.contains(&dir.display().to_string()), "{msg}");

    // A read-only directory (root may write anyway; then there is nothing to check).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let ro = tmp.path().join("read-only");
        std::fs::create_dir(&ro).unwrap();
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
        if std::fs::write(ro.join("probe"), b"").is_err() {
            let err = RecordsWriter::create(config(&ro, "s", RecordsFormat::Ecs, true))
                .err()
                .expect("an error");
            let msg = format!("{err:#}");
            assert!(msg.contains(&ro.display().to_string()), "{msg}");
        }
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    // A partition that cannot be made during a run: the error names it, the writer goes on.
    let dir = tmp.path().join("records");
    let mut w = RecordsWriter::create(config(&dir, "s", RecordsFormat::Parquet, false)).unwrap();
    let e = &episodes[0];
    let (date, hour) = partition_of(e.start_ts);
    let date_dir = dir.join("episodes").join(format!("date={date}"));
    std::fs::write(&date_dir, b"in the way").unwrap();
    let err = w.episode(e).expect_err("an error");
    let msg = format!("{err:#}");
    assert!(
        msg.contains(
            &date_dir
                .join(format!("hour={hour:02}"))
                .display()
                .to_string()
        ),
        "{msg}"
    );
    std::fs::remove_file(&date_dir).unwrap();
    w.episode(e).unwrap();
    let summary = w.finish().unwrap();
    assert_eq!(summary.episodes, 1);
    assert_eq!(summary.files.len(), 1);
}

#[test]
fn default_sensor_is_a_name() {
    let s = proxy407::records::default_sensor();
    assert!(!s.is_empty());
    assert_eq!(s, s.trim());
}

#[test]
fn a_writer_can_move_to_the_engine_thread() {
    fn send<T: Send>() {}
    send::<RecordsWriter>();
}

// ---- the commands ---------------------------------------------------------------------

const DUCKDB_COUNTS: &str = r#"
import sys, json, duckdb
d = sys.argv[1]
con = duckdb.connect()
src = f"read_parquet('{d}/episodes/**/*.parquet', hive_partitioning = true)"
out = {
    "total": con.execute(f"select count(*) from {src}").fetchall()[0][0],
    "causes": {r[0]: r[1] for r in con.execute(
        f"select cause, count(*) from {src} where outcome = 'failed' group by cause").fetchall()},
    "outcomes": {r[0]: r[1] for r in con.execute(
        f"select outcome, count(*) from {src} group by outcome").fetchall()},
}
print(json.dumps(out))
"#;

/// `analyze --records` over every sample at once: DuckDB counts over the directory what the
/// summary printed by the same run counts.
#[test]
fn analyze_records_are_what_analyze_counts() {
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("records");
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_proxy407"))
        .args([
            "analyze",
            "--json",
            "--quiet",
            "--records-transactions",
            "--sensor",
            "site-a",
        ])
        .arg("--records")
        .arg(&rec)
        .arg(&samples)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(tmp_files(&rec).is_empty());
    assert!(!files_under(&rec.join("transactions")).is_empty());
    if !has_duckdb() {
        return;
    }
    let v = python_json(DUCKDB_COUNTS, &rec);
    assert_eq!(v["total"], summary["episodes"]["total"]);
    for o in ["authenticated", "failed", "unresolved"] {
        assert_eq!(
            v["outcomes"][o].as_u64().unwrap_or(0),
            summary["episodes"][o].as_u64().unwrap(),
            "{o}"
        );
    }
    for (cause, n) in summary["causes"].as_object().unwrap() {
        assert_eq!(
            v["causes"][cause].as_u64().unwrap_or(0),
            n.as_u64().unwrap(),
            "{cause}"
        );
    }
}

/// The headless dashboard writes the same records, here as ECS documents.
#[test]
fn headless_dashboard_records_ecs() {
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("ecs");
    let pcap = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/office-mix.pcap");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_proxy407"))
        .args([
            "dashboard",
            "--headless",
            "--max-speed",
            "--records-format",
            "ecs",
        ])
        .arg("--records")
        .arg(&rec)
        .arg(&pcap)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs = ndjson_lines(&rec, "episodes");
    let a = std::process::Command::new(env!("CARGO_BIN_EXE_proxy407"))
        .args(["analyze", "--json", "--quiet"])
        .arg(&pcap)
        .output()
        .unwrap();
    let summary: Value = serde_json::from_slice(&a.stdout).unwrap();
    assert_eq!(
        Some(docs.len() as u64),
        summary["episodes"]["total"].as_u64()
    );
    let failures = docs
        .iter()
        .filter(|d| d["event"]["outcome"] == "failure")
        .count() as u64;
    assert_eq!(Some(failures), summary["episodes"]["failed"].as_u64());
}
