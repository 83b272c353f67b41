//! The dashboard's state and its key handling, free of any terminal: what is shown
//! ([`View`], [`Focus`], the selected table, sort, filter, pause), the aggregated numbers
//! (one [`Stats`] fed with the episodes as they become final) and a bounded [`Store`] of the
//! latest episodes and failures for the drill-down (`--keep-episodes`), with the
//! transactions of recent episodes for their ladders ([`App::ladder`], Enter in the
//! drill-down; bounded per episode and in number): the dashboard's memory does not grow
//! with the episodes it has seen.
//!
//! Nothing here is cloned per frame: the engine sends deltas that [`App::on_engine`] adds;
//! only the visible table is built and sorted, by [`App::refresh_view`], when its data,
//! sort or filter changed. Side effects (export, pausing the engine, quitting) are returned
//! as an [`Action`] for the runner to carry out, so every key can be tested without a
//! terminal.

use super::event::{EngineMsg, Progress};
use crate::i18n::Lang;
use crate::metrics::{Metrics, SensorCounters};
use crate::model::{Cause, Episode, Finding, Notice, Outcome, Transaction, Ts};
use crate::pseudonym::{pseudonymize, Pseudonymizer};
use crate::stats::{key_of, KeyRow, Stats, Table};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::collections::{BTreeMap, VecDeque};

/// Failed episodes kept for the "recent failures" panel, at most.
pub const RECENT_MAX: usize = 500;
/// Episodes kept for the drill-down by default (`--keep-episodes`).
pub const KEEP_EPISODES: usize = 10_000;

/// Where the input comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceKind {
    /// Capture files replayed in packet time.
    Replay,
    /// A live interface.
    Live,
}

/// The columns of the per-key tables; each can be the sort column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortCol {
    Key,
    Episodes,
    Authenticated,
    Failed,
    Unresolved,
    TopCause,
    P50,
    LastSeen,
}

impl SortCol {
    pub const ALL: [SortCol; 8] = [
        SortCol::Key,
        SortCol::Episodes,
        SortCol::Authenticated,
        SortCol::Failed,
        SortCol::Unresolved,
        SortCol::TopCause,
        SortCol::P50,
        SortCol::LastSeen,
    ];

    /// The column heading in a language (the key column is named after the table).
    pub(crate) fn title_in(self, lang: Lang, table: Table) -> &'static str {
        let id = match self {
            SortCol::Key => crate::report::key_column_id(table),
            SortCol::Episodes => "col-episodes",
            SortCol::Authenticated => "col-auth",
            SortCol::Failed => "col-failed",
            SortCol::Unresolved => "col-unresolved",
            SortCol::TopCause => "tui-col-top-cause",
            SortCol::P50 => "tui-col-p50",
            SortCol::LastSeen => "tui-col-last-seen",
        };
        crate::i18n::t(lang, id)
    }

    fn next(self) -> SortCol {
        let i = SortCol::ALL.iter().position(|c| *c == self).unwrap_or(0);
        SortCol::ALL[(i + 1) % SortCol::ALL.len()]
    }

    /// The natural direction: names ascending, numbers descending.
    fn default_desc(self) -> bool {
        !matches!(self, SortCol::Key | SortCol::TopCause)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sort {
    pub col: SortCol,
    pub desc: bool,
}

impl Default for Sort {
    fn default() -> Self {
        Sort {
            col: SortCol::Failed,
            desc: true,
        }
    }
}

/// Which panel the arrows move in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Focus {
    Table,
    Causes,
    Recent,
}

/// The episodes of one user, client, proxy or target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Drill {
    pub table: Table,
    pub key: String,
    pub selected: usize,
    /// The ladder of the selected episode is open (Enter; Esc closes it).
    pub ladder: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum View {
    Main,
    Drill(Drill),
}

/// What the runner must do after a key.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Action {
    None,
    Quit,
    Export,
    /// Pause (true) or resume the replay.
    Pause(bool),
    /// New replay speed (`None`: as fast as possible).
    Speed(Option<f64>),
}

/// The latest episodes (at most `keep`) and the latest failures, for the drill-down: older
/// ones are dropped (the drill-down compares what it keeps of a key with the aggregate's
/// count to say what is no longer shown).
#[derive(Debug)]
pub struct Store {
    keep: usize,
    latest: VecDeque<Episode>,
    recent_failed: VecDeque<Episode>,
    /// The transactions of recent episodes (their ladders), by episode, at most
    /// [`STEPS_PER_EPISODE`] each, for the latest `keep` episode numbers seen plus
    /// [`STEPS_OPEN`] more (episodes still open or settling).
    steps: BTreeMap<u64, Vec<Transaction>>,
}

/// Transactions kept per episode for its ladder.
pub const STEPS_PER_EPISODE: usize = crate::report::MAX_LADDER_STEPS / 2;
/// Episodes beyond those kept whose transactions are kept while they wait for their verdict.
pub const STEPS_OPEN: usize = 4096;

impl Default for Store {
    fn default() -> Self {
        Store::new(KEEP_EPISODES)
    }
}

impl Store {
    pub fn new(keep: usize) -> Store {
        Store {
            keep: keep.max(1),
            latest: VecDeque::new(),
            recent_failed: VecDeque::new(),
            steps: BTreeMap::new(),
        }
    }

    /// Transactions of episodes, kept for their ladders (the oldest episodes' dropped).
    fn add_steps(&mut self, txs: Vec<Transaction>) {
        for t in txs {
            let Some(id) = t.episode_id else { continue };
            let v = self.steps.entry(id).or_default();
            if v.len() < STEPS_PER_EPISODE {
                v.push(t);
            }
        }
        while self.steps.len() > self.keep.saturating_add(STEPS_OPEN) {
            self.steps.pop_first();
        }
    }

    /// The transactions kept of an episode.
    pub(crate) fn steps_of(&self, id: u64) -> &[Transaction] {
        self.steps.get(&id).map_or(&[], Vec::as_slice)
    }

    fn push(&mut self, e: Episode) {
        if e.outcome == Outcome::Failed {
            if self.recent_failed.len() >= RECENT_MAX.min(self.keep) {
                self.recent_failed.pop_front();
            }
            self.recent_failed.push_back(e.clone());
        }
        if self.latest.len() >= self.keep {
            self.latest.pop_front();
        }
        self.latest.push_back(e);
    }

    /// The kept episodes of one key, newest first.
    pub(crate) fn of_key(&self, table: Table, key: &str) -> Vec<&Episode> {
        self.latest
            .iter()
            .rev()
            .filter(|e| key_of(table, e) == key)
            .collect()
    }

    /// Every kept episode, oldest first.
    pub(crate) fn kept(&self) -> impl Iterator<Item = &Episode> {
        self.latest.iter()
    }

    /// Recently judged failed episodes, newest first.
    pub(crate) fn recent_failed(&self) -> impl Iterator<Item = &Episode> {
        self.recent_failed.iter().rev()
    }
}

/// Packets and bytes per second over the last few seconds of packet time.
#[derive(Debug, Default)]
struct Rates {
    samples: VecDeque<(Ts, u64, u64)>,
}

const RATE_WINDOW_US: i64 = 5_000_000;

impl Rates {
    fn add(&mut self, ts: Ts, packets: u64, bytes: u64) {
        if self.samples.back().is_some_and(|s| s.0 >= ts) {
            return;
        }
        self.samples.push_back((ts, packets, bytes));
        while self.samples.len() > 2
            && self
                .samples
                .get(1)
                .is_some_and(|s| ts.0.saturating_sub(s.0 .0) >= RATE_WINDOW_US)
        {
            self.samples.pop_front();
        }
    }

    /// (packets/s, bits/s).
    fn get(&self) -> Option<(f64, f64)> {
        let (a, b) = (self.samples.front()?, self.samples.back()?);
        let dt = b.0.since(a.0) as f64 / 1e6;
        if dt <= 0.0 {
            return None;
        }
        Some((
            b.1.saturating_sub(a.1) as f64 / dt,
            b.2.saturating_sub(a.2) as f64 * 8.0 / dt,
        ))
    }
}

/// The dashboard's whole state.
#[derive(Debug)]
pub struct App {
    pub source_label: String,
    pub kind: SourceKind,
    /// What the screen shows: episodes as they are judged while the capture runs, the
    /// settled aggregate once it has ended. Empty without a screen ([`App::without_screen`]).
    pub stats: Stats,
    /// A screen shows `stats` (not so headless).
    screen: bool,
    /// The aggregate of settled (final) episodes: exports, and the final view.
    pub settled: Stats,
    /// The settled aggregate since the last export (the interval tables).
    interval: Stats,
    pub store: Store,
    pub progress: Progress,
    rates: Rates,
    pub notices: Vec<Notice>,
    /// The engine has sent its final message.
    pub finished: bool,
    pub paused: bool,
    /// Replay speed (`None`: as fast as possible).
    pub speed: Option<f64>,
    /// Deltas received while paused, added on resume.
    held: Vec<Episode>,
    pub view: View,
    pub focus: Focus,
    pub show_help: bool,
    pub table: Table,
    pub sort: [Sort; 4],
    pub filter: String,
    pub filter_editing: bool,
    /// The selected key per table (kept by key so a live re-sort does not move it).
    selected_key: [Option<String>; 4],
    pub selected_cause: usize,
    pub selected_recent: usize,
    /// The visible table, filtered and sorted.
    rows: Vec<KeyRow>,
    rows_of: Option<Table>,
    dirty: bool,
    /// A one-line message for the footer (export done, errors).
    pub status: Option<String>,
    /// Rows of the visible tables seen at the last draw (page up/down).
    pub page: usize,
    /// Applied to every episode before it is counted or shown.
    pub pseudonymizer: Option<Pseudonymizer>,
    /// `--metrics`: counts every episode once, as received, and the running counters.
    pub metrics: Option<Metrics>,
    /// `--lang`: the language of every label.
    pub lang: Lang,
    /// The lower right panel shows the findings instead of the recent failures (`f`).
    pub show_findings: bool,
    /// The findings panel's lines, recomputed with the view.
    findings: Vec<FindingUsers>,
}

/// A finding and the users showing it, most episodes first (for lockout risk: the most
/// failed episodes within 10 minutes, the lockout window's default).
#[derive(Clone, Debug, PartialEq)]
pub struct FindingUsers {
    pub finding: Finding,
    pub users: Vec<(String, u64)>,
}

/// The findings the panel names users for, in this order.
pub const PANEL_FINDINGS: [Finding; 6] = [
    Finding::LockoutRisk,
    Finding::CleartextBasic,
    Finding::Ntlmv1,
    Finding::NtlmFallback,
    Finding::DomainMismatch,
    Finding::OversizedToken,
];

/// The users of each finding of [`PANEL_FINDINGS`] that some user shows.
pub fn finding_users(stats: &Stats) -> Vec<FindingUsers> {
    let rows = stats.rows(Table::Users);
    let lockout = stats.lockout_users();
    PANEL_FINDINGS
        .into_iter()
        .filter_map(|f| {
            let mut users: Vec<(String, u64)> = rows
                .iter()
                .filter_map(|r| match f {
                    Finding::LockoutRisk => lockout
                        .contains(&r.key)
                        .then(|| (r.key.clone(), r.max_failures_10min)),
                    _ => (r.finding(f) > 0).then(|| (r.key.clone(), r.finding(f))),
                })
                .collect();
            if f == Finding::LockoutRisk {
                // A lockout user beyond the key limit is still named.
                for u in &lockout {
                    if !users.iter().any(|(k, _)| k == u) {
                        users.push((u.clone(), 0));
                    }
                }
            }
            users.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            (!users.is_empty()).then_some(FindingUsers { finding: f, users })
        })
        .collect()
}

impl App {
    pub fn new(source_label: impl Into<String>, kind: SourceKind, speed: Option<f64>) -> App {
        App {
            source_label: source_label.into(),
            kind,
            stats: Stats::new(),
            screen: true,
            settled: Stats::new(),
            interval: Stats::new(),
            store: Store::default(),
            progress: Progress::default(),
            rates: Rates::default(),
            notices: Vec::new(),
            finished: false,
            paused: false,
            speed,
            held: Vec::new(),
            view: View::Main,
            focus: Focus::Table,
            show_help: false,
            table: Table::Users,
            sort: [Sort::default(); 4],
            filter: String::new(),
            filter_editing: false,
            selected_key: [None, None, None, None],
            selected_cause: 0,
            selected_recent: 0,
            rows: Vec::new(),
            rows_of: None,
            dirty: true,
            status: None,
            page: 10,
            pseudonymizer: None,
            metrics: None,
            lang: Lang::En,
            show_findings: false,
            findings: Vec::new(),
        }
    }

    /// The findings panel's lines (as of the last view refresh).
    pub fn findings(&self) -> &[FindingUsers] {
        &self.findings
    }

    /// Adds judged episodes to what is shown (held back while paused).
    pub(crate) fn add_episodes(&mut self, episodes: Vec<Episode>) {
        if self.paused {
            self.held.extend(episodes);
            return;
        }
        for e in episodes {
            if self.screen {
                self.stats.add_episode(&e);
            }
            self.store.push(e);
            self.dirty = true;
        }
    }

    /// No screen (headless): the judged episodes are not aggregated a second time beside the
    /// settled ones ([`App::shown`] is the settled aggregate), and no ladder is kept.
    pub fn without_screen(&mut self) {
        self.screen = false;
        self.stats = Stats::with_limits(self.settled.limits());
    }

    /// The aggregate of what is shown: the screen's, or without one the settled aggregate.
    pub fn shown(&self) -> &Stats {
        if self.screen {
            &self.stats
        } else {
            &self.settled
        }
    }

    /// Adds final episodes to the aggregate of the exports.
    fn add_settled(&mut self, episodes: &[Episode]) {
        for e in episodes {
            self.settled.add_episode(e);
            self.interval.add_episode(e);
        }
    }

    /// The settled aggregate since the last call (an export's interval), started again.
    pub(crate) fn take_interval(&mut self) -> Stats {
        let fresh = Stats::with_limits(self.settled.limits());
        std::mem::replace(&mut self.interval, fresh)
    }

    /// Both aggregates with these bounds (`--max-keys`), before anything is added.
    pub fn set_limits(&mut self, limits: crate::stats::StatsLimits) {
        self.stats = Stats::with_limits(limits);
        self.settled = Stats::with_limits(limits);
        self.interval = Stats::with_limits(limits);
    }

    fn set_progress(&mut self, p: Progress) {
        if let Some(now) = p.now.or(p.capture.last_ts) {
            self.rates.add(now, p.capture.packets, p.capture.bytes);
        }
        self.progress = p;
    }

    /// A message from the engine thread.
    pub fn on_engine(&mut self, msg: EngineMsg) {
        match msg {
            EngineMsg::Update {
                judged,
                settled,
                transactions,
                progress,
            } => {
                self.receive(judged, settled, transactions);
                self.set_progress(progress);
            }
            EngineMsg::Done {
                judged,
                settled,
                transactions,
                progress,
                notices,
            } => {
                self.receive(judged, settled, transactions);
                // The run is over: what was held while paused is shown, and the screen
                // shows the settled aggregate, the numbers of `analyze`.
                let held = std::mem::take(&mut self.held);
                let paused = std::mem::replace(&mut self.paused, false);
                self.add_episodes(held);
                self.paused = paused;
                if self.screen {
                    self.stats = self.settled.clone();
                }
                self.dirty = true;
                self.set_progress(progress);
                self.notices = notices;
                self.finished = true;
            }
            // The runner rotates the exports on it; nothing to show.
            EngineMsg::Boundary { .. } => {}
        }
        if let Some(m) = &self.metrics {
            m.counters(&SensorCounters {
                packets: self.progress.capture.packets,
                kernel_dropped: self.progress.source.kernel_dropped.unwrap_or(0),
                queue_dropped: self.progress.source.queue_dropped.unwrap_or(0),
                gap_bytes: self.progress.capture.gap_bytes,
                tracked_connections: self.progress.tracked_connections as u64,
                lockout_risk_users: self.shown().finding_count(Finding::LockoutRisk),
            });
        }
    }

    /// Judged episodes go to the screen and the metrics (an episode's outcome, cause, proxy
    /// and scheme are fixed at its verdict), settled ones to the exports' aggregate; both
    /// pseudonymized first when asked. Transactions showing a request finding are final as
    /// they come: counted by both aggregates at once; those of episodes go to the ladders.
    fn receive(
        &mut self,
        mut judged: Vec<Episode>,
        mut settled: Vec<Episode>,
        mut transactions: Vec<Transaction>,
    ) {
        if let Some(m) = &self.metrics {
            judged.iter().for_each(|e| m.episode(e));
        }
        if let Some(p) = &self.pseudonymizer {
            pseudonymize(&mut judged, &mut transactions, p);
            pseudonymize(&mut settled, &mut [], p);
        }
        for t in transactions.iter().filter(|t| !t.findings.is_empty()) {
            if self.screen {
                self.stats.add_transaction(t);
            }
            self.settled.add_transaction(t);
            self.interval.add_transaction(t);
            self.dirty = true;
        }
        // Those of episodes are kept for their ladders, on a screen.
        if self.screen {
            self.store.add_steps(transactions);
        }
        self.add_episodes(judged);
        self.add_settled(&settled);
    }

    /// (packets/s, bits/s) over the last seconds of packet time.
    pub fn rates(&self) -> Option<(f64, f64)> {
        self.rates.get().or_else(|| {
            // Too short for a window: the average over the whole capture.
            let c = &self.progress.capture;
            let dt = c.last_ts?.since(c.first_ts?) as f64 / 1e6;
            (dt > 0.0).then(|| (c.packets as f64 / dt, c.bytes as f64 * 8.0 / dt))
        })
    }

    /// Packet time from the first packet to now.
    pub(crate) fn elapsed_us(&self) -> i64 {
        let c = &self.progress.capture;
        match (c.first_ts, self.progress.now.or(c.last_ts)) {
            (Some(a), Some(b)) => b.0.saturating_sub(a.0).max(0),
            _ => 0,
        }
    }

    /// The visible table's rows, filtered and sorted (as of the last [`App::refresh_view`]).
    pub fn rows(&self) -> &[KeyRow] {
        &self.rows
    }

    /// Whether the visible table must be rebuilt.
    pub(crate) fn needs_refresh(&self) -> bool {
        self.dirty || self.rows_of != Some(self.table)
    }

    /// Rebuilds the visible table from the [`Stats`] when its data, sort or filter changed.
    pub fn refresh_view(&mut self) {
        if !self.needs_refresh() {
            return;
        }
        let t = self.table;
        let mut rows = self.stats.rows(t);
        if !self.filter.is_empty() {
            let f = self.filter.to_lowercase();
            rows.retain(|r| r.key.to_lowercase().contains(&f));
        }
        let sort = self.sort[t as usize];
        rows.sort_by(|a, b| {
            let o = compare(a, b, sort.col);
            let o = if sort.desc { o.reverse() } else { o };
            o.then(b.failed.cmp(&a.failed))
                .then(b.episodes.cmp(&a.episodes))
                .then(a.key.cmp(&b.key))
        });
        self.rows = rows;
        self.rows_of = Some(t);
        self.findings = finding_users(&self.stats);
        self.dirty = false;
    }

    /// Index of the selected row in [`App::rows`].
    pub fn selected_row(&self) -> Option<usize> {
        if self.rows.is_empty() {
            return None;
        }
        let i = self.selected_key[self.table as usize]
            .as_ref()
            .and_then(|k| self.rows.iter().position(|r| &r.key == k))
            .unwrap_or(0);
        Some(i)
    }

    fn select_row(&mut self, i: usize) {
        let k = self.rows.get(i).map(|r| r.key.clone());
        self.selected_key[self.table as usize] = k;
    }

    pub fn selected_cause(&self) -> Cause {
        Cause::ALL
            .get(self.selected_cause)
            .copied()
            .unwrap_or(Cause::HandshakeBroken)
    }

    /// The ladder of the episode selected in the drill-down, when it is open.
    pub fn ladder(&self) -> Option<crate::report::Ladder> {
        let View::Drill(d) = &self.view else {
            return None;
        };
        if !d.ladder {
            return None;
        }
        let eps = self.store.of_key(d.table, &d.key);
        let e = eps.get(d.selected.min(eps.len().saturating_sub(1)))?;
        Some(crate::report::Ladder::new(
            self.lang,
            (*e).clone(),
            self.store.steps_of(e.episode_id),
        ))
    }

    /// The episode selected in the drill-down.
    pub fn drill_selected(&self) -> Option<&Episode> {
        let View::Drill(d) = &self.view else {
            return None;
        };
        let eps = self.store.of_key(d.table, &d.key);
        eps.get(d.selected.min(eps.len().saturating_sub(1)))
            .copied()
    }

    /// The episodes of the drilled-into key, newest first.
    pub fn drill_episodes(&self) -> Vec<&Episode> {
        match &self.view {
            View::Drill(d) => self.store.of_key(d.table, &d.key),
            View::Main => Vec::new(),
        }
    }

    fn move_by(&mut self, delta: isize) {
        let step = |cur: usize, len: usize| -> usize {
            if len == 0 {
                return 0;
            }
            let v = cur as isize + delta;
            v.clamp(0, len as isize - 1) as usize
        };
        if let View::Drill(d) = &self.view {
            let len = self.store.of_key(d.table, &d.key).len();
            let sel = step(d.selected, len);
            if let View::Drill(d) = &mut self.view {
                d.selected = sel;
            }
            return;
        }
        match self.focus {
            Focus::Table => {
                self.refresh_view();
                let cur = self.selected_row().unwrap_or(0);
                let i = step(cur, self.rows.len());
                self.select_row(i);
            }
            Focus::Causes => self.selected_cause = step(self.selected_cause, Cause::ALL.len()),
            Focus::Recent => {
                let len = self.store.recent_failed.len();
                self.selected_recent = step(self.selected_recent, len);
            }
        }
    }

    fn switch_table(&mut self, forward: bool) {
        let i = self.table as usize;
        let n = Table::ALL.len();
        self.table = Table::ALL[if forward {
            (i + 1) % n
        } else {
            (i + n - 1) % n
        }];
        self.dirty = true;
    }

    /// Drills into the selected row of the visible table (or the user of the selected
    /// recent failure).
    fn drill(&mut self) {
        let (table, key) = match self.focus {
            Focus::Recent => match self.store.recent_failed().nth(self.selected_recent) {
                Some(e) => (Table::Users, key_of(Table::Users, e)),
                None => return,
            },
            _ => {
                self.refresh_view();
                match self.selected_row().and_then(|i| self.rows.get(i)) {
                    Some(r) => (self.table, r.key.clone()),
                    None => return,
                }
            }
        };
        self.view = View::Drill(Drill {
            table,
            key,
            selected: 0,
            ladder: false,
        });
    }

    /// Handles one key press.
    pub fn on_key(&mut self, key: KeyEvent) -> Action {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && matches!(key.code, KeyCode::Char('c') | KeyCode::Char('d')) {
            return Action::Quit;
        }
        if self.filter_editing {
            self.on_filter_key(key.code, ctrl);
            return Action::None;
        }
        if self.show_help {
            // Any key closes the help; q still quits.
            self.show_help = false;
            return if key.code == KeyCode::Char('q') {
                Action::Quit
            } else {
                Action::None
            };
        }
        self.status = None;
        let action = match key.code {
            KeyCode::Char('q') => return Action::Quit,
            code if self.on_navigation_key(code) => Action::None,
            code => self.on_command_key(code),
        };
        self.refresh_view();
        action
    }

    /// A key while the filter is being typed.
    fn on_filter_key(&mut self, code: KeyCode, ctrl: bool) {
        match code {
            KeyCode::Enter => self.filter_editing = false,
            KeyCode::Esc => {
                self.filter_editing = false;
                self.filter.clear();
            }
            KeyCode::Backspace => {
                self.filter.pop();
            }
            KeyCode::Char(c) if !ctrl => self.filter.push(c),
            _ => return,
        }
        self.dirty = true;
        self.refresh_view();
    }

    /// Keys that move around the screen: views, panes, tables, the selection, the filter
    /// and the help. False when `code` is none of them here.
    fn on_navigation_key(&mut self, code: KeyCode) -> bool {
        match code {
            KeyCode::Char('?') => self.show_help = true,
            KeyCode::Char('f') if self.view == View::Main => {
                self.show_findings = !self.show_findings;
            }
            KeyCode::Esc | KeyCode::Backspace => {
                if let View::Drill(d) = &mut self.view {
                    if d.ladder {
                        d.ladder = false;
                        return true;
                    }
                }
                if matches!(self.view, View::Drill(_)) {
                    self.view = View::Main;
                } else if !self.filter.is_empty() {
                    self.filter.clear();
                    self.dirty = true;
                }
            }
            KeyCode::Tab => {
                self.focus = match self.focus {
                    Focus::Table => Focus::Causes,
                    Focus::Causes => Focus::Recent,
                    Focus::Recent => Focus::Table,
                };
            }
            KeyCode::BackTab => {
                self.focus = match self.focus {
                    Focus::Table => Focus::Recent,
                    Focus::Causes => Focus::Table,
                    Focus::Recent => Focus::Causes,
                };
            }
            KeyCode::Left | KeyCode::Right if self.view == View::Main => {
                self.focus = Focus::Table;
                self.switch_table(code == KeyCode::Right);
            }
            KeyCode::Char(c @ '1'..='4') if self.view == View::Main => {
                let i = (c as usize).saturating_sub('1' as usize);
                if let Some(t) = Table::ALL.get(i) {
                    self.table = *t;
                    self.focus = Focus::Table;
                    self.dirty = true;
                }
            }
            KeyCode::Up | KeyCode::Char('k') => self.move_by(-1),
            KeyCode::Down | KeyCode::Char('j') => self.move_by(1),
            KeyCode::PageUp => self.move_by(-(self.page.max(1) as isize)),
            KeyCode::PageDown => self.move_by(self.page.max(1) as isize),
            KeyCode::Home => self.move_by(isize::MIN / 2),
            KeyCode::End => self.move_by(isize::MAX / 2),
            KeyCode::Enter => match &mut self.view {
                View::Main => self.drill(),
                View::Drill(d) => d.ladder = true,
            },
            KeyCode::Char('/') => {
                self.view = View::Main;
                self.focus = Focus::Table;
                self.filter_editing = true;
            }
            _ => return false,
        }
        true
    }

    /// Keys that change what is shown or ask the run for something: sorting, pause,
    /// export, replay speed.
    fn on_command_key(&mut self, code: KeyCode) -> Action {
        match code {
            KeyCode::Char('s') => {
                let s = &mut self.sort[self.table as usize];
                s.col = s.col.next();
                s.desc = s.col.default_desc();
                self.dirty = true;
                Action::None
            }
            KeyCode::Char('S') | KeyCode::Char('r') => {
                let s = &mut self.sort[self.table as usize];
                s.desc = !s.desc;
                self.dirty = true;
                Action::None
            }
            KeyCode::Char('p') | KeyCode::Char(' ') => {
                self.set_paused(!self.paused);
                Action::Pause(self.paused)
            }
            KeyCode::Char('e') => Action::Export,
            KeyCode::Char('+') | KeyCode::Char('=') if self.kind == SourceKind::Replay => {
                self.speed = self.speed.map(|s| (s * 2.0).min(1_000_000.0));
                Action::Speed(self.speed)
            }
            KeyCode::Char('-') if self.kind == SourceKind::Replay => {
                self.speed = Some(self.speed.map_or(1024.0, |s| (s / 2.0).max(1.0 / 64.0)));
                Action::Speed(self.speed)
            }
            _ => Action::None,
        }
    }

    /// Pauses (deltas are held) or resumes (held deltas are added).
    pub(crate) fn set_paused(&mut self, p: bool) {
        self.paused = p;
        if !p {
            let held = std::mem::take(&mut self.held);
            self.add_episodes(held);
        }
    }

    /// Episodes received while paused and not shown yet.
    pub fn held(&self) -> usize {
        self.held.len()
    }
}

fn compare(a: &KeyRow, b: &KeyRow, col: SortCol) -> std::cmp::Ordering {
    let f = |x: Option<f64>| x.unwrap_or(-1.0);
    match col {
        SortCol::Key => a.key.cmp(&b.key),
        SortCol::Episodes => a.episodes.cmp(&b.episodes),
        SortCol::Authenticated => a.authenticated.cmp(&b.authenticated),
        SortCol::Failed => a.failed.cmp(&b.failed),
        SortCol::Unresolved => a.unresolved.cmp(&b.unresolved),
        SortCol::TopCause => {
            let n = |r: &KeyRow| r.top_cause().map_or("~", |c| c.as_str());
            n(a).cmp(n(b))
        }
        SortCol::P50 => f(a.time_to_auth_p50_ms).total_cmp(&f(b.time_to_auth_p50_ms)),
        SortCol::LastSeen => a.last_seen.cmp(&b.last_seen),
    }
}
