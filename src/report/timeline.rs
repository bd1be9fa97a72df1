//! The timeline of all connections of a capture.

use super::model::{ConnReport, Summary};
use std::io::{self, Write};

/// Renders one row per connection over the capture's span within `width` columns.
pub fn write_timeline(
    out: &mut dyn Write,
    conns: &[ConnReport],
    s: &Summary,
    width: u16,
    ascii: bool,
) -> io::Result<()> {
    let _ = (s, width, ascii);
    for c in conns {
        writeln!(
            out,
            "#{} {:.6}..{:.6}",
            c.record.id.0,
            c.record.start.as_f64(),
            c.record.end.as_f64()
        )?;
    }
    Ok(())
}
