//! proxy407: tells network engineers why HTTP proxy authentication fails.
//!
//! The modules are the pipeline stages, in order (see `ARCHITECTURE.md` for the layers and
//! what may import what, `docs/verdicts.md` for the rules the analysis follows):
//! [`source`] → [`decode`] → [`flow`] + [`reassembly`] → [`http`] → [`auth`] →
//! [`analysis`] → [`stats`] → views: [`report`], [`html`], [`export`], [`tui`] (with [`metrics`]);
//! [`i18n`] holds the words of the human views in English and Japanese.
//!
//! A run is [`driver::run`]: a [`source::PacketSource`] into an [`Engine`], judged records out
//! to a [`driver::Sink`], an [`EngineOutput`] at the end. [`model`] holds the records and
//! counters every view reads; [`anomaly`] names what every stage can meet that is not as it
//! should be.
//!
//! ```no_run
//! let mut src = proxy407::source::file::open_files(&["capture.pcap".into()])?;
//! let engine = proxy407::Engine::new(proxy407::EngineConfig::default());
//! let out = proxy407::driver::run(src.as_mut(), engine, &mut proxy407::driver::Batch);
//! println!("{} episodes", out.analysis.episodes.len());
//! # Ok::<(), anyhow::Error>(())
//! ```

// The bottom: records, counters and names every layer shares.
pub mod anomaly;
pub(crate) mod community_id;
pub mod i18n;
pub mod model;
pub mod pseudonym;
pub mod secret;

// The wire stages (the compiler holds them to the no-panic rule).
pub mod auth;
pub mod decode;
pub mod flow;
pub mod http;
pub mod reassembly;
pub mod source;

// The analysis and the run.
pub mod analysis;
pub mod driver;
pub mod engine;

// The one aggregator and the views.
pub mod export;
pub mod html;
pub mod metrics;
pub mod records;
pub mod report;
pub mod stats;
pub mod tui;

// The command layer of the `proxy407` binary.
pub mod app;
pub mod cli;

pub use engine::{Engine, EngineConfig};
pub use model::{EngineOutput, Episode, Transaction};
