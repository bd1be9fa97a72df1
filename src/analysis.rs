//! The driver: wires capture → decode → track → http → report for one
//! source. It owns no analysis rules of its own; it only moves data between
//! the stages and collects what `report` renders.

use crate::capture::{
    CaptureError, FileSource, LinkType, LiveCapture, LiveConfig, LiveEvent, LiveStats, Packet, Side,
};
use crate::cli::LadderSel;
use crate::cli::{AnalysisArgs, Format};
use crate::decode::{self, Early, Skip};
use crate::diagnosis::Facts;
use crate::http::{HttpConfig, HttpConn, Pre};
use crate::report::model::{Ladder, LadderEvent};
use crate::report::{self, line::LineRenderer, model::ConnReport, model::Summary};
use crate::track::Role;
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

impl PacketCounts {
    fn count_skip(&mut self, skip: Skip) {
        self.skipped += 1;
        match skip {
            Skip::NotIp => self.not_ip += 1,
            Skip::NotTcp => self.not_tcp += 1,
            Skip::Fragment => self.fragments += 1,
            Skip::Truncated => self.truncated += 1,
            Skip::Malformed => self.malformed += 1,
        }
    }
}

/// What one run over a source produced.
#[derive(Debug, Default)]
pub struct Outcome {
    pub packets: PacketCounts,
    pub link_type: String,
    pub last_ts: Option<crate::capture::Timestamp>,
    pub summary: Option<Summary>,
    pub live_stats: Option<LiveStats>,
}

/// Per-connection HTTP state, kept beside the tracker's table.
struct HttpSlot {
    conn: Box<HttpConn>,
    /// Endpoint that is side 0 (the lower address of the 4-tuple).
    side0: std::net::SocketAddr,
    /// Whether the tracker was already told who sent the first request.
    hinted: bool,
}

/// Segments kept for ladder diagrams, per connection.
struct LadderLog {
    events: Vec<(std::net::SocketAddr, LadderEvent)>,
    /// First sequence number seen from each endpoint (ISN for a SYN).
    base: Vec<(std::net::SocketAddr, u32)>,
    dropped: u64,
}

/// Most connections and events per connection kept for `--ladder all`/`--html`.
const LADDER_MAX_CONNS: usize = 200;
const LADDER_MAX_EVENTS: usize = 2000;

/// One source's analysis state, fed packet by packet.
pub struct Analyzer<'o> {
    args: &'o AnalysisArgs,
    lines: Option<LineRenderer>,
    tracker: Tracker,
    http: FxHashMap<ConnId, HttpSlot>,
    http_cfg: HttpConfig,
    /// HTTP states of ended connections, reset, for new ones to reuse.
    #[allow(clippy::vec_box)] // the boxes move to and from `http` without copying
    spare_http: Vec<Box<HttpConn>>,
    /// Request lists of reports not kept, for reset HTTP states.
    spare_requests: Vec<Vec<crate::http::Request>>,
    /// Ended connections: all of them for JSON, CSV and HTML; the table's
    /// rows (or the timeline's sample) otherwise; none with ndjson, which
    /// streams them.
    ended: Vec<ConnReport>,
    /// What the diagnosis reads of each connection (of the first
    /// `DIAG_SAMPLE` in the bounded modes).
    facts: Vec<Facts>,
    /// Where in `ended` its highest id is, once the table's rows are full.
    top_row: Option<(usize, ConnId)>,
    /// The tracker's records being turned into reports (a buffer kept
    /// between packets).
    drained: Vec<ConnRecord>,
    totals: Totals,
    source: String,
    ladders: FxHashMap<ConnId, LadderLog>,
    done_ladders: Vec<Ladder>,
    /// Ended connections not kept (past `diag_sample` in bounded modes).
    not_kept: u64,
    /// `DIAG_SAMPLE` (tests make it small).
    diag_sample: usize,
    /// Write the CSV header (false for the later files of one run).
    pub csv_header: bool,
    cap_warned: bool,
    pub outcome: Outcome,
}

/// Most reset HTTP states kept for reuse.
const SPARE_HTTP: usize = 64;

/// Connections kept for the table and the diagnosis when the output does
/// not need every one of them (table without --html, ndjson).
const DIAG_SAMPLE: usize = 50_000;

/// Running totals over connections already turned into reports.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Totals {
    connections: u64,
    with_http: u64,
    requests: u64,
    responses: u64,
    /// Connections that hit `--max-header-bytes` / `--reasm-window`.
    header_capped: u64,
    window_capped: u64,
}

impl Totals {
    /// One ended connection, with its requests and responses.
    fn add(&mut self, requests: u64, responses: u64) {
        self.connections += 1;
        self.with_http += u64::from(requests > 0);
        self.requests += requests;
        self.responses += responses;
    }
}

impl<'o> Analyzer<'o> {
    pub fn new(args: &'o AnalysisArgs, source: &str, link_type: &str) -> Self {
        let lines = prints_lines(args).then(LineRenderer::new);
        let tracker = Tracker::new(TrackConfig {
            time_wait_secs: args.time_wait.max(0.0),
            max_connections: args.max_connections.max(1),
        });
        Analyzer {
            args,
            lines,
            tracker,
            http: FxHashMap::default(),
            spare_http: Vec::new(),
            spare_requests: Vec::new(),
            http_cfg: HttpConfig {
                reasm_window: args.reasm_window,
                max_header_bytes: args.max_header_bytes,
                ..HttpConfig::default()
            },
            ended: Vec::new(),
            facts: Vec::new(),
            top_row: None,
            drained: Vec::new(),
            totals: Totals::default(),
            source: source.to_string(),
            ladders: FxHashMap::default(),
            done_ladders: Vec::new(),
            not_kept: 0,
            diag_sample: DIAG_SAMPLE,
            csv_header: true,
            cap_warned: false,
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
        self.outcome.packets.total += 1;
        self.outcome.last_ts = Some(pkt.ts);
        let d = match decode::decode(link, pkt) {
            Ok(d) => d,
            Err(skip) => {
                self.outcome.packets.count_skip(skip);
                return Ok(());
            }
        };
        let seg = d.segment(pkt.ts);
        let observed = self.on_tcp(seg.as_ref(), None);
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

    /// `on_packet` for a packet decoded ahead (`decode::Early`), when no
    /// line is printed: the same counts and analysis, without the decode.
    /// `pre`: the payload read ahead too (`Ahead`), or not.
    pub fn on_early(
        &mut self,
        pkt: &Packet<'_>,
        early: &Early,
        pre: Option<&mut Pre>,
        out: &mut dyn Write,
    ) -> std::io::Result<()> {
        debug_assert!(self.lines.is_none());
        self.outcome.packets.total += 1;
        self.outcome.last_ts = Some(pkt.ts);
        match early {
            Early::Skip(skip) => {
                self.outcome.packets.count_skip(*skip);
                return Ok(());
            }
            Early::Damaged => self.on_tcp(None, None),
            Early::Segment(e) => self.on_tcp(Some(&e.segment(pkt.ts, pkt.data)), pre),
        };
        self.collect_ended(out)
    }

    /// A TCP packet: its segment, or `None` when the header was damaged
    /// (printed, not tracked). By reference: by value, the 112-byte segment
    /// was copied into this frame for every packet, and the profile-guided
    /// build ran churn 13 % slower (the plain build the same).
    #[inline]
    fn on_tcp(
        &mut self,
        seg: Option<&crate::decode::Segment<'_>>,
        pre: Option<&mut Pre>,
    ) -> Option<crate::track::Observed> {
        let c = &mut self.outcome.packets;
        c.tcp += 1;
        let Some(seg) = seg else {
            c.damaged_tcp += 1;
            return None;
        };
        if (seg.payload.len() as u32) < seg.payload_len {
            c.payload_cut += 1;
        }
        self.on_segment(seg, pre)
    }

    fn on_segment(
        &mut self,
        seg: &crate::decode::Segment<'_>,
        pre: Option<&mut Pre>,
    ) -> Option<crate::track::Observed> {
        let observed = self.tracker.on_segment(seg);
        // The cap: warn once, as it happens (checked per new connection only).
        if !self.cap_warned && observed.as_ref().is_none_or(|o| o.new_connection) {
            let st = self.tracker.stats();
            if st.dropped_at_cap + st.evicted > 0 {
                self.cap_warned = true;
                eprintln!(
                    "connscope: warning: {} connections tracked (--max-connections): half-open ones (a SYN and nothing else) are reported early to make room; when there are none, new connections are counted, not tracked, until some end",
                    self.args.max_connections
                );
            }
        }
        let o = observed?;
        if self.wants_ladder(o.conn) {
            self.log_ladder(&o, seg);
        }
        let f = seg.flags;
        // HTTP state starts at the first payload byte (a SYN flood costs
        // none); the SYNs the tracker saw are replayed into it then.
        // One hash lookup: the entry is filled only at a payload byte.
        let entry = self.http.entry(o.conn);
        if seg.payload_len > 0 || matches!(entry, std::collections::hash_map::Entry::Occupied(_)) {
            let side0 = seg.src.min(seg.dst);
            let (tracker, cfg) = (&self.tracker, &self.http_cfg);
            let spare = &mut self.spare_http;
            let slot = entry.or_insert_with(|| {
                let mut conn = spare.pop().unwrap_or_default();
                for (addr, isn) in tracker.syn_seqs(o.conn).into_iter().flatten() {
                    if let Some(isn) = isn {
                        conn.on_segment(
                            cfg,
                            u8::from(addr != side0),
                            isn,
                            true,
                            false,
                            false,
                            &[],
                            0,
                            seg.ts,
                            None,
                        );
                    }
                }
                HttpSlot {
                    conn,
                    side0,
                    hinted: false,
                }
            });
            let side = u8::from(seg.src != slot.side0);
            let conn = &mut slot.conn;
            conn.on_segment(
                &self.http_cfg,
                side,
                seg.seq,
                f.syn(),
                f.fin(),
                f.rst(),
                seg.payload,
                seg.payload_len,
                seg.ts,
                pre,
            );
            if !slot.hinted {
                if let Some(req_side) = conn.requester_side() {
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

    fn wants_ladder(&self, id: ConnId) -> bool {
        match self.args.ladder {
            Some(LadderSel::One(n)) => id.0 == n,
            Some(LadderSel::All) => true,
            None => self.args.html.is_some(),
        }
    }

    fn log_ladder(&mut self, o: &crate::track::Observed, seg: &crate::decode::Segment<'_>) {
        if !self.ladders.contains_key(&o.conn)
            && self.ladders.len() + self.done_ladders.len() >= LADDER_MAX_CONNS
        {
            return;
        }
        let log = self.ladders.entry(o.conn).or_insert_with(|| LadderLog {
            events: Vec::new(),
            base: Vec::new(),
            dropped: 0,
        });
        if log.events.len() >= LADDER_MAX_EVENTS {
            log.dropped += 1;
            return;
        }
        let base_of =
            |log: &mut LadderLog, a: std::net::SocketAddr, first: Option<u32>| -> Option<u32> {
                if let Some((_, b)) = log.base.iter().find(|(x, _)| *x == a) {
                    return Some(*b);
                }
                let b = first?;
                log.base.push((a, b));
                Some(b)
            };
        let f = seg.flags;
        let own = base_of(log, seg.src, Some(seg.seq)).unwrap_or(seg.seq);
        // The peer's first sequence number: known from its own packets, or
        // from our ACK of its SYN (ack - 1) when it has not sent yet.
        let peer = if f.ack() {
            // Mid-stream (no SYN seen from the peer): the first ACK is its base, as tcpdump does.
            base_of(
                log,
                seg.dst,
                Some(if f.syn() {
                    seg.ack.wrapping_sub(1)
                } else {
                    seg.ack
                }),
            )
        } else {
            None
        };
        let http = http_first_line(seg.payload);
        log.events.push((
            seg.src,
            LadderEvent {
                ts: seg.ts,
                from: o.from,
                flags: f,
                rel_seq: seg.seq.wrapping_sub(own),
                rel_ack: f
                    .ack()
                    .then(|| peer.map(|p| seg.ack.wrapping_sub(p)).unwrap_or(seg.ack)),
                len: seg.payload_len,
                http,
                transitions: o.transitions.to_vec(),
            },
        ));
    }

    /// Turns connections the tracker says are over into reports (streamed
    /// out with ndjson), releasing their HTTP state.
    /// Called after every packet; most end no connection, so only that
    /// check is inlined into the packet path.
    #[inline]
    fn collect_ended(&mut self, out: &mut dyn Write) -> std::io::Result<()> {
        if !self.tracker.has_ended() {
            return Ok(());
        }
        self.collect_ended_now(out)
    }

    #[inline(never)]
    fn collect_ended_now(&mut self, out: &mut dyn Write) -> std::io::Result<()> {
        // In batches: at the end of a capture every open connection ends at
        // once, and their records should not all exist at the same time.
        let mut batch = std::mem::take(&mut self.drained);
        while self.tracker.has_ended() {
            self.tracker.drain_ended_into(4096, &mut batch);
            for rec in batch.drain(..) {
                if self.only_counted(&rec) {
                    self.count(&rec);
                    continue;
                }
                let rep = self.conn_report(rec);
                self.keep(rep, out)?;
            }
        }
        self.drained = batch;
        Ok(())
    }

    /// Counts an ended connection and keeps what the output needs of it:
    /// ndjson streams it; JSON and CSV list every connection; the table
    /// keeps its rows and the diagnosis the facts of a bounded sample, so
    /// memory does not grow with the capture.
    fn keep(&mut self, mut rep: ConnReport, out: &mut dyn Write) -> std::io::Result<()> {
        self.totals.add(rep.http_requests, rep.http_responses);
        let bounded = match self.args.format {
            Format::Json | Format::Csv => false,
            Format::Ndjson => {
                report::json::write_ndjson_conn(out, &self.source, &rep)?;
                true
            }
            Format::Table => self.args.html.is_none(),
        };
        if !bounded {
            self.facts.push(Facts::of(&rep));
            self.ended.push(rep);
            return Ok(());
        }
        if self.facts.len() >= self.diag_sample {
            self.not_kept += 1;
            self.recycle(rep);
            return Ok(());
        }
        if self.facts.capacity() == 0 {
            // Once, untouched until used: growing by doubling would touch
            // (and copy) half as much again.
            self.facts.reserve_exact(self.diag_sample);
        }
        self.facts.push(Facts::of(&rep));
        // Whole reports: the timeline and the HTML page draw the sample;
        // the table shows its first rows (the lowest ids of the sample).
        let rows = if self.args.timeline || self.args.html.is_some() {
            self.diag_sample
        } else if self.args.format == Format::Table {
            report::table::MAX_ROWS
        } else {
            0
        };
        if rows == 0 {
            self.recycle(rep);
            return Ok(());
        }
        // The timeline marks fewer than a screen's width: the middle of a
        // long request list goes.
        const KEEP: usize = 128;
        if rep.requests.len() > 2 * KEEP {
            let n = rep.requests.len();
            rep.requests.drain(KEEP..n - KEEP);
        }
        if self.ended.len() < rows {
            self.ended.push(rep);
            return Ok(());
        }
        // Full: the report replaces the highest id kept, if its own is lower
        // (rare: reports come mostly in id order).
        let (at, top) = *self.top_row.get_or_insert_with(|| {
            let top = self
                .ended
                .iter()
                .enumerate()
                .max_by_key(|(_, r)| r.record.id);
            top.map_or((0, ConnId(0)), |(i, r)| (i, r.record.id))
        });
        if rep.record.id < top {
            let old = std::mem::replace(&mut self.ended[at], rep);
            self.top_row = None;
            self.recycle(old);
        } else {
            self.recycle(rep);
        }
        Ok(())
    }

    /// A report not kept: its request list goes back to the HTTP states.
    /// `keep` would only count this connection: the table's sample is full
    /// and nothing else wants its report (no ndjson, JSON, CSV or HTML
    /// output, no ladder of it).
    fn only_counted(&self, rec: &ConnRecord) -> bool {
        self.args.format == Format::Table
            && self.args.html.is_none()
            && self.facts.len() >= self.diag_sample
            && !self.ladders.contains_key(&rec.id)
    }

    /// What `conn_report` and `keep` add to the totals for a connection
    /// that is only counted, without building its report (most of churn's
    /// 128k connections: a report was two moves of ~300 bytes each, and
    /// its request list).
    fn count(&mut self, rec: &ConnRecord) {
        let (mut requests, mut responses) = (0, 0);
        if let Some(HttpSlot {
            conn: mut h, side0, ..
        }) = self.http.remove(&rec.id)
        {
            h.finish(&self.http_cfg);
            requests = h.requests_from(u8::from(rec.client != side0));
            responses = h.response_count();
            let lim = h.limits_hit();
            self.totals.header_capped += u64::from(lim.header_too_large);
            self.totals.window_capped += u64::from(lim.window_overflow);
            if self.spare_http.len() < SPARE_HTTP {
                h.reset();
                self.spare_http.push(h);
            }
        }
        self.totals.add(requests, responses);
        self.not_kept += 1;
    }

    fn recycle(&mut self, rep: ConnReport) {
        if self.spare_requests.len() < SPARE_HTTP {
            self.spare_requests.push(rep.requests);
        }
    }

    fn conn_report(&mut self, record: ConnRecord) -> ConnReport {
        let rep = self.conn_report_inner(record);
        if let Some(log) = self.ladders.remove(&rep.record.id) {
            let client = rep.record.client;
            let events = log
                .events
                .into_iter()
                .map(|(src, mut e)| {
                    e.from = if src == client {
                        Role::Client
                    } else {
                        Role::Server
                    };
                    e
                })
                .collect();
            self.done_ladders.push(Ladder {
                conn: rep.clone(),
                events,
                dropped_events: log.dropped,
                time_wait_secs: self.args.time_wait,
            });
        }
        rep
    }

    fn conn_report_inner(&mut self, record: ConnRecord) -> ConnReport {
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
        if let Some(HttpSlot {
            conn: mut h, side0, ..
        }) = self.http.remove(&rep.record.id)
        {
            h.finish(&self.http_cfg);
            let client_side = u8::from(rep.record.client != side0);
            rep.http_requests = h.requests_from(client_side);
            rep.requests = h.take_requests();
            rep.requests.retain(|r| r.side == client_side);
            rep.http_responses = h.response_count();
            rep.protocol = h.protocol();
            rep.skipped_bytes = h.skipped_bytes();
            rep.client_asked_close = rep.requests.iter().any(|r| r.connection_close);
            rep.server_said_close = rep.requests.iter().any(|r| r.response_close);
            rep.http10 = rep.requests.iter().any(|r| r.version == 0);
            let lim = h.limits_hit();
            self.totals.header_capped += u64::from(lim.header_too_large);
            self.totals.window_capped += u64::from(lim.window_overflow);
            if self.spare_http.len() < SPARE_HTTP {
                h.reset();
                if let Some(list) = self.spare_requests.pop() {
                    h.reuse_requests(list);
                }
                self.spare_http.push(h);
            }
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
            self.keep(rep, out)?;
        }
        // Ids are unique (an unstable sort gives the one order); reports
        // mostly arrive in order already.
        if !self.ended.is_sorted_by_key(|r| r.record.id) {
            self.ended.sort_unstable_by_key(|r| r.record.id);
        }
        self.done_ladders.sort_by_key(|l| l.conn.record.id);
        let summary = self.summary();
        self.outcome.summary = Some(summary.clone());
        if let Some(path) = &self.args.html {
            let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
            report::html::write_html(&mut f, &summary, &self.ended, &self.done_ladders)?;
            f.flush()?;
        }
        if self.args.no_summary {
            return Ok(());
        }
        match self.args.format {
            Format::Table => {
                if !self.args.quiet && self.outcome.packets.total > 0 {
                    writeln!(out)?;
                }
                report::table::write_table(
                    out,
                    &self.ended,
                    self.totals.connections,
                    table_width(),
                )?;
                report::table::write_summary(out, &summary, self.args.use_color())?;
                if self.args.ladder.is_some() {
                    if let (Some(LadderSel::One(n)), true) =
                        (self.args.ladder, self.done_ladders.is_empty())
                    {
                        writeln!(
                            out,
                            "\nno connection #{n} in this capture (ids run 1 to {})",
                            self.totals.connections
                        )?;
                    }
                    for l in &self.done_ladders {
                        writeln!(out)?;
                        report::ladder::write_ladder(out, l, table_width(), self.args.ascii)?;
                    }
                }
                if self.args.timeline {
                    writeln!(out)?;
                    report::timeline::write_timeline(
                        out,
                        &self.ended,
                        &summary,
                        table_width(),
                        self.args.ascii,
                    )?;
                }
                Ok(())
            }
            Format::Json => report::json::write_json(out, &summary, &self.ended),
            Format::Ndjson => report::json::write_ndjson_totals(out, &summary),
            Format::Csv => {
                if self.csv_header {
                    writeln!(out, "{}", report::json::CSV_HEADER)?;
                }
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
            capped: track.dropped_at_cap + track.evicted > 0,
            payload_cut: p.payload_cut,
            header_capped: self.totals.header_capped,
            window_capped: self.totals.window_capped,
            track,
            diagnosis: Vec::new(),
            findings: Vec::new(),
            diagnosis_note: None,
        };
        s.findings = crate::diagnosis::findings(&s, &self.facts);
        if self.not_kept > 0 {
            s.diagnosis_note = Some(format!(
                "the diagnosis looked at the first {} of {} connections",
                self.facts.len(),
                self.totals.connections
            ));
        }
        s.diagnosis = s.findings.iter().map(|f| f.detail.clone()).collect();
        s
    }
}

/// Per-packet lines are printed (the table format, not quiet).
fn prints_lines(args: &AnalysisArgs) -> bool {
    !args.quiet && args.format == Format::Table
}

/// A progress line on stderr for long files, only when stderr is a
/// terminal and the file has taken more than a second so far.
struct Progress {
    enabled: bool,
    started: std::time::Instant,
    size: u64,
    shown: bool,
}

impl Progress {
    fn new(path: &Path) -> Self {
        use std::io::IsTerminal;
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        Progress {
            enabled: std::io::stderr().is_terminal(),
            started: std::time::Instant::now(),
            size,
            shown: false,
        }
    }

    fn tick(&mut self, bytes: Option<u64>, packets: u64, conns: u64) {
        let secs = self.started.elapsed().as_secs_f64();
        if !self.enabled || secs < 1.0 {
            return;
        }
        let mb = |b: u64| b as f64 / 1e6;
        let read = match bytes {
            Some(b) if self.size > 0 => format!(
                "{:5.1}% {:.0}/{:.0} MB, {:.0} MB/s, ",
                100.0 * b as f64 / self.size as f64,
                mb(b),
                mb(self.size),
                mb(b) / secs
            ),
            _ => String::new(),
        };
        eprint!("\r{read}{packets} packets, {conns} connections ");
        self.shown = true;
    }

    fn done(&mut self) {
        if self.shown {
            eprint!("\r\x1b[2K");
        }
    }
}

/// The HTTP request or status line a payload starts with (for the ladder).
fn http_first_line(p: &[u8]) -> Option<String> {
    let end = p.iter().take(120).position(|&c| c == b'\r' || c == b'\n')?;
    let line = &p[..end];
    if !line.iter().all(|c| (0x20..0x7f).contains(c)) {
        return None;
    }
    let s = std::str::from_utf8(line).ok()?;
    let is_status = s.starts_with("HTTP/1.");
    let is_request =
        s.split(' ').next().is_some_and(|m| {
            !m.is_empty() && m.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
        }) && s.contains(" HTTP/");
    (is_status || is_request).then(|| s.to_string())
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
/// `first` is false for the second and later files of one run (CSV then
/// writes its header once).
pub fn read_file(
    path: &Path,
    args: &AnalysisArgs,
    out: &mut dyn Write,
    status: &mut dyn Write,
    first: bool,
) -> Result<Outcome, RunError> {
    let filter = crate::capture::filter_expression(args.port, args.filter.as_deref());
    let filter = filter.as_deref();
    if prints_lines(args) {
        let src = FileSource::open(path, filter).map_err(RunError::Capture)?;
        read_source(
            src,
            path,
            args,
            out,
            status,
            first,
            |an, link, p, _, _, out| an.on_packet(link, p, out),
        )
    } else {
        // No lines: headers are decoded, and HTTP heads parsed, on the
        // reader thread, which has time to spare; the analysis thread is
        // the busier one.
        let src = FileSource::open_with(path, filter, Ahead::of).map_err(RunError::Capture)?;
        read_source(
            src,
            path,
            args,
            out,
            status,
            first,
            |an, _, p, a, pres, out| an.on_early(p, &a.early, a.pre(pres), out),
        )
    }
}

/// What the reader thread makes of a packet when no lines are printed: its
/// headers decoded, and its payload read as the start of an HTTP head (kept
/// in the batch's store: most packets have none, and a small record per
/// packet is cheaper to write and read across the cores).
#[derive(Debug)]
pub struct Ahead {
    pub early: Early,
    /// Where the payload read ahead is in the batch's store (`NONE`: not read).
    pre: u32,
}

impl Ahead {
    const NONE: u32 = u32::MAX;

    /// The heads are parsed only when the analysis is `behind` (it parses
    /// them itself otherwise): the reader is the slower side on captures
    /// of few long connections.
    pub fn of(link: LinkType, pkt: &Packet<'_>, behind: bool, store: &mut Vec<Pre>) -> Ahead {
        let early = Early::of(link, pkt);
        let payload = match &early {
            Early::Segment(e) if behind => e.payload(pkt.data),
            _ => &[],
        };
        let pre = if payload.is_empty() {
            Self::NONE
        } else {
            store.push(Pre::of(payload));
            u32::try_from(store.len() - 1).unwrap_or(Self::NONE)
        };
        Ahead { early, pre }
    }

    /// The payload read ahead, if it was, from the batch's store.
    pub fn pre<'s>(&self, store: &'s mut [Pre]) -> Option<&'s mut Pre> {
        store.get_mut(self.pre as usize)
    }
}

/// How `read_file` hands a packet (and what the reader thread made of it) to the analyzer.
/// (A generic rather than a function pointer: inlined into the loop.)
trait Handle<E, S>:
    Fn(&mut Analyzer<'_>, LinkType, &Packet<'_>, &mut E, &mut S, &mut dyn Write) -> std::io::Result<()>
{
}

impl<E, S, H> Handle<E, S> for H where
    H: Fn(
        &mut Analyzer<'_>,
        LinkType,
        &Packet<'_>,
        &mut E,
        &mut S,
        &mut dyn Write,
    ) -> std::io::Result<()>
{
}

fn read_source<E: Send + 'static, S: Side>(
    mut src: FileSource<E, S>,
    path: &Path,
    args: &AnalysisArgs,
    out: &mut dyn Write,
    status: &mut dyn Write,
    first: bool,
    handle: impl Handle<E, S>,
) -> Result<Outcome, RunError> {
    writeln!(status, "{}", src.status_line())?;
    if src.link == crate::capture::LinkType::LinuxSll2 {
        writeln!(status, "Warning: interface names might be incorrect")?;
    }
    let link = src.link;
    let mut an = Analyzer::new(args, &path.display().to_string(), src.link_name());
    an.csv_header = first;
    let mut progress = Progress::new(path);
    let broken = loop {
        let before = an.outcome.packets.total;
        match src.each_in_batch(|p, e, store| handle(&mut an, link, &p, e, store, out)) {
            Ok(Some(r)) => r?,
            Ok(None) => break None,
            Err(e) => break Some(e),
        }
        // Every 65,536 packets, as a batch ends.
        if an.outcome.packets.total >> 16 != before >> 16 {
            progress.tick(
                src.bytes_read(),
                an.outcome.packets.total,
                an.tracker.stats().connections,
            );
        }
    };
    progress.done();
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
    analyse_live(&cap, &args.analysis, out, status)
}

/// Runs the analysis over a started live capture until it stops, then
/// prints the report and libpcap's counts (as tcpdump does, on `status`).
pub fn analyse_live(
    cap: &LiveCapture,
    args: &AnalysisArgs,
    out: &mut dyn Write,
    status: &mut dyn Write,
) -> Result<Outcome, RunError> {
    let mut an = Analyzer::new(args, &format!("live:{}", cap.interface), cap.link_name());
    let mut end_error = None;
    let mut stats = LiveStats::default();
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
    writeln!(status, "{} packets captured", stats.captured)?;
    writeln!(status, "{} packets received by filter", stats.received)?;
    writeln!(status, "{} packets dropped by kernel", stats.dropped)?;
    if stats.if_dropped > 0 {
        writeln!(status, "{} packets dropped by interface", stats.if_dropped)?;
    }
    an.outcome.live_stats = Some(stats);
    match end_error {
        Some(e) => Err(RunError::Capture(e)),
        None => Ok(std::mem::take(&mut an.outcome)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::draw::sample;

    fn table_args() -> AnalysisArgs {
        AnalysisArgs {
            quiet: true,
            ..AnalysisArgs::default()
        }
    }

    /// The reader thread writes one `Ahead` per packet and the analysis
    /// thread reads it: every byte crosses between the cores (92 bytes
    /// when it held two `SocketAddr`s; churn's `read -q` was ~8 % slower).
    #[test]
    fn the_per_packet_record_is_small() {
        let size = std::mem::size_of::<Ahead>();
        assert!(size <= 44, "Ahead is {size} bytes");
    }

    /// Connections end out of id order; the table keeps the lowest ids of
    /// the sample, and the diagnosis still reads every connection.
    #[test]
    fn the_table_keeps_its_lowest_ids_and_the_diagnosis_all() {
        let args = table_args();
        let mut an = Analyzer::new(&args, "t", "EN10MB");
        let n = report::table::MAX_ROWS as u64 + 100;
        let mut out = Vec::new();
        // Highest id first: every report past the rows replaces one.
        for id in (1..=n).rev() {
            an.keep(sample::conn(id, id as f64, id as f64 + 0.5), &mut out)
                .unwrap();
        }
        let mut ids: Vec<u64> = an.ended.iter().map(|r| r.record.id.0).collect();
        ids.sort_unstable();
        let want: Vec<u64> = (1..=report::table::MAX_ROWS as u64).collect();
        assert_eq!(ids, want);
        assert_eq!(an.facts.len() as u64, n);
        assert_eq!(an.totals.connections, n);
    }

    /// The timeline draws the whole sample, so it keeps every report of it.
    #[test]
    fn the_timeline_keeps_whole_reports_of_the_sample() {
        let args = AnalysisArgs {
            timeline: true,
            ..table_args()
        };
        let mut an = Analyzer::new(&args, "t", "EN10MB");
        let n = report::table::MAX_ROWS as u64 + 100;
        let mut out = Vec::new();
        for id in 1..=n {
            an.keep(sample::conn(id, id as f64, id as f64 + 0.5), &mut out)
                .unwrap();
        }
        assert_eq!(an.ended.len() as u64, n);
    }

    /// ndjson streams every connection and keeps only the facts.
    #[test]
    fn ndjson_keeps_no_whole_report() {
        let args = AnalysisArgs {
            format: Format::Ndjson,
            ..table_args()
        };
        let mut an = Analyzer::new(&args, "t", "EN10MB");
        let mut out = Vec::new();
        for id in 1..=3 {
            an.keep(sample::conn(id, id as f64, id as f64 + 0.5), &mut out)
                .unwrap();
        }
        assert!(an.ended.is_empty());
        assert_eq!(an.facts.len(), 3);
        assert_eq!(String::from_utf8(out).unwrap().lines().count(), 3);
    }

    /// The totals of one capture, read with a diagnosis sample of `sample`
    /// (up to a broken record, as `read`); `None` if it does not open.
    fn totals_of(args: &AnalysisArgs, path: &Path, sample: usize) -> Option<(Totals, u64)> {
        let mut src = FileSource::open_with(path, None, Ahead::of).ok()?;
        let mut an = Analyzer::new(args, "t", src.link_name());
        an.diag_sample = sample;
        let mut out = Vec::new();
        while let Ok(Some(r)) =
            src.next_with(|p, a, pres| an.on_early(&p, &a.early, a.pre(pres), &mut out))
        {
            r.unwrap();
        }
        an.finish(&mut out).unwrap();
        Some((an.totals, an.not_kept))
    }

    /// Capture files under `dir`, recursively, sorted.
    fn captures(dir: &Path, into: &mut Vec<std::path::PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                captures(&p, into);
            } else if p
                .extension()
                .is_some_and(|x| x == "pcap" || x == "pcapng" || x == "cap")
            {
                into.push(p);
            }
        }
    }

    /// Connections past the sample are only counted, without a report:
    /// the totals come out as JSON's, which makes a report of every one.
    #[test]
    fn connections_past_the_sample_count_as_their_reports_would() {
        let json = AnalysisArgs {
            format: Format::Json,
            ..table_args()
        };
        let mut counted = 0;
        let mut files = Vec::new();
        captures(Path::new("fixtures"), &mut files);
        assert!(files.len() > 20);
        // The third-party corpus too, when it is there.
        captures(Path::new("../shared/corpus"), &mut files);
        files.sort();
        for f in &files {
            let Some((want, _)) = totals_of(&json, f, DIAG_SAMPLE) else {
                continue;
            };
            let (got, not_kept) = totals_of(&table_args(), f, 1).unwrap();
            assert_eq!(got, want, "{}", f.display());
            counted += not_kept;
        }
        assert!(counted > 50, "{counted} connections were only counted");
    }
}
