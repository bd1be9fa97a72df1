//! The ladder (sequence) diagram of one connection.
//!
//! Two lifelines, the client's on the left and the server's on the right; one
//! arrow per segment, drawn from its sender, labelled with tcpdump's flag
//! letters, the relative seq/ack, the payload length and the HTTP line it
//! starts with. Each endpoint's state changes are written beside its own
//! lifeline on the row of the segment that caused them; the time since the
//! connection's first packet (ms) is on the left. Every line fits `width`.

use super::draw::{self, Glyphs};
use super::model::{Ladder, LadderEvent};
use crate::track::{EndpointState, Role};
use std::io::{self, Write};

/// Narrowest arrow area worth drawing; label columns shrink to keep it.
const MIN_ARROW: usize = 20;
/// Label columns never shrink below this (then lines are cut at `width`):
/// `TIME_WAIT +60s` (the longest state name, `SYN_RECEIVED`, is 12).
const MIN_LABEL: usize = 14;
/// Label columns never grow beyond this.
const MAX_LABEL: usize = 24;

/// Renders `l` within `width` columns; `ascii` avoids box-drawing characters.
pub fn write_ladder(out: &mut dyn Write, l: &Ladder, width: u16, ascii: bool) -> io::Result<()> {
    let g = draw::glyphs(ascii);
    let w = usize::from(width).max(40);
    let r = &l.conn.record;
    let arrow = if ascii { "->" } else { "→" };
    let emit = |out: &mut dyn Write, s: &str| writeln!(out, "{}", draw::line(s, w, g.ellipsis));

    let span = r.end.seconds_since(r.start);
    emit(
        out,
        &format!(
            "Ladder of connection #{}: client {} {arrow} server {}, {} segment{} in {}",
            r.id,
            r.client,
            r.server,
            l.events.len() as u64 + l.dropped_events,
            if l.events.len() as u64 + l.dropped_events == 1 {
                ""
            } else {
                "s"
            },
            draw::duration(span),
        ),
    )?;

    // Every row's pieces first, so the columns can be sized to the content.
    let rows: Vec<Row> = l.events.iter().map(|e| Row::of(e, l, ascii)).collect();
    let start_state = |role: Role| {
        l.events
            .iter()
            .flat_map(|e| &e.transitions)
            .find(|t| t.role == role)
            .map(|t| t.from)
            .unwrap_or(match role {
                Role::Client => r.client_state,
                Role::Server => r.server_state,
            })
    };
    let c0 = Label::of(&[start_state(Role::Client)], l.time_wait_secs, ascii);
    let s0 = Label::of(&[start_state(Role::Server)], l.time_wait_secs, ascii);

    let tw = usize::max(
        2,
        rows.iter().map(|x| draw::cols(&x.time)).max().unwrap_or(0),
    );
    let widest = |f: &dyn Fn(&Row) -> &Label, first: &Label| {
        rows.iter()
            .map(|x| draw::cols(&f(x).full))
            .chain([draw::cols(&first.full)])
            .max()
            .unwrap_or(0)
            .min(MAX_LABEL)
    };
    let mut cl = widest(&|x: &Row| &x.client, &c0);
    let mut sl = widest(&|x: &Row| &x.server, &s0);
    // total = tw + 2 + cl + 1 + 1 + arrow + 1 + 1 + sl
    let fixed = |cl: usize, sl: usize| tw + cl + sl + 6;
    while w < fixed(cl, sl) + MIN_ARROW && (cl > MIN_LABEL || sl > MIN_LABEL) {
        if cl >= sl && cl > MIN_LABEL {
            cl -= 1;
        } else {
            sl -= 1;
        }
    }
    let aw = w.saturating_sub(fixed(cl, sl)).max(MIN_LABEL);
    let x1 = tw + 2 + cl + 1; // client lifeline column
    let x2 = x1 + 1 + aw; // server lifeline column

    // Column headers: the client's address ends at its lifeline (or starts
    // at the margin when longer), the server's starts at its lifeline (moved
    // left when the line is short).
    let chead = format!("client {}", draw::clean(&r.client.to_string(), ascii));
    let shead = format!("server {}", draw::clean(&r.server.to_string(), ascii));
    let cstart = (x1 + 1).saturating_sub(draw::cols(&chead));
    let sstart = x2
        .min(w.saturating_sub(draw::cols(&shead)))
        .max((cstart + draw::cols(&chead) + 2).min(x2));
    let chead = draw::fit(&chead, sstart.saturating_sub(cstart + 2), g.ellipsis);
    let shead = draw::fit(&shead, w.saturating_sub(sstart), g.ellipsis);
    let head = format!(
        "{}{chead}{}{shead}",
        " ".repeat(cstart),
        " ".repeat(sstart - cstart - draw::cols(&chead)),
    );
    emit(out, &head)?;

    let frame = |t: &str, c: &Label, lc: char, mid: &str, rc: char, s: &Label| {
        format!(
            "{}  {} {lc}{mid}{rc} {}",
            draw::right(t, tw, g.ellipsis),
            draw::right(c.within(cl), cl, g.ellipsis),
            draw::fit(s.within(sl), sl.max(w.saturating_sub(x2 + 2)), g.ellipsis),
        )
    };
    let blank = " ".repeat(aw);
    emit(out, &frame("ms", &c0, g.top, &blank, g.top, &s0))?;
    for x in &rows {
        let (lc, mid, rc) = match x.from {
            Role::Client => (g.tee_right, arrow_right(&x.label, aw, g), g.lifeline),
            Role::Server => (g.lifeline, arrow_left(&x.label, aw, g), g.tee_left),
        };
        emit(out, &frame(&x.time, &x.client, lc, &mid, rc, &x.server))?;
    }
    let none = Label::default();
    emit(out, &frame("", &none, g.bottom, &blank, g.bottom, &none))?;

    if l.dropped_events > 0 {
        emit(
            out,
            &format!(
                "{} later segment{} not drawn: the ladder keeps the first {} of a connection",
                l.dropped_events,
                if l.dropped_events == 1 { "" } else { "s" },
                l.events.len()
            ),
        )?;
    }
    emit(
        out,
        "flags: S syn (open)  . ack  P push  F fin (close)  R reset (abort); ms since the first packet",
    )
}

/// One segment's row, before layout.
struct Row {
    time: String,
    from: Role,
    /// The arrow's label, longest first.
    label: Vec<String>,
    client: Label,
    server: Label,
}

/// The state changes of one endpoint on one row: in full, and shorter for
/// narrow terminals (`TIME_WAIT +60s`).
#[derive(Default)]
struct Label {
    full: String,
    short: String,
}

impl Label {
    fn of(states: &[EndpointState], time_wait_secs: f64, ascii: bool) -> Label {
        let sep = if ascii { " -> " } else { " → " };
        let join = |short: bool| {
            states
                .iter()
                .map(|s| state_label(*s, time_wait_secs, short))
                .collect::<Vec<_>>()
                .join(sep)
        };
        Label {
            full: join(false),
            short: join(true),
        }
    }

    /// The longest form that fits `n` columns (the short one, cut, if none does).
    fn within(&self, n: usize) -> &str {
        if draw::cols(&self.full) <= n {
            &self.full
        } else {
            &self.short
        }
    }
}

impl Row {
    fn of(e: &LadderEvent, l: &Ladder, ascii: bool) -> Row {
        let ms = e.ts.seconds_since(l.conn.record.start) * 1000.0;
        // The full label, then shorter ones for narrow arrows: the flags
        // and the HTTP line matter most.
        let flags = draw::flag_text(e.flags);
        let http = e
            .http
            .as_ref()
            .map(|h| format!(" \"{}\"", draw::clean(h, ascii)))
            .unwrap_or_default();
        let ack = e.rel_ack.map(|a| format!(" ack {a}")).unwrap_or_default();
        let mut label = vec![
            format!("{flags} seq {}{ack} len {}{http}", e.rel_seq, e.len),
            format!("{flags} len {}{http}", e.len),
        ];
        if !http.is_empty() {
            label.push(format!("{flags}{http}"));
        }
        let states = |role: Role| {
            let to: Vec<EndpointState> = e
                .transitions
                .iter()
                .filter(|t| t.role == role)
                .map(|t| t.to)
                .collect();
            Label::of(&to, l.time_wait_secs, ascii)
        };
        Row {
            time: format!("{ms:.3}"),
            from: e.from,
            label,
            client: states(Role::Client),
            server: states(Role::Server),
        }
    }
}

/// A state as written beside its lifeline; TIME_WAIT says how long it lasts.
fn state_label(s: EndpointState, time_wait_secs: f64, short: bool) -> String {
    if s == EndpointState::TimeWait && time_wait_secs > 0.0 {
        let secs = draw::secs_short(time_wait_secs);
        if short {
            format!("{} +{secs}s", s.name())
        } else {
            format!("{} until +{secs} s", s.name())
        }
    } else {
        s.name().to_string()
    }
}

/// `── label ─────▶` in exactly `aw` columns (label cut to fit).
fn arrow_right(label: &[String], aw: usize, g: &Glyphs) -> String {
    let label = pick(label, aw.saturating_sub(5), g);
    let fill = aw.saturating_sub(draw::cols(&label) + 4).max(1);
    format!(
        "{} {label} {}{}",
        g.line,
        g.line.to_string().repeat(fill),
        g.head_right
    )
}

/// `◀───── label ──` in exactly `aw` columns (label cut to fit).
fn arrow_left(label: &[String], aw: usize, g: &Glyphs) -> String {
    let label = pick(label, aw.saturating_sub(5), g);
    let fill = aw.saturating_sub(draw::cols(&label) + 4).max(1);
    format!(
        "{}{} {label} {}",
        g.head_left,
        g.line.to_string().repeat(fill),
        g.line
    )
}

/// The first label that fits `n` columns, else the shortest one cut.
fn pick(labels: &[String], n: usize, g: &Glyphs) -> String {
    labels
        .iter()
        .find(|l| draw::cols(l) <= n)
        .cloned()
        .unwrap_or_else(|| draw::fit(labels.last().map_or("", |l| l), n, g.ellipsis))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::draw::sample;

    #[test]
    fn dropped_segments_are_mentioned_and_lines_fit() {
        let c = sample::conn(7, 0.0, 0.002);
        let mut l = sample::ladder(&c);
        l.dropped_events = 3;
        for width in [40u16, 60, 100] {
            let mut v = Vec::new();
            write_ladder(&mut v, &l, width, false).unwrap();
            let t = String::from_utf8(v).unwrap();
            assert!(t.contains("3 later segments not drawn"), "{t}");
            assert!(
                t.lines().all(|x| x.chars().count() <= usize::from(width)),
                "{t}"
            );
            if width >= 60 {
                assert!(t.contains("SYN_SENT") && t.contains("SYN_RECEIVED"), "{t}");
            }
        }
    }
}
