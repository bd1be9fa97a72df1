//! Report: renders what the other stages found; never decides.
//!
//! - `line`: per-packet lines identical to `tcpdump -n`.
//! - `model`: the plain data handed to the renderers.
//! - `table`: the flow summary table and headline.
//! - `json`: JSON, NDJSON and CSV with DESIGN.md's field names.

pub(crate) mod draw;
pub mod html;
pub mod json;
pub mod ladder;
pub mod line;
pub mod model;
mod mptcp;
pub mod table;
pub mod timeline;
