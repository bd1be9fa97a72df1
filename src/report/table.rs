//! The flow summary table (comfy-table) and the headline, for people.

use super::model::{ConnReport, Summary};
use comfy_table::{presets, Cell, CellAlignment, ContentArrangement, Table};
use std::io::{self, Write};

fn short_duration(secs: f64) -> String {
    if secs < 1.0 {
        format!("{:.1}ms", secs * 1000.0)
    } else if secs < 120.0 {
        format!("{secs:.2}s")
    } else {
        format!("{:.1}m", secs / 60.0)
    }
}

/// Renders the per-connection table. `width` fixes the table width (off a
/// terminal: 100 columns, so it never wraps into mush in a log).
pub fn write_table(
    out: &mut dyn Write,
    conns: &[ConnReport],
    total: u64,
    width: u16,
) -> io::Result<()> {
    if conns.is_empty() {
        return writeln!(out, "no TCP connections");
    }
    // A table of a million rows helps nobody: the first rows, then the count.
    let shown = &conns[..conns.len().min(MAX_ROWS)];
    let more = total.saturating_sub(shown.len() as u64);
    let mut t = Table::new();
    // Two-line cells (client over server) keep one connection per row
    // readable in 100 columns.
    t.load_style(presets::UTF8_HORIZONTAL_ONLY)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(width)
        .set_header([
            "id",
            "client\nserver",
            "start\nduration",
            "packets c/s\nbytes c/s",
            "handshake\nclose",
            "state client\nstate server",
            "TIME-\nWAIT",
            "HTTP\nreqs",
        ]);
    let t0 = conns
        .iter()
        .map(|c| c.record.start)
        .min()
        .unwrap_or_default();
    for c in shown {
        let r = &c.record;
        t.add_row(vec![
            Cell::new(r.id.0).set_alignment(CellAlignment::Right),
            Cell::new(format!("{}\n{}", r.client, r.server)),
            Cell::new(format!(
                "+{:.3}s\n{}",
                r.start.seconds_since(t0),
                short_duration(r.end.seconds_since(r.start))
            )),
            Cell::new(format!(
                "{}/{}\n{}/{}",
                r.packets[0], r.packets[1], r.bytes[0], r.bytes[1]
            )),
            Cell::new(format!("{}\n{}", r.handshake.name(), r.close.name())),
            Cell::new(format!(
                "{}\n{}",
                r.client_state.name(),
                r.server_state.name()
            )),
            Cell::new(r.time_wait.name()),
            Cell::new(c.http_requests).set_alignment(CellAlignment::Right),
        ]);
    }
    writeln!(out, "{t}")?;
    if more > 0 {
        writeln!(
            out,
            "… {more} more connections not shown (every one: --format csv, json or ndjson)"
        )?;
    }
    Ok(())
}

/// Rows of the human table.
pub const MAX_ROWS: usize = 500;

/// ANSI bold, for the headline and section titles when colour is on.
fn bold(s: &str, color: bool) -> String {
    if color {
        format!("\x1b[1m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

/// Totals, TIME-WAIT figures, the headline and the "Why" section.
pub fn write_summary(out: &mut dyn Write, s: &Summary, color: bool) -> io::Result<()> {
    let n = |v: u64, one: &str, many: &str| format!("{v} {}", if v == 1 { one } else { many });
    writeln!(
        out,
        "{} ({} TCP, {} skipped); {}, {} with HTTP; {}, {}",
        n(s.packets_total, "packet", "packets"),
        s.packets_tcp,
        s.packets_skipped,
        n(s.connections, "connection", "connections"),
        s.connections_with_http,
        n(s.http_requests, "request", "requests"),
        n(s.http_responses, "response", "responses"),
    )?;
    writeln!(
        out,
        "TIME-WAIT: entered by {} client and {} server endpoints; peak {} at once; {} still in TIME-WAIT at the end",
        s.track.time_wait_entered[0], s.track.time_wait_entered[1], s.track.time_wait_peak, s.track.time_wait_at_end
    )?;
    if s.track.refused > 0 {
        writeln!(out, "refused connection attempts: {}", s.track.refused)?;
    }
    writeln!(out, "{}", bold(&s.headline(), color))?;
    if !s.diagnosis.is_empty() {
        writeln!(out, "{}", bold("Why:", color))?;
        if let Some(n) = &s.diagnosis_note {
            writeln!(out, "  ({n})")?;
        }
        for d in &s.diagnosis {
            writeln!(out, "  - {d}")?;
        }
    }
    Ok(())
}
