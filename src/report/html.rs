//! The self-contained HTML report: one file with inline CSS and inline SVG,
//! no script and nothing fetched. Headline, the diagnosis, the timeline as
//! SVG, the connection table and one ladder per connection (the terminal
//! ladder as preformatted text). Every string from the capture is escaped.

use super::draw;
use super::ladder::write_ladder;
use super::model::{ConnReport, Ladder, Summary};
use super::timeline::{close_phrase, counts, row_note, Bar, Ending, Span};
use std::fmt::Write as _;
use std::io::{self, Write};

/// Most rows in the connection table and in the SVG timeline.
pub const MAX_TABLE_ROWS: usize = 1000;
pub const MAX_SVG_ROWS: usize = 300;
/// Width of the ladders' text.
const LADDER_COLS: u16 = 120;

const CSS: &str = r#"
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:24px auto;max-width:1200px;padding:0 16px;color:#1d2330;background:#fff}
h1{font-size:22px;margin:0 0 4px}
h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #d6dbe4;padding-bottom:4px}
.headline{font-size:20px;font-weight:600;margin:8px 0}
.facts{color:#566074;font-size:13px}
ul.why li{margin:4px 0}
table{border-collapse:collapse;font-size:12.5px;width:100%}
th,td{border:1px solid #d6dbe4;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#eef1f6}
td.n{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
tr.reset td.close{color:#b3261e;font-weight:600}
pre{font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:12px;line-height:1.2;background:#f7f8fb;border:1px solid #e1e5ec;padding:8px;overflow-x:auto}
details{margin:6px 0}
summary{cursor:pointer;font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:13px}
svg{display:block;max-width:100%;height:auto;background:#fcfcfe;border:1px solid #e1e5ec}
svg text{font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:11px;fill:#1d2330}
.note{color:#566074;font-size:13px}
td.reqs{white-space:nowrap}
"#;

/// Writes a self-contained HTML document (no network fetches).
pub fn write_html(
    out: &mut dyn Write,
    s: &Summary,
    conns: &[ConnReport],
    ladders: &[Ladder],
) -> io::Result<()> {
    let mut h = String::with_capacity(64 * 1024);
    page(&mut h, s, conns, ladders).map_err(io::Error::other)?;
    out.write_all(h.as_bytes())
}

fn page(h: &mut String, s: &Summary, conns: &[ConnReport], ladders: &[Ladder]) -> std::fmt::Result {
    writeln!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>connscope: {}</title>\n<style>{CSS}</style>\n</head>\n<body>",
        esc(&s.source)
    )?;
    writeln!(h, "<h1>connscope report: {}</h1>", esc(&s.source))?;
    writeln!(h, "<p class=\"headline\">{}</p>", esc(&s.headline()))?;
    let tw = &s.track;
    writeln!(
        h,
        "<p class=\"facts\">{} packets ({} TCP, {} skipped), link type {}; {} connections, {} with HTTP; {} requests, {} responses; TIME-WAIT entered by {} client and {} server endpoints, peak {} at once.</p>",
        s.packets_total,
        s.packets_tcp,
        s.packets_skipped,
        esc(&s.link_type),
        s.connections,
        s.connections_with_http,
        s.http_requests,
        s.http_responses,
        tw.time_wait_entered[0],
        tw.time_wait_entered[1],
        tw.time_wait_peak,
    )?;

    writeln!(h, "<h2>Why</h2>")?;
    if s.diagnosis.is_empty() {
        writeln!(h, "<p class=\"note\">No findings.</p>")?;
    } else {
        writeln!(h, "<ul class=\"why\">")?;
        for d in &s.diagnosis {
            writeln!(h, "<li>{}</li>", esc(d))?;
        }
        writeln!(h, "</ul>")?;
    }

    writeln!(h, "<h2>Timeline</h2>")?;
    timeline_svg(h, conns)?;

    writeln!(h, "<h2>Connections</h2>")?;
    table(h, conns)?;

    writeln!(h, "<h2>Ladders</h2>")?;
    if ladders.is_empty() {
        writeln!(h, "<p class=\"note\">No ladder was recorded.</p>")?;
    } else if ladders.len() < conns.len() {
        writeln!(
            h,
            "<p class=\"note\">Ladders of the first {} of {} connections.</p>",
            ladders.len(),
            conns.len()
        )?;
    }
    for (i, l) in ladders.iter().enumerate() {
        let r = &l.conn.record;
        let mut text = Vec::new();
        // Writing into a Vec cannot fail.
        let _ = write_ladder(&mut text, l, LADDER_COLS, false);
        writeln!(
            h,
            "<details id=\"ladder-{}\"{}><summary>#{} {} → {}: {} segments, {} HTTP request{}, {}</summary>\n<pre>{}</pre></details>",
            r.id,
            if i < 3 { " open" } else { "" },
            r.id,
            esc(&r.client.to_string()),
            esc(&r.server.to_string()),
            l.events.len() as u64 + l.dropped_events,
            l.conn.http_requests,
            if l.conn.http_requests == 1 { "" } else { "s" },
            close_phrase(r.close),
            esc(&String::from_utf8_lossy(&text)),
        )?;
    }
    writeln!(
        h,
        "<p class=\"note\">Made by connscope {}.</p>\n</body>\n</html>",
        env!("CARGO_PKG_VERSION")
    )
}

/// The connection table (first `MAX_TABLE_ROWS` rows).
fn table(h: &mut String, conns: &[ConnReport]) -> std::fmt::Result {
    let Some(span) = Span::of(conns) else {
        return writeln!(h, "<p class=\"note\">No TCP connections.</p>");
    };
    writeln!(
        h,
        "<table>\n<tr><th>#</th><th>client</th><th>server</th><th>start</th><th>duration</th><th>packets c/s</th><th>bytes c/s</th><th>handshake</th><th>close</th><th>state client</th><th>state server</th><th>TIME-WAIT</th><th>HTTP reqs</th><th>requests</th></tr>"
    )?;
    for c in conns.iter().take(MAX_TABLE_ROWS) {
        let r = &c.record;
        let reqs: Vec<String> = c
            .requests
            .iter()
            .take(5)
            .map(|q| {
                let status = q
                    .status
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "-".into());
                format!(
                    "{} {} {} → {}",
                    esc(&q.method),
                    esc(&q.target),
                    q.version_str(),
                    status
                )
            })
            .collect();
        let more = c.requests.len().saturating_sub(5);
        let reset = matches!(Bar::of(c, &span).ending, Ending::Reset);
        writeln!(
            h,
            "<tr{}><td class=\"n\"><a href=\"#ladder-{}\">{}</a></td><td>{}</td><td>{}</td><td class=\"n\">+{}</td><td class=\"n\">{}</td><td class=\"n\">{}/{}</td><td class=\"n\">{}/{}</td><td>{}</td><td class=\"close\">{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"reqs\">{}{}</td></tr>",
            if reset { " class=\"reset\"" } else { "" },
            r.id,
            r.id,
            esc(&r.client.to_string()),
            esc(&r.server.to_string()),
            draw::duration(span.at(r.start)),
            draw::duration(r.end.seconds_since(r.start)),
            r.packets[0],
            r.packets[1],
            r.bytes[0],
            r.bytes[1],
            r.handshake.name(),
            r.close.name(),
            r.client_state.name(),
            r.server_state.name(),
            r.time_wait.name(),
            c.http_requests,
            reqs.join("<br>"),
            if more > 0 {
                format!("<br>… {more} more")
            } else {
                String::new()
            },
        )?;
    }
    writeln!(h, "</table>")?;
    if conns.len() > MAX_TABLE_ROWS {
        writeln!(
            h,
            "<p class=\"note\">{} more connections not listed (the JSON report has them all).</p>",
            conns.len() - MAX_TABLE_ROWS
        )?;
    }
    Ok(())
}

// SVG geometry (user units; the SVG scales to the page).
const SVG_W: f64 = 1100.0;
const LABEL_W: f64 = 120.0;
const NOTE_W: f64 = 250.0;
const ROW_H: f64 = 18.0;
const CHART_H: f64 = 90.0;
const BUCKETS: usize = 200;

/// The timeline as inline SVG: one row per connection, a time axis, and the
/// open / TIME-WAIT counts as step charts.
fn timeline_svg(h: &mut String, conns: &[ConnReport]) -> std::fmt::Result {
    let Some(span) = Span::of(conns) else {
        return writeln!(h, "<p class=\"note\">No TCP connections.</p>");
    };
    let bar_w = SVG_W - LABEL_W - NOTE_W - 20.0;
    let x = |t: f64| {
        let f = if span.secs > 0.0 { t / span.secs } else { 0.0 };
        LABEL_W + f.clamp(0.0, 1.0) * bar_w
    };
    let shown = &conns[..conns.len().min(MAX_SVG_ROWS)];
    let top = 10.0;
    let rows_h = shown.len() as f64 * ROW_H;
    let axis_y = top + rows_h + 6.0;
    let chart_top = axis_y + 36.0;
    let total_h = chart_top + CHART_H + 40.0;
    writeln!(
        h,
        "<svg viewBox=\"0 0 {SVG_W} {total_h:.0}\" width=\"{SVG_W}\" height=\"{total_h:.0}\" role=\"img\" aria-label=\"connection timeline\">"
    )?;
    writeln!(h, "<defs><pattern id=\"tw\" width=\"4\" height=\"4\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\"><rect width=\"4\" height=\"4\" fill=\"#fbe3c4\"/><line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"4\" stroke=\"#e59a3c\" stroke-width=\"1.5\"/></pattern></defs>")?;
    for (i, c) in shown.iter().enumerate() {
        let r = &c.record;
        let b = Bar::of(c, &span);
        let y = top + i as f64 * ROW_H;
        let mid = y + ROW_H / 2.0;
        writeln!(
            h,
            "<g><title>#{} {} → {}: {}</title>",
            r.id,
            esc(&r.client.to_string()),
            esc(&r.server.to_string()),
            esc(&row_note(c))
        )?;
        writeln!(
            h,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">#{} :{}</text>",
            LABEL_W - 6.0,
            mid + 4.0,
            r.id,
            r.client.port()
        )?;
        if let Some((a, z)) = b.time_wait {
            let (xa, xz) = (x(a), x(z));
            writeln!(
                h,
                "<rect x=\"{xa:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"8\" fill=\"url(#tw)\"/>",
                mid - 4.0,
                (xz - xa).max(1.0)
            )?;
        }
        let (xa, xz) = (x(b.from), x(b.to).max(x(b.from) + 2.0));
        writeln!(
            h,
            "<rect x=\"{xa:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"8\" rx=\"2\" fill=\"#3b6fd4\"/>",
            mid - 4.0,
            xz - xa
        )?;
        for &q in &b.requests {
            writeln!(
                h,
                "<circle cx=\"{:.1}\" cy=\"{mid:.1}\" r=\"3.5\" fill=\"#102a5c\" stroke=\"#fff\" stroke-width=\"1\"/>",
                x(q)
            )?;
        }
        match b.ending {
            Ending::Fin => writeln!(
                h,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"2.5\" height=\"14\" fill=\"#1d2330\"/>",
                xz - 1.0,
                mid - 7.0
            )?,
            Ending::Reset => writeln!(
                h,
                "<path d=\"M{:.1} {:.1}l8 8m0 -8l-8 8\" stroke=\"#c62828\" stroke-width=\"2.5\"/>",
                xz - 2.0,
                mid - 4.0
            )?,
            Ending::Open => writeln!(
                h,
                "<path d=\"M{:.1} {:.1}l6 5l-6 5z\" fill=\"#3b6fd4\"/>",
                xz,
                mid - 5.0
            )?,
        }
        writeln!(
            h,
            "<text x=\"{:.1}\" y=\"{:.1}\">{}</text></g>",
            LABEL_W + bar_w + 12.0,
            mid + 4.0,
            esc(&row_note(c))
        )?;
    }
    if conns.len() > shown.len() {
        writeln!(
            h,
            "<text x=\"{LABEL_W}\" y=\"{:.1}\">{} more connections not drawn; the counts below include them</text>",
            axis_y - 2.0,
            conns.len() - shown.len()
        )?;
    }

    // Time axis.
    writeln!(
        h,
        "<line x1=\"{LABEL_W}\" y1=\"{axis_y:.1}\" x2=\"{:.1}\" y2=\"{axis_y:.1}\" stroke=\"#566074\"/>",
        LABEL_W + bar_w
    )?;
    for k in 0..=4 {
        let t = span.secs * f64::from(k) / 4.0;
        let anchor = match k {
            0 => "start",
            4 => "end",
            _ => "middle",
        };
        writeln!(
            h,
            "<line x1=\"{0:.1}\" y1=\"{axis_y:.1}\" x2=\"{0:.1}\" y2=\"{1:.1}\" stroke=\"#566074\"/><text x=\"{0:.1}\" y=\"{2:.1}\" text-anchor=\"{anchor}\">{3}</text>",
            x(t),
            axis_y + 4.0,
            axis_y + 16.0,
            if k == 0 { "0".to_string() } else { draw::duration(t) }
        )?;
    }

    // Open connections and TIME-WAIT endpoints over time.
    let (open, tw) = counts(conns, &span, BUCKETS);
    let peak_open = open.iter().copied().max().unwrap_or(0);
    let peak_tw = tw.iter().copied().max().unwrap_or(0);
    let ymax = peak_open.max(peak_tw).max(1) as f64;
    let base = chart_top + CHART_H;
    writeln!(
        h,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text><text x=\"{:.1}\" y=\"{base:.1}\" text-anchor=\"end\">0</text>",
        LABEL_W - 6.0,
        chart_top + 4.0,
        ymax as u64,
        LABEL_W - 6.0
    )?;
    writeln!(
        h,
        "<line x1=\"{LABEL_W}\" y1=\"{base:.1}\" x2=\"{:.1}\" y2=\"{base:.1}\" stroke=\"#566074\"/>",
        LABEL_W + bar_w
    )?;
    for (v, colour, fill) in [(&tw, "#e59a3c", "#fbe3c4"), (&open, "#3b6fd4", "none")] {
        let mut d = format!("M{LABEL_W:.1} {base:.1}");
        let step = bar_w / BUCKETS as f64;
        for (k, &n) in v.iter().enumerate() {
            let y = base - n as f64 / ymax * CHART_H;
            let x0 = LABEL_W + k as f64 * step;
            let _ = write!(d, "L{x0:.1} {y:.1}L{:.1} {y:.1}", x0 + step);
        }
        let _ = write!(d, "L{:.1} {base:.1}", LABEL_W + bar_w);
        writeln!(
            h,
            "<path d=\"{d}\" fill=\"{fill}\" fill-opacity=\"0.7\" stroke=\"{colour}\" stroke-width=\"1.5\"/>"
        )?;
    }
    let lx = LABEL_W + bar_w + 12.0;
    writeln!(
        h,
        "<rect x=\"{lx:.1}\" y=\"{:.1}\" width=\"12\" height=\"4\" fill=\"#3b6fd4\"/><text x=\"{:.1}\" y=\"{:.1}\">open connections (peak {peak_open})</text>",
        chart_top + 6.0,
        lx + 18.0,
        chart_top + 11.0
    )?;
    writeln!(
        h,
        "<rect x=\"{lx:.1}\" y=\"{:.1}\" width=\"12\" height=\"10\" fill=\"url(#tw)\"/><text x=\"{:.1}\" y=\"{:.1}\">in TIME-WAIT (peak {peak_tw})</text>",
        chart_top + 22.0,
        lx + 18.0,
        chart_top + 31.0
    )?;
    writeln!(
        h,
        "<text x=\"{LABEL_W}\" y=\"{:.1}\">bar: open · dot: request · black tick: closed (FIN) · red ×: reset (RST) · hatched: TIME-WAIT</text>",
        base + 26.0
    )?;
    writeln!(h, "</svg>")
}

/// HTML-escapes text (element content and quoted attribute values).
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => o.push('\u{fffd}'),
            c => o.push(c),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::draw::sample;

    fn render(s: &Summary, conns: &[ConnReport], ladders: &[Ladder]) -> String {
        let mut v = Vec::new();
        write_html(&mut v, s, conns, ladders).unwrap();
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn text_from_the_capture_is_escaped() {
        let evil = "<script>alert('x')</script>&";
        let mut c = sample::conn(1, 0.0, 0.010);
        c.requests[0].method = evil.into();
        c.requests[0].target = format!("/{evil}").into();
        let mut l = sample::ladder(&c);
        l.events[0].http = Some(format!("GET /{evil} HTTP/1.1"));
        let s = Summary {
            source: format!("cap{evil}.pcap"),
            link_type: evil.to_string(),
            diagnosis: vec![evil.to_string()],
            ..Default::default()
        };
        let h = render(&s, &[c], &[l]);
        assert!(!h.contains("<script"), "{h}");
        assert!(!h.contains("alert('x')"), "{h}");
        assert!(h.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;"));
    }

    #[test]
    fn an_empty_capture_still_makes_a_page() {
        let h = render(&Summary::default(), &[], &[]);
        assert!(h.starts_with("<!DOCTYPE html>") && h.trim_end().ends_with("</html>"));
        assert!(h.contains("No TCP connections."));
    }

    #[test]
    fn one_svg_row_per_connection_up_to_the_cap() {
        let conns: Vec<ConnReport> = (1..=MAX_SVG_ROWS as u64 + 5)
            .map(|i| sample::conn(i, i as f64 * 0.001, i as f64 * 0.001 + 0.0005))
            .collect();
        let h = render(&Summary::default(), &conns, &[]);
        assert_eq!(h.matches("<g><title>").count(), MAX_SVG_ROWS);
        assert!(h.contains("5 more connections not drawn"));
    }
}
