//! The self-contained HTML report.

use super::model::{ConnReport, Ladder, Summary};
use std::io::{self, Write};

/// Writes a self-contained HTML document (no network fetches).
pub fn write_html(
    out: &mut dyn Write,
    s: &Summary,
    conns: &[ConnReport],
    ladders: &[Ladder],
) -> io::Result<()> {
    let _ = (conns, ladders);
    writeln!(out, "<!doctype html><html><head><meta charset=\"utf-8\"><title>connscope</title></head><body><p>{}</p></body></html>", s.headline())
}
