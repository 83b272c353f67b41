//! proxy407: tells network engineers why HTTP proxy authentication fails.
//!
//! The modules are the pipeline stages, in order (see `ARCHITECTURE.md`):
//! [`source`] → [`decode`] → [`flow`] + [`reassembly`] → [`http`] → [`auth`] →
//! [`analysis`] → [`stats`] → views: [`report`], [`export`], [`tui`].
//! [`engine`] drives the stages; [`model`] holds the records every view shares; [`anomaly`]
//! names what every stage can meet that is not as it should be.

pub mod analysis;
pub mod anomaly;
pub mod app;
pub mod auth;
pub mod cli;
pub mod community_id;
pub mod decode;
pub mod driver;
pub mod engine;
pub mod export;
pub mod flow;
pub mod http;
pub mod model;
pub mod pseudonym;
pub mod reassembly;
pub mod report;
pub mod secret;
pub mod source;
pub mod stats;
pub mod tui;
