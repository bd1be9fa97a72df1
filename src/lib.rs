//! connscope: are my HTTP requests reusing TCP connections, and if not, why?
//!
//! One pipeline, one direction (see docs/DESIGN.md in the shared design):
//! `capture` → `decode` → `track` → `http` → `report`, plus `gen`, the bundled
//! traffic generator. Each stage owns its data and imports only from the stages
//! to its left; `analysis` is the driver that wires them together.
#![forbid(unsafe_code)]

pub mod analysis;
pub mod capture;
pub mod cli;
pub mod decode;
pub mod demo;
pub mod diagnosis;
pub mod gen;
pub mod http;
pub mod report;
pub mod track;
