//! The timeline of all connections of a capture.
//!
//! One row per connection across the span from the first connection's first
//! packet to the last packet: the open interval as a bar, its requests marked
//! on it, the close (FIN or reset) at its end and the TIME-WAIT tail after it,
//! clipped to the span. Below, open connections and endpoints in TIME-WAIT
//! per time bucket, with their peaks. The geometry (`Span`, `Bar`, `counts`)
//! is shared with the HTML report's SVG.

use super::draw::{self, Glyphs};
use super::model::{ConnReport, Summary};
use crate::capture::Timestamp;
use crate::track::{Close, TimeWaitHolder};
use std::io::{self, Write};

/// Most connection rows drawn; the counts below still include every connection.
pub const MAX_ROWS: usize = 60;
/// Narrowest bar area worth drawing.
const MIN_BAR: usize = 20;
/// Widest per-row note.
const MAX_NOTE: usize = 34;

/// The time the timeline covers: first packet of the first connection to the
/// last packet of any.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Span {
    pub t0: Timestamp,
    pub secs: f64,
}

impl Span {
    pub fn of(conns: &[ConnReport]) -> Option<Span> {
        let t0 = conns.iter().map(|c| c.record.start).min()?;
        let t1 = conns.iter().map(|c| c.record.end).max()?;
        Some(Span {
            t0,
            secs: t1.seconds_since(t0).max(0.0),
        })
    }

    /// Seconds since the span's start.
    pub fn at(&self, t: Timestamp) -> f64 {
        t.seconds_since(self.t0)
    }

    /// The cell of `x` seconds among `n` cells.
    fn cell(&self, x: f64, n: usize) -> usize {
        if self.secs <= 0.0 || n == 0 {
            return 0;
        }
        let c = (x / self.secs * n as f64).floor();
        (c.max(0.0) as usize).min(n - 1)
    }
}

/// How a connection's bar ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ending {
    /// FIN exchange (either side or both).
    Fin,
    /// RST, or a refused SYN.
    Reset,
    /// Still open at the end of the capture: the bar runs to the span's end.
    Open,
}

/// One connection's shapes, in seconds since the span's start.
#[derive(Clone, Debug)]
pub(crate) struct Bar {
    pub from: f64,
    pub to: f64,
    pub ending: Ending,
    pub requests: Vec<f64>,
    /// TIME-WAIT of the endpoint(s) that entered it, clipped to the span.
    pub time_wait: Option<(f64, f64)>,
}

impl Bar {
    pub fn of(c: &ConnReport, span: &Span) -> Bar {
        let r = &c.record;
        let ending = match r.close {
            Close::Client | Close::Server | Close::Simultaneous => Ending::Fin,
            Close::ResetByClient | Close::ResetByServer | Close::Refused => Ending::Reset,
            Close::Open => Ending::Open,
        };
        let from = span.at(r.start);
        let to = match ending {
            Ending::Open => span.secs,
            _ => span.at(r.end),
        };
        let time_wait = tw_intervals(c, span)
            .into_iter()
            .map(|(a, b)| (a.min(span.secs), b.min(span.secs)))
            .reduce(|x, y| (x.0.min(y.0), x.1.max(y.1)));
        Bar {
            from,
            to,
            ending,
            requests: c.requests.iter().map(|q| span.at(q.time)).collect(),
            time_wait,
        }
    }
}

/// Each TIME-WAIT endpoint's interval, not clipped. Both endpoints share the
/// recorded end's distance from the later entry.
fn tw_intervals(c: &ConnReport, span: &Span) -> Vec<(f64, f64)> {
    let r = &c.record;
    let entered: Vec<f64> = r
        .time_wait_entered
        .iter()
        .flatten()
        .map(|t| span.at(*t))
        .collect();
    let Some(last) = entered.iter().copied().reduce(f64::max) else {
        return Vec::new();
    };
    let d = r
        .time_wait_until
        .map(|u| (span.at(u) - last).max(0.0))
        .unwrap_or(f64::INFINITY);
    entered.iter().map(|&a| (a, a + d)).collect()
}

/// Most open connections and most endpoints in TIME-WAIT at once in each of
/// `n` equal buckets across the span.
pub(crate) fn counts(conns: &[ConnReport], span: &Span, n: usize) -> (Vec<u64>, Vec<u64>) {
    let mut open = Vec::new();
    let mut tw = Vec::new();
    for c in conns {
        let b = Bar::of(c, span);
        open.push((b.from, b.to));
        tw.extend(tw_intervals(c, span));
    }
    (sweep(&open, span, n), sweep(&tw, span, n))
}

/// Highest overlap of the intervals within each bucket.
fn sweep(iv: &[(f64, f64)], span: &Span, n: usize) -> Vec<u64> {
    // A zero-length interval still counts for an instant.
    let mut ev: Vec<(f64, i64)> = Vec::with_capacity(iv.len() * 2);
    for &(a, b) in iv {
        ev.push((a, 1));
        ev.push((b.max(a + 1e-9), -1));
    }
    ev.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
    let mut out = vec![0u64; n];
    let (mut level, mut i) = (0i64, 0usize);
    for (k, slot) in out.iter_mut().enumerate() {
        let end = if k + 1 == n || span.secs <= 0.0 {
            f64::INFINITY
        } else {
            (k + 1) as f64 * span.secs / n as f64
        };
        let mut m = level;
        while i < ev.len() && ev[i].0 < end {
            level += ev[i].1;
            m = m.max(level);
            i += 1;
        }
        *slot = m.max(0) as u64;
    }
    out
}

/// How the connection ended, in a few words.
pub(crate) fn close_phrase(c: Close) -> &'static str {
    match c {
        Close::Client => "client closed",
        Close::Server => "server closed",
        Close::Simultaneous => "both closed",
        Close::ResetByClient => "client reset",
        Close::ResetByServer => "server reset",
        Close::Open => "still open",
        Close::Refused => "refused",
    }
}

/// The note at the end of a connection's row: `10 req, client closed, TW client`.
pub(crate) fn row_note(c: &ConnReport) -> String {
    let mut s = format!("{} req, {}", c.http_requests, close_phrase(c.record.close));
    if c.record.time_wait != TimeWaitHolder::None {
        s.push_str(&format!(", TW {}", c.record.time_wait.name()));
    }
    s
}

/// Renders one row per connection over the capture's span within `width` columns.
pub fn write_timeline(
    out: &mut dyn Write,
    conns: &[ConnReport],
    s: &Summary,
    width: u16,
    ascii: bool,
) -> io::Result<()> {
    let g = draw::glyphs(ascii);
    let w = usize::from(width).max(40);
    let emit = |out: &mut dyn Write, s: &str| writeln!(out, "{}", draw::line(s, w, g.ellipsis));
    let Some(span) = Span::of(conns) else {
        return emit(out, "Timeline: no TCP connections in this capture");
    };
    emit(
        out,
        &format!(
            "Timeline across {}: {}",
            draw::duration(span.secs),
            s.headline()
        ),
    )?;

    let shown = &conns[..conns.len().min(MAX_ROWS)];
    let labels: Vec<String> = shown
        .iter()
        .map(|c| format!("#{} :{}", c.record.id, c.record.client.port()))
        .collect();
    let notes: Vec<String> = shown.iter().map(row_note).collect();
    let lw = labels
        .iter()
        .map(|l| draw::cols(l))
        .chain([draw::cols("TIME-WAIT")])
        .max()
        .unwrap_or(0);
    let mut nw = notes
        .iter()
        .map(|n| draw::cols(n))
        .chain([draw::cols("peak 000")])
        .max()
        .unwrap_or(0)
        .min(MAX_NOTE);
    // total = lw + 1 + bar + 2 + nw
    while w < lw + 3 + nw + MIN_BAR && nw > 8 {
        nw -= 1;
    }
    let bw = w.saturating_sub(lw + 3 + nw).max(10);
    let row = |label: &str, cells: &str, note: &str| {
        format!(
            "{} {cells}  {}",
            draw::right(label, lw, g.ellipsis),
            draw::fit(note, nw, g.ellipsis)
        )
    };

    for ((c, label), note) in shown.iter().zip(&labels).zip(&notes) {
        let cells = bar_cells(&Bar::of(c, &span), &span, bw, g);
        emit(out, &row(label, &cells, note))?;
    }
    if conns.len() > shown.len() {
        emit(
            out,
            &format!(
                "{} more connection{} not drawn ({} rows at most); the counts below include them",
                conns.len() - shown.len(),
                if conns.len() - shown.len() == 1 {
                    ""
                } else {
                    "s"
                },
                MAX_ROWS
            ),
        )?;
    }

    // Time axis: start, middle and end of the span.
    let axis = format!(
        "{}{}{}",
        g.axis_left,
        g.axis.to_string().repeat(bw.saturating_sub(2)),
        g.axis_right
    );
    emit(out, &row("", &axis, ""))?;
    let (t_mid, t_end) = (draw::duration(span.secs / 2.0), draw::duration(span.secs));
    let mut ticks: Vec<char> = " ".repeat(bw).chars().collect();
    let put = |ticks: &mut Vec<char>, at: usize, s: &str| {
        for (i, ch) in s.chars().enumerate() {
            if let Some(x) = ticks.get_mut(at + i) {
                *x = ch;
            }
        }
    };
    put(&mut ticks, 0, "0");
    if bw > draw::cols(&t_end) + draw::cols(&t_mid) + 6 {
        put(&mut ticks, (bw - draw::cols(&t_mid)) / 2, &t_mid);
    }
    put(&mut ticks, bw.saturating_sub(draw::cols(&t_end)), &t_end);
    emit(out, &row("", &ticks.into_iter().collect::<String>(), ""))?;

    let (open, tw) = counts(conns, &span, bw);
    for (name, v) in [("open", &open), ("TIME-WAIT", &tw)] {
        let peak = v.iter().copied().max().unwrap_or(0);
        emit(
            out,
            &row(name, &count_cells(v, peak, g), &format!("peak {peak}")),
        )?;
    }
    let legend = format!(
        "{} open  {} request  {} closed (FIN)  {} reset (RST)  {} TIME-WAIT (TW)",
        g.open, g.request, g.fin, g.reset, g.time_wait
    );
    emit(out, &legend)?;
    if open.iter().any(|&n| n > 9) || tw.iter().any(|&n| n > 9) {
        emit(
            out,
            &format!(
                "counts: digits up to 9, else bars {} (low) to {} (peak)",
                g.levels[0],
                g.levels[g.levels.len() - 1]
            ),
        )?;
    }
    Ok(())
}

/// One connection's cells: blank, then the open bar with its requests, the
/// close mark, then the TIME-WAIT tail.
fn bar_cells(b: &Bar, span: &Span, n: usize, g: &Glyphs) -> String {
    let mut cells = vec![' '; n];
    let mut c0 = span.cell(b.from, n);
    let mut c1 = span.cell(b.to, n);
    let closed = b.ending != Ending::Open;
    if closed && c1 <= c0 && n >= 2 {
        // Keep the close visible beside a short connection's start.
        if c0 + 1 < n {
            c1 = c0 + 1;
        } else {
            c0 = n - 2;
            c1 = n - 1;
        }
    }
    if let Some((a, z)) = b.time_wait {
        let (ta, tz) = (span.cell(a, n), span.cell(z, n));
        for cell in cells.iter_mut().take(tz + 1).skip(ta.max(c1 + 1)) {
            *cell = g.time_wait;
        }
    }
    for cell in cells.iter_mut().take(c1 + 1).skip(c0) {
        *cell = g.open;
    }
    let last_req = if closed {
        c1.saturating_sub(1).max(c0)
    } else {
        c1
    };
    for &q in &b.requests {
        cells[span.cell(q, n).clamp(c0, last_req)] = g.request;
    }
    match b.ending {
        Ending::Fin => cells[c1] = g.fin,
        Ending::Reset => cells[c1] = g.reset,
        Ending::Open => {
            if cells[c1] != g.request {
                cells[c1] = g.still_open;
            }
        }
    }
    cells.into_iter().collect()
}

/// Counts per bucket: digits when the peak is at most 9, else bar levels.
fn count_cells(v: &[u64], peak: u64, g: &Glyphs) -> String {
    v.iter()
        .map(|&x| {
            if x == 0 {
                g.zero
            } else if peak <= 9 {
                char::from_digit(x as u32, 10).unwrap_or('?')
            } else {
                let steps = g.levels.len() as u64;
                let i = ((x * steps).div_ceil(peak)).clamp(1, steps) - 1;
                g.levels[i as usize]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::draw::sample;

    fn render(conns: &[ConnReport], width: u16, ascii: bool) -> String {
        let mut v = Vec::new();
        write_timeline(&mut v, conns, &Summary::default(), width, ascii).unwrap();
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn rows_are_capped_and_the_rest_counted() {
        let conns: Vec<ConnReport> = (1..=75u64)
            .map(|i| sample::conn(i, i as f64, i as f64 + 0.5))
            .collect();
        let t = render(&conns, 100, false);
        let rows = t
            .lines()
            .filter(|l| l.trim_start().starts_with('#'))
            .count();
        assert_eq!(rows, MAX_ROWS, "{t}");
        assert!(t.contains("15 more connections not drawn"), "{t}");
        // One client a second enters TIME-WAIT for 60 s: at most 60 at once.
        let tw = t
            .lines()
            .find(|l| l.trim_start().starts_with("TIME-WAIT "))
            .unwrap();
        assert!(tw.ends_with("peak 60"), "{tw}");
        assert!(t.lines().all(|l| l.chars().count() <= 100));
    }

    #[test]
    fn time_wait_tail_follows_the_close_and_is_clipped() {
        // #1 closes early: its tail runs to the end of the span; #2 keeps it open.
        let a = sample::conn(1, 0.0, 1.0);
        let mut b = sample::conn(2, 0.5, 10.0);
        b.record.close = Close::Open;
        b.record.time_wait = TimeWaitHolder::None;
        b.record.time_wait_entered = [None, None];
        b.record.time_wait_until = None;
        let t = render(&[a, b], 80, true);
        let row1 = t.lines().find(|l| l.contains("#1 ")).unwrap();
        let row2 = t.lines().find(|l| l.contains("#2 ")).unwrap();
        let bar1: String = row1.chars().skip(10).collect();
        assert!(bar1.contains("|..."), "{t}");
        assert!(row2.contains("still open"), "{t}");
        assert!(t.is_ascii());
    }

    #[test]
    fn no_connections() {
        assert!(render(&[], 100, false).contains("no TCP connections"));
    }
}
