//! Records streamed for a security team: every judged episode (and, when asked, every
//! transaction) is written as it is judged, into a directory partitioned by packet time in
//! the hive layout, so that DuckDB, Spark or Trino read the whole directory as one table.
//!
//! Layout (UTC; an episode goes by its `start_ts`, a transaction by its `ts`):
//!
//! ```text
//! DIR/episodes/date=YYYY-MM-DD/hour=HH/<sensor>-<n>.parquet      (or .ndjson for ECS)
//! DIR/transactions/date=YYYY-MM-DD/hour=HH/<sensor>-<n>.parquet
//! ```
//!
//! - `<sensor>` is the sensor name made safe for a file name (`[A-Za-z0-9._-]` kept, any
//!   other character, and a leading `.`, replaced by `_`); the `sensor` column keeps the
//!   name as given. `<n>` is one more than the highest number a file or temporary file of
//!   that sensor has in the partition (0 for the first): a second run, or a second writer
//!   into the same directory, adds files and never overwrites one. The number is reserved by creating the
//!   temporary file exclusively, so writers that run at the same time do not collide either.
//! - Each file is written as `.<sensor>-<n>.<ext>.tmp` in its partition directory (which
//!   `**/*.parquet` does not match) and renamed into place when its hour closes: when
//!   [`RecordsWriter::advance`] passes the hour's end by more than the grace period, when a
//!   fifth hour opens ([`MAX_OPEN_HOURS`]: the oldest open hour is closed first), at
//!   [`RecordsWriter::finish`], or, as a last resort, when the writer is dropped. A record
//!   for an hour already closed opens a new file in its partition.
//! - Parquet: rows are buffered per open file and written as one row group every
//!   [`ROW_GROUP_ROWS`] rows, when the engine has handed on every episode that started in
//!   the file's hour (the rest of its grace period would only hold them), and when the file
//!   closes, through polars' batched writer. The columns are exactly the export's
//!   `episodes` / `transactions` tables ([`crate::export`], same builders, same types), then
//!   `sensor` (String).
//! - ECS ([`RecordsFormat::Ecs`]): the same partitions with `.ndjson` files, one Elastic
//!   Common Schema document per line, nested objects, absent values left out (see
//!   [`RecordsFormat::Ecs`] for the names). Lines go straight to a buffered file.
//!
//! Memory is bounded: at most [`MAX_OPEN_HOURS`] hours are open, each with at most one file
//! per table, each holding at most [`ROW_GROUP_ROWS`] rows. An error names the file or
//! directory it concerns; a file that failed is dropped (its temporary file removed) and the
//! writer stays usable, the next record of that hour opening a new file.
//!
//! The records hold no secret (the model's records hold none), and nothing is added here.

use crate::export::Row;
use crate::model::{Episode, Outcome, Transaction, Ts};
use anyhow::{bail, Context as _};
use polars::io::parquet::write::BatchedWriter;
use polars::prelude::{Column, DataFrame, ParquetWriter, PolarsResult};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, ErrorKind, Write as _};
use std::path::{Path, PathBuf};

/// Rows per Parquet row group (a file's buffer is written out when it holds this many).
pub const ROW_GROUP_ROWS: usize = 16_384;

/// Hours whose files are open at once; a record for a fifth closes the oldest first.
pub const MAX_OPEN_HOURS: usize = 4;

/// A grace period that covers the latest hand-over of an episode (about 11 minutes after it
/// starts): 15 minutes.
pub const DEFAULT_GRACE_US: i64 = 15 * 60 * 1_000_000;

/// The ECS version the documents follow (`ecs.version`).
pub const ECS_VERSION: &str = "8.11.0";

const HOUR_US: i64 = 3_600_000_000;

/// How many numbers a new file tries before giving up (only reached on a directory that
/// refuses every name).
const MAX_NAME_TRIES: u64 = 100_000;

/// `--records-format`
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum RecordsFormat {
    /// Parquet files with the export's columns and `sensor`.
    Parquet,
    /// NDJSON files of Elastic Common Schema documents: `@timestamp` (RFC 3339 of `start_ts`
    /// / `ts`), `ecs.version`, `event.kind` (`event`), `event.category`
    /// (`["authentication", "network"]`), `event.type` (`["start"]` for an episode,
    /// `["info"]` for a transaction), `event.dataset` (`proxy407.episodes` /
    /// `proxy407.transactions`), `event.outcome` (`success`, `failure`, `unknown`),
    /// `event.reason` (the cause), `event.duration` (nanoseconds), `source.ip`,
    /// `destination.ip`, `destination.port`, `user.name`, `user.domain`, `url.domain`,
    /// `url.original`, `user_agent.original`, `observer.hostname` (the sensor), and every
    /// other field of the record under `proxy407.` with its name in the model.
    Ecs,
}

impl RecordsFormat {
    /// The extension of its files (without the dot).
    pub fn extension(self) -> &'static str {
        match self {
            RecordsFormat::Parquet => "parquet",
            RecordsFormat::Ecs => "ndjson",
        }
    }
}

#[derive(Clone, Debug)]
pub struct RecordsConfig {
    pub dir: PathBuf,
    /// `--sensor NAME`: a column of every record (default: the host name, see `default_sensor()`).
    pub sensor: String,
    pub format: RecordsFormat,
    /// `--records-transactions`: also write transactions.
    pub transactions: bool,
    /// How long after an hour ends (packet time) its files stay open for late records
    /// (episodes are handed over up to about 11 minutes after they start).
    pub grace_us: i64,
}

/// The host name, or `sensor` when there is none.
pub fn default_sensor() -> String {
    let name = gethostname::gethostname();
    let name = name.to_string_lossy();
    let name = name.trim();
    if name.is_empty() {
        "sensor".to_string()
    } else {
        name.to_string()
    }
}

/// What a writer wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecordsSummary {
    /// Every file renamed into place, in the order they were closed.
    pub files: Vec<PathBuf>,
    pub episodes: u64,
    pub transactions: u64,
}

/// Writes records into the partitioned directory of a [`RecordsConfig`] (module docs).
pub struct RecordsWriter {
    cfg: RecordsConfig,
    /// The sensor name as used in file names.
    file_stem: String,
    hours: BTreeMap<i64, Hour>,
    files: Vec<PathBuf>,
    episodes: u64,
    transactions: u64,
}

impl RecordsWriter {
    /// Creates the table directories and checks that a file can be created in each.
    pub fn create(cfg: RecordsConfig) -> anyhow::Result<RecordsWriter> {
        let file_stem = file_stem(&cfg.sensor);
        let mut tables = vec![Episode::TABLE.as_str()];
        if cfg.transactions {
            tables.push(Transaction::TABLE.as_str());
        }
        for table in tables {
            let dir = cfg.dir.join(table);
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create records directory {}", dir.display()))?;
            let probe = dir.join(format!(".{file_stem}-{}.probe.tmp", std::process::id()));
            OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&probe)
                .with_context(|| format!("cannot write in records directory {}", dir.display()))?;
            std::fs::remove_file(&probe)
                .with_context(|| format!("cannot remove {}", probe.display()))?;
        }
        Ok(RecordsWriter {
            cfg,
            file_stem,
            hours: BTreeMap::new(),
            files: Vec::new(),
            episodes: 0,
            transactions: 0,
        })
    }

    /// Writes one judged episode into the partition of its `start_ts`.
    pub fn episode(&mut self, e: &Episode) -> anyhow::Result<()> {
        let room = self.make_room(e.start_ts);
        self.write(e)?;
        self.episodes = self.episodes.saturating_add(1);
        room
    }

    /// Writes one transaction into the partition of its `ts` (nothing unless the config
    /// asks for transactions).
    pub fn transaction(&mut self, t: &Transaction) -> anyhow::Result<()> {
        if !self.cfg.transactions {
            return Ok(());
        }
        let room = self.make_room(t.ts);
        self.write(t)?;
        self.transactions = self.transactions.saturating_add(1);
        room
    }

    /// Packet time reached `now`, and every episode that started before `held_since` has been
    /// handed on (the engine's `held_since`): every hour that ended more than
    /// grace_us before `now` is closed, and the rows buffered for an hour that ended by
    /// `held_since` are written as a row group at once (few records can still come for it;
    /// a quiet hour does not keep a whole hour's rows in memory until its grace passes).
    pub fn advance(&mut self, now: Ts, held_since: Ts) -> anyhow::Result<()> {
        let grace = self.cfg.grace_us.max(0);
        let mut first_err = None;
        while let Some((&hour, _)) = self.hours.first_key_value() {
            let end = hour.saturating_add(1).saturating_mul(HOUR_US);
            if now.micros().saturating_sub(end) <= grace {
                break;
            }
            if let Err(e) = self.close_hour(hour) {
                first_err.get_or_insert(e);
            }
        }
        let done = hour_of(held_since.min(now));
        let sensor = &self.cfg.sensor;
        for (_, h) in self.hours.range_mut(..done) {
            if let Err(e) = h.write_rows(sensor) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Closes every open file (end of run).
    pub fn finish(mut self) -> anyhow::Result<RecordsSummary> {
        let mut first_err = None;
        while let Some((&hour, _)) = self.hours.first_key_value() {
            if let Err(e) = self.close_hour(hour) {
                first_err.get_or_insert(e);
            }
        }
        if let Some(e) = first_err {
            return Err(e);
        }
        Ok(RecordsSummary {
            files: std::mem::take(&mut self.files),
            episodes: self.episodes,
            transactions: self.transactions,
        })
    }

    /// Before a record at `ts`: when its hour is not open and four are, closes the oldest.
    /// (An error here concerns the closed file; the record is written all the same.)
    fn make_room(&mut self, ts: Ts) -> anyhow::Result<()> {
        let hour = hour_of(ts);
        let mut first_err = None;
        if !self.hours.contains_key(&hour) {
            while self.hours.len() >= MAX_OPEN_HOURS {
                let Some((&oldest, _)) = self.hours.first_key_value() else {
                    break;
                };
                if let Err(e) = self.close_hour(oldest) {
                    first_err.get_or_insert(e);
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    fn write<R: Record>(&mut self, r: &R) -> anyhow::Result<()> {
        let hour = hour_of(r.ts());
        let h = self.hours.entry(hour).or_default();
        let slot = R::slot(h);
        let file = match slot {
            Some(f) => f,
            None => {
                let dir = partition_dir(&self.cfg.dir, R::TABLE.as_str(), hour);
                match OpenFile::create(&dir, &self.file_stem, self.cfg.format, &self.cfg.sensor) {
                    Ok(f) => slot.insert(f),
                    Err(e) => {
                        if h.is_empty() {
                            self.hours.remove(&hour);
                        }
                        return Err(e);
                    }
                }
            }
        };
        if let Err(e) = file.push(r, &self.cfg.sensor) {
            let msg = format!("cannot write records file {}", file.path.display());
            if let Some(f) = slot.take() {
                f.discard();
            }
            return Err(e.context(msg));
        }
        Ok(())
    }

    /// Closes the files of `hour` and forgets it.
    fn close_hour(&mut self, hour: i64) -> anyhow::Result<()> {
        let Some(h) = self.hours.remove(&hour) else {
            return Ok(());
        };
        let mut first_err = None;
        if let Some(f) = h.episodes {
            match f.close(&self.cfg.sensor) {
                Ok(p) => self.files.push(p),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        if let Some(f) = h.transactions {
            match f.close(&self.cfg.sensor) {
                Ok(p) => self.files.push(p),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

impl Drop for RecordsWriter {
    /// A writer dropped without [`RecordsWriter::finish`] (a run that ended on an error)
    /// still puts its complete rows into place; errors are ignored here.
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        while let Some((&hour, _)) = self.hours.first_key_value() {
            let _ = self.close_hour(hour);
        }
    }
}

// ---- files ----------------------------------------------------------------------------

/// The open files of one hour.
#[derive(Default)]
struct Hour {
    episodes: Option<OpenFile<Episode>>,
    transactions: Option<OpenFile<Transaction>>,
}

impl Hour {
    fn is_empty(&self) -> bool {
        self.episodes.is_none() && self.transactions.is_none()
    }

    /// Writes the rows buffered in its files (a file that fails is dropped).
    fn write_rows(&mut self, sensor: &str) -> anyhow::Result<()> {
        let mut first_err = None;
        if let Err(e) = write_rows(&mut self.episodes, sensor) {
            first_err.get_or_insert(e);
        }
        if let Err(e) = write_rows(&mut self.transactions, sensor) {
            first_err.get_or_insert(e);
        }
        first_err.map_or(Ok(()), Err)
    }
}

/// Writes the rows buffered in `slot`'s file as a row group; a file that fails is dropped.
fn write_rows<R: Record>(slot: &mut Option<OpenFile<R>>, sensor: &str) -> anyhow::Result<()> {
    let Some(f) = slot else { return Ok(()) };
    let Out::Parquet { writer, rows, .. } = &mut f.out else {
        return Ok(());
    };
    if rows.is_empty() {
        return Ok(());
    }
    let result = write_row_group(writer, rows, sensor);
    // The buffer of a burst is not kept for the rows that trickle in after it.
    *rows = Vec::new();
    if let Err(e) = result {
        let msg = format!("cannot write records file {}", f.path.display());
        if let Some(f) = slot.take() {
            f.discard();
        }
        return Err(e.context(msg));
    }
    Ok(())
}

/// The hour (counted from the epoch) of a packet time.
fn hour_of(ts: Ts) -> i64 {
    ts.micros().div_euclid(HOUR_US)
}

/// A file being written under its temporary name.
struct OpenFile<R> {
    /// Where it goes when it closes.
    path: PathBuf,
    tmp: PathBuf,
    out: Out<R>,
}

enum Out<R> {
    Parquet {
        writer: Box<BatchedWriter<File>>,
        /// The same file, to sync it once the writer has written its footer.
        file: File,
        rows: Vec<R>,
    },
    Ecs(BufWriter<File>),
}

impl<R: Record> OpenFile<R> {
    /// Reserves the next free `<stem>-<n>` in `dir` (created if needed) by creating its
    /// temporary file exclusively.
    fn create(
        dir: &Path,
        stem: &str,
        format: RecordsFormat,
        sensor: &str,
    ) -> anyhow::Result<OpenFile<R>> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create records directory {}", dir.display()))?;
        let ext = format.extension();
        let first = next_number(dir, stem, ext)
            .with_context(|| format!("cannot read records directory {}", dir.display()))?;
        let mut n = first;
        let (path, tmp, file) = loop {
            if n.saturating_sub(first) > MAX_NAME_TRIES {
                bail!(
                    "no free file name for sensor {stem} in records directory {}",
                    dir.display()
                );
            }
            let path = dir.join(format!("{stem}-{n}.{ext}"));
            let tmp = dir.join(format!(".{stem}-{n}.{ext}.tmp"));
            n = n.saturating_add(1);
            if path.symlink_metadata().is_ok() {
                continue;
            }
            match OpenOptions::new().write(true).create_new(true).open(&tmp) {
                Ok(file) => {
                    // A writer that held this temporary name may have renamed it into place
                    // between the check above and the creation.
                    if path.symlink_metadata().is_ok() {
                        drop(file);
                        let _ = std::fs::remove_file(&tmp);
                        continue;
                    }
                    break (path, tmp, file);
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(anyhow::Error::from(e)
                        .context(format!("cannot create records file {}", tmp.display())))
                }
            }
        };
        let out = match format {
            RecordsFormat::Parquet => {
                let opened = file
                    .try_clone()
                    .map_err(anyhow::Error::from)
                    .and_then(|dup| {
                        let schema = frame_with_sensor::<R>(&[], sensor)?;
                        let writer = ParquetWriter::new(dup).batched(schema.schema())?;
                        Ok(Box::new(writer))
                    });
                match opened {
                    Ok(writer) => Out::Parquet {
                        writer,
                        file,
                        rows: Vec::new(),
                    },
                    Err(e) => {
                        drop(file);
                        let _ = std::fs::remove_file(&tmp);
                        return Err(
                            e.context(format!("cannot write records file {}", path.display()))
                        );
                    }
                }
            }
            RecordsFormat::Ecs => Out::Ecs(BufWriter::new(file)),
        };
        Ok(OpenFile { path, tmp, out })
    }

    fn push(&mut self, r: &R, sensor: &str) -> anyhow::Result<()> {
        match &mut self.out {
            Out::Parquet { writer, rows, .. } => {
                rows.push(r.clone());
                if rows.len() >= ROW_GROUP_ROWS {
                    write_row_group(writer, rows, sensor)?;
                }
            }
            Out::Ecs(w) => {
                serde_json::to_writer(&mut *w, &r.ecs(sensor)?)?;
                w.write_all(b"\n")?;
            }
        }
        Ok(())
    }

    /// Writes what is buffered and the footer, syncs, and renames the file into place.
    fn close(self, sensor: &str) -> anyhow::Result<PathBuf> {
        let OpenFile { path, tmp, out } = self;
        let result = (|| -> anyhow::Result<()> {
            match out {
                Out::Parquet {
                    mut writer,
                    file,
                    mut rows,
                } => {
                    write_row_group(&mut writer, &mut rows, sensor)?;
                    writer.finish()?;
                    drop(writer);
                    file.sync_all()?;
                }
                Out::Ecs(mut w) => {
                    w.flush()?;
                    let file = w.into_inner().map_err(|e| e.into_error())?;
                    file.sync_all()?;
                }
            }
            // Only the holder of the temporary name renames to this name (module docs).
            std::fs::rename(&tmp, &path)?;
            Ok(())
        })();
        match result {
            Ok(()) => Ok(path),
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                Err(e.context(format!("cannot write records file {}", path.display())))
            }
        }
    }

    /// Drops a file that failed: its temporary file is removed.
    fn discard(self) {
        let OpenFile { tmp, out, .. } = self;
        drop(out);
        let _ = std::fs::remove_file(&tmp);
    }
}

/// Writes the buffered rows (if any) as one row group.
fn write_row_group<R: Record>(
    writer: &mut BatchedWriter<File>,
    rows: &mut Vec<R>,
    sensor: &str,
) -> anyhow::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut df = frame_with_sensor(rows, sensor)?;
    df.align_chunks();
    writer.write_batch(&df)?;
    rows.clear();
    Ok(())
}

/// The export's table of `rows`, with `sensor` as the last column.
fn frame_with_sensor<R: Record>(rows: &[R], sensor: &str) -> PolarsResult<DataFrame> {
    let mut df = R::frame(rows)?;
    df.with_column(Column::new("sensor".into(), vec![sensor; rows.len()]))?;
    Ok(df)
}

/// The lowest number above every `<stem>-<n>.<ext>` and `.<stem>-<n>.<ext>.tmp` in `dir`.
fn next_number(dir: &Path, stem: &str, ext: &str) -> std::io::Result<u64> {
    let mut next = 0u64;
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(n) = file_number(name, stem, ext) {
            next = next.max(n.saturating_add(1));
        }
    }
    Ok(next)
}

/// `n` of `<stem>-<n>.<ext>` or `.<stem>-<n>.<ext>.tmp`.
fn file_number(name: &str, stem: &str, ext: &str) -> Option<u64> {
    let base = match name.strip_prefix('.') {
        Some(hidden) => hidden.strip_suffix(".tmp")?,
        None => name,
    };
    let digits = base
        .strip_prefix(stem)?
        .strip_prefix('-')?
        .strip_suffix(ext)?
        .strip_suffix('.')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The sensor name for file names: `[A-Za-z0-9._-]` kept, anything else and a leading `.`
/// replaced by `_`, at most 128 characters, `sensor` when empty.
fn file_stem(sensor: &str) -> String {
    let mut s: String = sensor
        .chars()
        .take(128)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.starts_with('.') {
        s.replace_range(..1, "_");
    }
    if s.is_empty() {
        s.push_str("sensor");
    }
    s
}

/// `DIR/<table>/date=YYYY-MM-DD/hour=HH` of an hour counted from the epoch.
fn partition_dir(dir: &Path, table: &str, hour: i64) -> PathBuf {
    let (y, m, d) = civil_from_days(hour.div_euclid(24));
    dir.join(table)
        .join(format!("date={y:04}-{m:02}-{d:02}"))
        .join(format!("hour={:02}", hour.rem_euclid(24)))
}

/// Proleptic Gregorian (year, month, day) of a day counted from 1970-01-01, for any day a
/// [`Ts`] can reach (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

// ---- the two records ------------------------------------------------------------------

/// What the writer needs of a record type, beyond its export table ([`Row`]: the table's
/// name, which is also the directory's, and its columns).
trait Record: Row + serde::Serialize {
    /// The time that picks its partition.
    fn ts(&self) -> Ts;
    /// Its ECS document.
    fn ecs(&self, sensor: &str) -> anyhow::Result<Value>;
    /// Its file in an hour.
    fn slot(h: &mut Hour) -> &mut Option<OpenFile<Self>>;
}

impl Record for Episode {
    fn ts(&self) -> Ts {
        self.start_ts
    }
    fn slot(h: &mut Hour) -> &mut Option<OpenFile<Self>> {
        &mut h.episodes
    }
    fn ecs(&self, sensor: &str) -> anyhow::Result<Value> {
        let mut doc = Doc::new(self.start_ts, "start", "proxy407.episodes", sensor);
        doc.set(
            "event.outcome",
            match self.outcome {
                Outcome::Authenticated => "success",
                Outcome::Failed => "failure",
                Outcome::Unresolved => "unknown",
            },
        );
        if let Some(c) = self.cause {
            doc.set("event.reason", c.as_str());
        }
        doc.set(
            "event.duration",
            self.end_ts.since(self.start_ts).saturating_mul(1000),
        );
        doc.set("source.ip", self.client_ip.to_string());
        doc.set("destination.ip", self.proxy_ip.to_string());
        doc.set("destination.port", self.proxy_port);
        doc.identity(self.user.as_deref(), self.domain.as_deref());
        doc.target(&self.target);
        if let Some(ua) = &self.user_agent {
            doc.set("user_agent.original", ua.as_str());
        }
        // Kept verbatim by an ECS field above; the rest goes under `proxy407.`.
        doc.rest(
            self,
            &[
                "start_ts",
                "client_ip",
                "proxy_ip",
                "proxy_port",
                "target",
                "user",
                "domain",
                "cause",
                "user_agent",
            ],
        )?;
        Ok(doc.into_value())
    }
}

impl Record for Transaction {
    fn ts(&self) -> Ts {
        self.ts
    }
    fn slot(h: &mut Hour) -> &mut Option<OpenFile<Self>> {
        &mut h.transactions
    }
    fn ecs(&self, sensor: &str) -> anyhow::Result<Value> {
        let mut doc = Doc::new(self.ts, "info", "proxy407.transactions", sensor);
        doc.set(
            "event.outcome",
            match self.status {
                Some(407) => "failure",
                Some(_) => "success",
                None => "unknown",
            },
        );
        if let Some(r) = self.response_ts {
            doc.set("event.duration", r.since(self.ts).saturating_mul(1000));
        }
        doc.set("source.ip", self.client_ip.to_string());
        doc.set("destination.ip", self.proxy_ip.to_string());
        doc.set("destination.port", self.proxy_port);
        doc.identity(self.user.as_deref(), self.domain.as_deref());
        doc.target(&self.target);
        if let Some(ua) = &self.user_agent {
            doc.set("user_agent.original", ua.as_str());
        }
        doc.rest(
            self,
            &[
                "ts",
                "client_ip",
                "proxy_ip",
                "proxy_port",
                "target",
                "user",
                "domain",
                "user_agent",
            ],
        )?;
        Ok(doc.into_value())
    }
}

/// An ECS document being built: dotted names become nested objects.
struct Doc(Map<String, Value>);

impl Doc {
    fn new(ts: Ts, event_type: &str, dataset: &str, sensor: &str) -> Doc {
        let mut doc = Doc(Map::new());
        doc.set("@timestamp", ts.rfc3339());
        doc.set("ecs.version", ECS_VERSION);
        doc.set("event.kind", "event");
        doc.set(
            "event.category",
            Value::from(vec!["authentication", "network"]),
        );
        doc.set("event.type", Value::from(vec![event_type]));
        doc.set("event.dataset", dataset);
        doc.set("observer.hostname", sensor);
        doc
    }

    fn set(&mut self, path: &str, v: impl Into<Value>) {
        let mut obj = &mut self.0;
        let mut parts = path.split('.').peekable();
        while let Some(part) = parts.next() {
            if parts.peek().is_none() {
                obj.insert(part.to_string(), v.into());
                return;
            }
            let child = obj
                .entry(part.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !child.is_object() {
                *child = Value::Object(Map::new());
            }
            obj = match child {
                Value::Object(m) => m,
                _ => return,
            };
        }
    }

    fn identity(&mut self, user: Option<&str>, domain: Option<&str>) {
        if let Some(u) = user {
            self.set("user.name", u);
        }
        if let Some(d) = domain {
            self.set("user.domain", d);
        }
    }

    fn target(&mut self, target: &str) {
        if target.is_empty() {
            return;
        }
        if let Some(host) = target_host(target) {
            self.set("url.domain", host);
        }
        self.set("url.original", target);
    }

    /// Every field of `record` not in `mapped` and not absent, under `proxy407.` with its
    /// model name (as the record serializes: times RFC 3339, names snake_case).
    fn rest(&mut self, record: &impl serde::Serialize, mapped: &[&str]) -> anyhow::Result<()> {
        let Value::Object(fields) =
            serde_json::to_value(record).context("serializing a record for ECS")?
        else {
            bail!("a record did not serialize as an object");
        };
        let mut rest = Map::new();
        for (k, v) in fields {
            if !v.is_null() && !mapped.contains(&k.as_str()) {
                rest.insert(k, v);
            }
        }
        self.0.insert("proxy407".to_string(), Value::Object(rest));
        Ok(())
    }

    fn into_value(self) -> Value {
        Value::Object(self.0)
    }
}

/// The host part of a target: `host` of `host:port`, of `[v6]:port` (brackets kept, as ECS
/// asks), of an absolute URL (`http://user@host:8080/x` → `host`); none for an origin-form
/// path.
fn target_host(target: &str) -> Option<&str> {
    let authority = match target.split_once("://") {
        Some((_, rest)) => rest.split(['/', '?', '#']).next().unwrap_or(rest),
        None if target.starts_with('/') || target == "*" => return None,
        None => target,
    };
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let host = if authority.starts_with('[') {
        match authority.find(']') {
            Some(i) => authority.get(..=i).unwrap_or(authority),
            None => authority,
        }
    } else {
        match authority.split_once(':') {
            // A second colon: a bare IPv6 address, no port.
            Some((h, port)) if !port.contains(':') => h,
            _ => authority,
        }
    };
    (!host.is_empty()).then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_stems_are_safe() {
        assert_eq!(file_stem("sensor-01.corp"), "sensor-01.corp");
        assert_eq!(file_stem("dc 1/eth0"), "dc_1_eth0");
        assert_eq!(file_stem("..hidden"), "_.hidden");
        assert_eq!(file_stem("München"), "M_nchen");
        assert_eq!(file_stem(""), "sensor");
        assert_eq!(file_stem(&"x".repeat(300)).len(), 128);
    }

    #[test]
    fn file_numbers_are_read_back() {
        assert_eq!(file_number("s-3.parquet", "s", "parquet"), Some(3));
        assert_eq!(file_number(".s-12.parquet.tmp", "s", "parquet"), Some(12));
        assert_eq!(file_number("s-1-0.parquet", "s", "parquet"), None);
        assert_eq!(file_number("s-1.ndjson", "s", "parquet"), None);
        assert_eq!(file_number(".s-1.parquet", "s", "parquet"), None);
        assert_eq!(file_number("s-.parquet", "s", "parquet"), None);
        assert_eq!(file_number("t-1.parquet", "s", "parquet"), None);
    }

    #[test]
    fn days_become_dates_as_the_calendar_has_them() {
        for days in (-800_000..800_000).step_by(997) {
            let date = time::Date::from_julian_day(2_440_588 + days).unwrap();
            assert_eq!(
                civil_from_days(i64::from(days)),
                (
                    i64::from(date.year()),
                    i64::from(u8::from(date.month())),
                    i64::from(date.day())
                ),
                "day {days}"
            );
        }
        // Any packet time has a partition.
        for us in [i64::MIN, -1, 0, i64::MAX] {
            let p = partition_dir(Path::new("d"), "episodes", hour_of(Ts(us)));
            assert!(p.to_string_lossy().contains("hour="), "{}", p.display());
        }
        assert_eq!(
            partition_dir(Path::new("d"), "episodes", -1),
            Path::new("d/episodes/date=1969-12-31/hour=23")
        );
    }

    #[test]
    fn target_hosts() {
        assert_eq!(target_host("a.example:443"), Some("a.example"));
        assert_eq!(target_host("a.example"), Some("a.example"));
        assert_eq!(target_host("[2001:db8::1]:443"), Some("[2001:db8::1]"));
        assert_eq!(target_host("2001:db8::1"), Some("2001:db8::1"));
        assert_eq!(
            target_host("http://u@Example.com:8080/x?y:z"),
            Some("Example.com")
        );
        assert_eq!(target_host("http://c.example/"), Some("c.example"));
        assert_eq!(target_host("/index.html"), None);
        assert_eq!(target_host(""), None);
    }

    #[test]
    fn dotted_names_nest() {
        let mut d = Doc(Map::new());
        d.set("event.kind", "event");
        d.set("event.outcome", "success");
        d.set("@timestamp", "t");
        assert_eq!(
            d.into_value(),
            serde_json::json!({"event": {"kind": "event", "outcome": "success"}, "@timestamp": "t"})
        );
    }
}
