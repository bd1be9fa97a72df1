//! The driver: wires capture → decode → track → http → report for one
//! source. It owns no analysis rules of its own; it only moves data between
//! the stages and collects what `report` renders.

use crate::capture::{CaptureError, FileSource, Packet};
use crate::cli::{AnalysisArgs, Format};
use crate::decode::{self, Skip};
use crate::http::{HttpConfig, HttpConn};
use crate::report::{self, line::LineRenderer, model::ConnReport, model::Summary};
use crate::track::{ConnId, ConnRecord, TrackConfig, Tracker};
use rustc_hash::FxHashMap;
use std::io::Write;
use std::path::Path;

/// Packet counts for one source.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PacketCounts {
    pub total: u64,
    pub tcp: u64,
    pub skipped: u64,
    pub not_ip: u64,
    pub not_tcp: u64,
    pub fragments: u64,
    pub truncated: u64,
    pub malformed: u64,
    /// TCP packets whose header was cut or damaged (printed, not tracked).
    pub damaged_tcp: u64,
    /// TCP packets whose payload the snapshot length cut.
    pub payload_cut: u64,
}

/// What one run over a source produced.
#[derive(Debug, Default)]
pub struct Outcome {
    pub packets: PacketCounts,
    pub link_type: String,
    pub last_ts: Option<crate::capture::Timestamp>,
    pub summary: Option<Summary>,
}

/// Per-connection HTTP state, kept beside the tracker's table.
struct HttpSlot {
    conn: HttpConn,
    /// Endpoint that is side 0 (the lower address of the 4-tuple).
    side0: std::net::SocketAddr,
    /// Whether the tracker was already told who sent the first request.
    hinted: bool,
}

/// One source's analysis state, fed packet by packet.
pub struct Analyzer<'o> {
    args: &'o AnalysisArgs,
    lines: Option<LineRenderer>,
    tracker: Tracker,
    http: FxHashMap<ConnId, HttpSlot>,
    http_cfg: HttpConfig,
    /// Ended connections (not kept with ndjson, which streams them).
    ended: Vec<ConnReport>,
    totals: Totals,
    source: String,
    pub outcome: Outcome,
}

/// Running totals over connections already turned into reports.
#[derive(Default)]
struct Totals {
    connections: u64,
    with_http: u64,
    requests: u64,
    responses: u64,
    /// Connections that hit `--max-header-bytes` / `--reasm-window`.
    header_capped: u64,
    window_capped: u64,
}

impl<'o> Analyzer<'o> {
    pub fn new(args: &'o AnalysisArgs, source: &str, link_type: &str) -> Self {
        let lines = (!args.quiet && args.format == Format::Table).then(LineRenderer::new);
        let tracker = Tracker::new(TrackConfig {
            time_wait_secs: args.time_wait.max(0.0),
            max_connections: args.max_connections.max(1),
        });
        Analyzer {
            args,
            lines,
            tracker,
            http: FxHashMap::default(),
            http_cfg: HttpConfig {
                reasm_window: args.reasm_window,
                max_header_bytes: args.max_header_bytes,
                ..HttpConfig::default()
            },
            ended: Vec::new(),
            totals: Totals::default(),
            source: source.to_string(),
            outcome: Outcome {
                link_type: link_type.to_string(),
                ..Default::default()
            },
        }
    }

    pub fn on_packet(
        &mut self,
        link: crate::capture::LinkType,
        pkt: &Packet<'_>,
        out: &mut dyn Write,
    ) -> std::io::Result<()> {
        let c = &mut self.outcome.packets;
        c.total += 1;
        self.outcome.last_ts = Some(pkt.ts);
        let d = match decode::decode(link, pkt) {
            Ok(d) => d,
            Err(skip) => {
                c.skipped += 1;
                match skip {
                    Skip::NotIp => c.not_ip += 1,
                    Skip::NotTcp => c.not_tcp += 1,
                    Skip::Fragment => c.fragments += 1,
                    Skip::Truncated => c.truncated += 1,
                    Skip::Malformed => c.malformed += 1,
                }
                return Ok(());
            }
        };
        c.tcp += 1;
        let observed = match d.segment(pkt.ts) {
            Some(seg) => {
                if (seg.payload.len() as u32) < seg.payload_len {
                    self.outcome.packets.payload_cut += 1;
                }
                self.on_segment(&seg)
            }
            None => {
                self.outcome.packets.damaged_tcp += 1;
                None
            }
        };
        if let Some(r) = &mut self.lines {
            let line = r.render(pkt.ts, &d);
            out.write_all(line)?;
            if self.args.annotate {
                if let Some(o) = &observed {
                    write!(out, "  #{}", o.conn.0)?;
                    for t in &o.transitions {
                        write!(out, " {} {}→{}", t.role.name(), t.from.name(), t.to.name())?;
                    }
                }
            }
            out.write_all(b"\n")?;
        }
        self.collect_ended(out)
    }

    fn on_segment(&mut self, seg: &crate::decode::Segment<'_>) -> Option<crate::track::Observed> {
        let o = self.tracker.on_segment(seg)?;
        let f = seg.flags;
        if seg.payload_len > 0 || f.syn() || self.http.contains_key(&o.conn) {
            let side0 = seg.src.min(seg.dst);
            let slot = self.http.entry(o.conn).or_insert_with(|| HttpSlot {
                conn: HttpConn::new(),
                side0,
                hinted: false,
            });
            let side = u8::from(seg.src != slot.side0);
            slot.conn.on_segment(
                &self.http_cfg,
                side,
                seg.seq,
                f.syn(),
                f.fin(),
                f.rst(),
                seg.payload,
                seg.payload_len,
                seg.ts,
            );
            if !slot.hinted {
                if let Some(req_side) = slot.conn.requester_side() {
                    slot.hinted = true;
                    let client = if req_side == 0 {
                        slot.side0
                    } else if seg.src == slot.side0 {
                        seg.dst
                    } else {
                        seg.src
                    };
                    self.tracker.set_client(o.conn, client);
                }
            }
        }
        Some(o)
    }

    /// Turns connections the tracker says are over into reports (streamed
    /// out with ndjson), releasing their HTTP state.
    fn collect_ended(&mut self, out: &mut dyn Write) -> std::io::Result<()> {
        for rec in self.tracker.drain_ended() {
            let rep = self.conn_report(rec);
            self.totals.connections += 1;
            self.totals.with_http += u64::from(rep.http_requests > 0);
            self.totals.requests += rep.http_requests;
            self.totals.responses += rep.http_responses;
            match self.args.format {
                Format::Ndjson => report::json::write_ndjson_conn(out, &self.source, &rep)?,
                _ => self.ended.push(rep),
            }
        }
        Ok(())
    }

    fn conn_report(&mut self, record: ConnRecord) -> ConnReport {
        let mut rep = ConnReport {
            http_requests: 0,
            http_responses: 0,
            requests: Vec::new(),
            protocol: crate::http::Protocol::Unknown,
            skipped_bytes: 0,
            client_asked_close: false,
            server_said_close: false,
            http10: false,
            record,
        };
        if let Some(mut slot) = self.http.remove(&rep.record.id) {
            slot.conn.finish(&self.http_cfg);
            let client_side = u8::from(rep.record.client != slot.side0);
            let h = &slot.conn;
            rep.requests = h
                .requests()
                .iter()
                .filter(|r| r.side == client_side)
                .cloned()
                .collect();
            // Requests past the kept list still count.
            rep.http_requests = if h.requests().len() as u64 == h.request_count() {
                rep.requests.len() as u64
            } else {
                h.request_count()
            };
            rep.http_responses = h.response_count();
            rep.protocol = h.protocol();
            rep.skipped_bytes = h.skipped_bytes();
            rep.client_asked_close = rep.requests.iter().any(|r| r.connection_close);
            rep.server_said_close = rep.requests.iter().any(|r| r.response_close);
            rep.http10 = rep.requests.iter().any(|r| r.version == 0);
            let lim = h.limits_hit();
            self.totals.header_capped += u64::from(lim.header_too_large);
            self.totals.window_capped += u64::from(lim.window_overflow);
        }
        rep
    }

    /// End of input: settle the tracker, collect everything, render.
    pub fn finish(&mut self, out: &mut dyn Write) -> std::io::Result<()> {
        let end = self.outcome.last_ts.unwrap_or_default();
        self.tracker.finish(end);
        self.collect_ended(out)?;
        for rec in self.tracker.records() {
            let rep = self.conn_report(rec);
            self.totals.connections += 1;
            self.totals.with_http += u64::from(rep.http_requests > 0);
            self.totals.requests += rep.http_requests;
            self.totals.responses += rep.http_responses;
            match self.args.format {
                Format::Ndjson => report::json::write_ndjson_conn(out, &self.source, &rep)?,
                _ => self.ended.push(rep),
            }
        }
        self.ended.sort_by_key(|r| r.record.id);
        let summary = self.summary();
        self.outcome.summary = Some(summary.clone());
        if self.args.no_summary {
            return Ok(());
        }
        match self.args.format {
            Format::Table => {
                if !self.args.quiet && self.outcome.packets.total > 0 {
                    writeln!(out)?;
                }
                report::table::write_table(out, &self.ended, table_width())?;
                report::table::write_summary(out, &summary)
            }
            Format::Json => report::json::write_json(out, &summary, &self.ended),
            Format::Ndjson => report::json::write_ndjson_totals(out, &summary),
            Format::Csv => {
                writeln!(out, "{}", report::json::CSV_HEADER)?;
                for c in &self.ended {
                    report::json::write_csv_row(out, &self.source, c)?;
                }
                Ok(())
            }
        }
    }

    fn summary(&self) -> Summary {
        let p = &self.outcome.packets;
        let track = self.tracker.stats();
        let mut s = Summary {
            source: self.source.clone(),
            link_type: self.outcome.link_type.clone(),
            packets_total: p.total,
            packets_tcp: p.tcp,
            packets_skipped: p.skipped,
            connections: self.totals.connections,
            connections_with_http: self.totals.with_http,
            http_requests: self.totals.requests,
            http_responses: self.totals.responses,
            capped: track.dropped_at_cap > 0,
            payload_cut: p.payload_cut,
            header_capped: self.totals.header_capped,
            window_capped: self.totals.window_capped,
            track,
            diagnosis: Vec::new(),
        };
        s.diagnosis = crate::diagnosis::diagnose(&s, &self.ended);
        s
    }
}

/// The table's width: the terminal's when it is one, else 100 columns.
fn table_width() -> u16 {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .filter(|w: &u16| *w >= 60)
        .unwrap_or(100)
}

/// Error of a run: either the capture broke (the report so far was printed)
/// or writing the output failed.
#[derive(Debug)]
pub enum RunError {
    Capture(CaptureError),
    Io(std::io::Error),
}

impl From<std::io::Error> for RunError {
    fn from(e: std::io::Error) -> Self {
        RunError::Io(e)
    }
}

/// Analyses one saved capture, writing lines and the report to `out` and
/// tcpdump's status line to `status`.
pub fn read_file(
    path: &Path,
    args: &AnalysisArgs,
    out: &mut dyn Write,
    status: &mut dyn Write,
) -> Result<Outcome, RunError> {
    let filter = crate::capture::filter_expression(args.port, args.filter.as_deref());
    let mut src = FileSource::open(path, filter.as_deref()).map_err(RunError::Capture)?;
    writeln!(status, "{}", src.status_line())?;
    if src.link == crate::capture::LinkType::LinuxSll2 {
        writeln!(status, "Warning: interface names might be incorrect")?;
    }
    let link = src.link;
    let mut an = Analyzer::new(args, &path.display().to_string(), src.link_name());
    let broken = loop {
        match src.next_with(|p| an.on_packet(link, &p, out)) {
            Ok(Some(r)) => r?,
            Ok(None) => break None,
            Err(e) => break Some(e),
        }
    };
    an.finish(out)?;
    match broken {
        Some(e) => Err(RunError::Capture(e)),
        None => Ok(an.outcome),
    }
}

/// Captures live until Ctrl-C/SIGTERM, `-c` or `--duration`, analysing
/// through the same `Analyzer` as `read`. Lines are flushed as they come.
pub fn live(
    args: &crate::cli::LiveArgs,
    out: &mut dyn Write,
    status: &mut dyn Write,
) -> Result<Outcome, RunError> {
    use crate::capture::{LiveCapture, LiveConfig, LiveEvent};
    let cfg = LiveConfig {
        interface: args.interface.clone(),
        filter: crate::capture::filter_expression(
            args.analysis.port,
            args.analysis.filter.as_deref(),
        ),
        snaplen: args.snaplen,
        count: args.count,
        duration: args
            .duration
            .map(|d| std::time::Duration::from_secs_f64(d.max(0.0))),
        write: args.write.clone(),
    };
    let cap = LiveCapture::start(&cfg).map_err(RunError::Capture)?;
    if args.interface.is_none() {
        writeln!(
            status,
            "connscope: capturing on {} (the default device; choose one with -i)",
            cap.interface
        )?;
    }
    writeln!(status, "{}", cap.status_line())?;
    let stop = cap.stop_handle();
    // Ctrl-C and SIGTERM end the capture, not the process: the summary follows.
    let _ = ctrlc::set_handler(move || stop.store(true, std::sync::atomic::Ordering::Relaxed));
    let mut an = Analyzer::new(&args.analysis, &format!("live:{}", cap.interface), "");
    let mut end_error = None;
    let mut stats = Default::default();
    while let Some(ev) = cap.recv() {
        match ev {
            LiveEvent::Packet(p) => {
                an.on_packet(cap.link, &p.as_packet(), out)?;
                out.flush()?;
            }
            LiveEvent::Stopped { stats: s, error } => {
                stats = s;
                end_error = error;
                break;
            }
        }
    }
    an.finish(out)?;
    out.flush()?;
    let s: crate::capture::LiveStats = stats;
    writeln!(status, "{} packets captured", s.captured)?;
    writeln!(status, "{} packets received by filter", s.received)?;
    writeln!(status, "{} packets dropped by kernel", s.dropped)?;
    if s.if_dropped > 0 {
        writeln!(status, "{} packets dropped by interface", s.if_dropped)?;
    }
    match end_error {
        Some(e) => Err(RunError::Capture(e)),
        None => Ok(an.outcome),
    }
}
