//! http stage: which HTTP/1.x requests each TCP connection carried.
//!
//! Owns, per connection, the reassembly of both directions ([`reasm`]) and
//! the HTTP/1.x framing of each ([`parse`]). Input: TCP segments tagged with
//! the side (0 or 1) that sent them, in capture order, then [`HttpConn::finish`].
//! Output: the requests (time, method, target, version, matched status), the
//! request and response counts, which side asked, and the protocol seen.
//!
//! The stage is symmetric and content-based: it does not know ports or
//! client/server roles. A side whose stream starts with a request line is the
//! requester; one starting with `HTTP/1.` is the responder; a TLS handshake
//! record or the HTTP/2 preface names the protocol and stops parsing.
//! Responses are matched to the peer's requests first in, first out.
//!
//! Invariants: memory per connection is bounded by `2 × reasm_window` held
//! bytes, `2 × max_header_bytes` of carried head bytes, `max_requests_kept`
//! requests and fixed-size queues; bodies are skipped by counting, never
//! stored. No clock is read: all times are the packets' timestamps.

mod parse;
pub use parse::Pre;
mod reasm;

use crate::capture::Timestamp;
use parse::{Exchange, Parser, SideProto};
use reasm::{Reasm, Sink};

/// Limits of the http stage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpConfig {
    /// Out-of-order bytes held per direction, waiting for a hole to fill;
    /// a segment ending beyond `next + reasm_window` skips the first hole.
    pub reasm_window: usize,
    /// Longest head (request/status line plus headers, or trailers) accepted.
    pub max_header_bytes: usize,
    /// Requests kept in each connection's list; counting continues past it.
    pub max_requests_kept: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            reasm_window: 256 * 1024,
            max_header_bytes: 64 * 1024,
            max_requests_kept: 10_000,
        }
    }
}

/// The application protocol a connection carried, decided by content.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// No payload, or nothing recognisable yet.
    Unknown,
    Http1,
    Tls,
    Http2,
    /// Payload that is none of the above.
    Other,
}

impl Protocol {
    /// The text form every renderer uses.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Unknown => "unknown",
            Protocol::Http1 => "http/1",
            Protocol::Tls => "tls",
            Protocol::Http2 => "http/2",
            Protocol::Other => "other",
        }
    }
}

/// One HTTP/1.x request, with the status of the response matched to it.
pub use compact_str::CompactString;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Timestamp of the segment that carried the request's first byte.
    pub time: Timestamp,
    /// The side (0 or 1) that sent it.
    pub side: u8,
    /// Method and target are kept inline up to 24 bytes (no allocation per
    /// request for the usual ones).
    pub method: CompactString,
    /// The request target, cut to at most 200 bytes (at a char boundary).
    pub target: CompactString,
    /// Minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: u8,
    /// Final status of the matched response (1xx interim responses other
    /// than 101 are not matched).
    pub status: Option<u16>,
    /// The request carried `Connection: close`.
    pub connection_close: bool,
    /// The response closes the connection: `Connection: close`, HTTP/1.0
    /// without `keep-alive`, or a body delimited by closing.
    pub response_close: bool,
}

impl Request {
    /// `"HTTP/1.0"` or `"HTTP/1.1"`, as in the JSON report.
    pub fn version_str(&self) -> &'static str {
        if self.version == 0 {
            "HTTP/1.0"
        } else {
            "HTTP/1.1"
        }
    }
}

/// Which bounds a connection ran into (each one is a reason the counts may
/// be incomplete).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// A head did not end within `max_header_bytes`.
    pub header_too_large: bool,
    /// A head had more header fields than the parser's fixed array.
    pub too_many_headers: bool,
    /// Out-of-order data exceeded `reasm_window` and a hole was skipped.
    pub window_overflow: bool,
    /// More than `max_requests_kept` requests: the list stops, the count goes on.
    pub requests_truncated: bool,
    /// More pipelined requests awaited responses than the matcher keeps.
    pub pending_overflow: bool,
}

impl Limits {
    pub fn any(self) -> bool {
        self.header_too_large
            || self.too_many_headers
            || self.window_overflow
            || self.requests_truncated
            || self.pending_overflow
    }
}

#[derive(Debug)]
struct Side {
    reasm: Reasm,
    parser: Parser,
}

/// HTTP state of one TCP connection (both directions).
#[derive(Debug)]
pub struct HttpConn {
    sides: [Side; 2],
    ex: Exchange,
}

impl Default for HttpConn {
    fn default() -> Self {
        Self::new()
    }
}

/// Routes one direction's reassembled stream into its parser.
struct Feed<'a> {
    cfg: &'a HttpConfig,
    parser: &'a mut Parser,
    ex: &'a mut Exchange,
    /// The current segment's payload and what was read of it ahead: it
    /// applies to those very bytes only (held segments delivered in the
    /// same call are other bytes).
    pre: Option<(&'a [u8], &'a mut Pre)>,
}

impl Sink for Feed<'_> {
    fn data(&mut self, bytes: &[u8], seg_start: bool, ts: Timestamp) {
        let pre = self
            .pre
            .take_if(|(payload, _)| std::ptr::eq(*payload, bytes))
            .map(|(_, pre)| pre);
        self.parser
            .data(self.cfg, self.ex, bytes, seg_start, ts, pre);
    }
    fn gap(&mut self, lost: u64) {
        self.parser.gap(self.cfg, self.ex, lost);
    }
    fn midstream(&mut self) {
        self.parser.midstream();
    }
    fn fin(&mut self) {
        self.parser.fin(self.cfg, self.ex);
    }
}

impl HttpConn {
    /// A connection with no payload yet. Allocates nothing.
    pub fn new() -> Self {
        HttpConn {
            sides: [0u8, 1].map(|s| Side {
                reasm: Reasm::default(),
                parser: Parser::new(s),
            }),
            ex: Exchange::default(),
        }
    }

    /// Back to the state of `new()`, keeping the buffers of the queues that
    /// pair requests with responses: a pool of these saves two allocations
    /// per connection in a capture of short ones.
    pub fn reset(&mut self) {
        // Field by field: a whole new `HttpConn` is built on the stack and
        // copied in, which showed in profiles of short connections.
        for side in &mut self.sides {
            side.reasm.reset();
            side.parser.reset();
        }
        self.ex.reset();
    }

    /// One TCP segment sent by `side` (0 or 1; any other value counts as 1).
    /// `seq` and `syn`/`fin`/`rst` are the segment's header fields, `payload`
    /// the captured bytes and `wire_len` the payload length on the wire
    /// (larger than `payload.len()` when the capture truncated it: the
    /// missing tail is a hole that never fills). `rst` changes nothing here:
    /// data already captured is still parsed, `finish` settles the rest.
    /// `pre`, when given, is `Pre::of(payload)`, computed ahead.
    #[allow(clippy::too_many_arguments)] // the segment's fields, one to one
    #[inline]
    pub fn on_segment(
        &mut self,
        cfg: &HttpConfig,
        side: u8,
        seq: u32,
        syn: bool,
        fin: bool,
        rst: bool,
        payload: &[u8],
        wire_len: u32,
        ts: Timestamp,
        pre: Option<&mut Pre>,
    ) {
        let _ = rst;
        let Side { reasm, parser } = &mut self.sides[usize::from(side.min(1))];
        if parser.is_done(&self.ex) {
            // Nothing more will be parsed on this side: do not hold data for it.
            return;
        }
        let mut feed = Feed {
            cfg,
            parser,
            ex: &mut self.ex,
            pre: pre.map(|p| (payload, p)),
        };
        if reasm.on_segment(
            cfg.reasm_window,
            seq,
            syn,
            fin,
            payload,
            wire_len,
            ts,
            &mut feed,
        ) {
            self.ex.limits.window_overflow = true;
        }
    }

    /// End of the connection or of the capture: skip the holes that remain
    /// (counted in [`skipped_bytes`](Self::skipped_bytes)), parse what was
    /// held, and end read-until-close bodies. Later segments are ignored.
    pub fn finish(&mut self, cfg: &HttpConfig) {
        for Side { reasm, parser } in &mut self.sides {
            if !parser.is_done(&self.ex) {
                let mut feed = Feed {
                    cfg,
                    parser: &mut *parser,
                    ex: &mut self.ex,
                    pre: None,
                };
                reasm.finish(&mut feed);
            }
            parser.finish(cfg, &mut self.ex);
        }
    }

    /// The requests seen, in the order they were parsed (at most
    /// `max_requests_kept`).
    pub fn requests(&self) -> &[Request] {
        &self.ex.requests
    }

    /// The kept requests, moved out (for the connection's report, at its end).
    pub fn take_requests(&mut self) -> Vec<Request> {
        std::mem::take(&mut self.ex.requests)
    }

    /// Gives a connection whose list was taken a list buffer back (emptied
    /// here): reports that are not kept return theirs, so a capture of
    /// short connections does not allocate a list for each.
    pub fn reuse_requests(&mut self, mut list: Vec<Request>) {
        if self.ex.requests.capacity() == 0 {
            list.clear();
            self.ex.requests = list;
        }
    }

    /// Requests sent by `side`: the kept ones, or every request seen once
    /// the list was capped (past the cap, sides are no longer told apart).
    pub fn requests_from(&self, side: u8) -> u64 {
        if self.ex.requests.len() as u64 == self.ex.request_count {
            self.ex.requests.iter().filter(|r| r.side == side).count() as u64
        } else {
            self.ex.request_count
        }
    }

    /// Every HTTP/1.x request seen, including those beyond the list's cap.
    pub fn request_count(&self) -> u64 {
        self.ex.request_count
    }

    /// Final responses seen (interim 1xx other than 101 are not counted).
    pub fn response_count(&self) -> u64 {
        self.ex.response_count
    }

    /// The side that sent the first request; failing that, the peer of the
    /// side that sent the first response.
    pub fn requester_side(&self) -> Option<u8> {
        self.ex
            .requester
            .or_else(|| self.ex.responder.map(|s| s ^ 1))
    }

    /// HTTP/1 if either side spoke it; else TLS, HTTP/2, Other, Unknown (in
    /// that order) from what the two sides' first bytes showed.
    pub fn protocol(&self) -> Protocol {
        let p = [self.sides[0].parser.proto(), self.sides[1].parser.proto()];
        for (side, proto) in [
            (SideProto::Http1, Protocol::Http1),
            (SideProto::Tls, Protocol::Tls),
            (SideProto::Http2, Protocol::Http2),
            (SideProto::Other, Protocol::Other),
        ] {
            if p.contains(&side) {
                return proto;
            }
        }
        Protocol::Unknown
    }

    /// Stream bytes never parsed: holes (capture loss, truncation, window
    /// overflow, given up at `finish`) plus bytes of an HTTP stream discarded
    /// while resynchronising.
    pub fn skipped_bytes(&self) -> u64 {
        self.ex.skipped
    }

    /// Bounds this connection ran into.
    pub fn limits_hit(&self) -> Limits {
        self.ex.limits
    }

    /// Heads or chunk lines that failed to parse (each one costs a resync).
    pub fn protocol_errors(&self) -> u64 {
        self.ex.protocol_errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: u8 = 0;
    const S: u8 = 1;

    /// A connection under test: both sides' next sequence numbers and a clock.
    struct Wire {
        cfg: HttpConfig,
        conn: HttpConn,
        /// The same segments, without their payload read ahead (`Pre`):
        /// every state must be the same as `conn`'s.
        plain: HttpConn,
        seq: [u32; 2],
        t: i64,
    }

    impl Drop for Wire {
        fn drop(&mut self) {
            if !std::thread::panicking() {
                self.same_as_plain();
            }
        }
    }

    impl Wire {
        fn with(cfg: HttpConfig, isn: [u32; 2]) -> Self {
            let mut w = Wire {
                cfg,
                conn: HttpConn::new(),
                plain: HttpConn::new(),
                seq: isn,
                t: 0,
            };
            for side in [C, S] {
                let isn = w.seq[usize::from(side)];
                w.raw(side, isn, true, false, b"", 0);
                w.seq[usize::from(side)] = isn.wrapping_add(1);
            }
            w
        }
        fn new() -> Self {
            Self::with(HttpConfig::default(), [1000, 900_000])
        }
        /// Joined mid-stream: no SYNs.
        fn midstream() -> Self {
            Wire {
                cfg: HttpConfig::default(),
                conn: HttpConn::new(),
                plain: HttpConn::new(),
                seq: [5000, 70_000],
                t: 0,
            }
        }
        fn raw(&mut self, side: u8, seq: u32, syn: bool, fin: bool, data: &[u8], wire: u32) {
            self.t += 1;
            let ts = Timestamp::new(self.t, 0);
            let mut pre = Pre::of(data);
            self.conn.on_segment(
                &self.cfg,
                side,
                seq,
                syn,
                fin,
                false,
                data,
                wire,
                ts,
                Some(&mut pre),
            );
            self.plain
                .on_segment(&self.cfg, side, seq, syn, fin, false, data, wire, ts, None);
            // Every state early on, then a sample (the long tests send
            // thousands of segments), and the last one at drop.
            if self.t < 64 || self.t % 64 == 0 {
                self.same_as_plain();
            }
        }
        fn same_as_plain(&self) {
            assert_eq!(format!("{:?}", self.conn), format!("{:?}", self.plain));
        }
        /// One segment at `side`'s next sequence number.
        fn send(&mut self, side: u8, data: &[u8]) {
            let seq = self.seq[usize::from(side)];
            self.raw(side, seq, false, false, data, data.len() as u32);
            self.seq[usize::from(side)] = seq.wrapping_add(data.len() as u32);
        }
        /// `data` in segments cut at `cuts` (increasing offsets).
        fn send_cut(&mut self, side: u8, data: &[u8], cuts: &[usize]) {
            let mut from = 0;
            for &c in cuts.iter().chain(std::iter::once(&data.len())) {
                self.send(side, &data[from..c]);
                from = c;
            }
        }
        /// `n` bytes the capture never saw.
        fn lose(&mut self, side: u8, n: u32) {
            let s = &mut self.seq[usize::from(side)];
            *s = s.wrapping_add(n);
        }
        fn fin(&mut self, side: u8) {
            let seq = self.seq[usize::from(side)];
            self.raw(side, seq, false, true, b"", 0);
        }
        fn finish(&mut self) -> &HttpConn {
            self.conn.finish(&self.cfg);
            self.plain.finish(&self.cfg);
            &self.conn
        }
        fn targets(&self) -> Vec<String> {
            let r = self.conn.requests();
            r.iter()
                .map(|r| format!("{} {}", r.method, r.target))
                .collect()
        }
        fn statuses(&self) -> Vec<Option<u16>> {
            self.conn.requests().iter().map(|r| r.status).collect()
        }
    }

    const GET: &[u8] = b"GET /a HTTP/1.1\r\nHost: example\r\nAccept: */*\r\n\r\n";
    const PIPELINED: &[u8] = b"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 19\r\n\r\nGET /x HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n";
    const CHUNKED: &[u8] = b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n13;ext=1\r\nGET /x HTTP/1.1\r\n\r\n\r\n0\r\nX-Trailer: GET /y HTTP/1.1\r\n\r\nGET /d HTTP/1.1\r\n\r\n";

    fn one_feed(data: &[u8]) -> (u64, Vec<String>) {
        let mut w = Wire::new();
        w.send(C, data);
        w.finish();
        (w.conn.request_count(), w.targets())
    }

    // ---- reuse -----------------------------------------------------------

    #[test]
    fn a_recycled_request_list_comes_back_empty_with_its_buffer() {
        let mut w = Wire::new();
        w.send(C, PIPELINED);
        let list = w.conn.take_requests();
        w.plain.take_requests();
        assert!(list.len() > 1);
        let cap = list.capacity();
        let mut h = HttpConn::new();
        h.reuse_requests(list);
        assert!(h.requests().is_empty());
        assert_eq!(h.take_requests().capacity(), cap);
    }

    #[test]
    fn a_reset_connection_is_a_new_one() {
        // Pipelined requests with no response yet, a response without its
        // request on the other side, a half-read head: every queue in use.
        let mut w = Wire::new();
        w.send(C, PIPELINED);
        w.send(S, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        w.send(C, &GET[..10]);
        // Reassembly state too: bytes held past a hole, and a FIN after them.
        let ahead = w.seq[usize::from(S)].wrapping_add(100);
        w.raw(S, ahead, false, true, b"HTTP/1.1 200 OK\r\n", 17);
        assert!(w.conn.request_count() > 0);
        assert!(format!("{:?}", w.conn).contains("held_bytes: 17"));
        w.conn.reset();
        assert_eq!(format!("{:?}", w.conn), format!("{:?}", HttpConn::new()));
        // And it parses the next connection from scratch.
        let mut fresh = Wire::new();
        let mut reused = Wire::new();
        reused.conn = std::mem::take(&mut w.conn);
        (w.plain, reused.plain) = (HttpConn::new(), HttpConn::new());
        for side in [C, S] {
            let isn = reused.seq[usize::from(side)].wrapping_sub(1);
            reused.raw(side, isn, true, false, b"", 0);
        }
        reused.t = fresh.t;
        for x in [&mut fresh, &mut reused] {
            x.send(C, GET);
            x.send(S, b"HTTP/1.1 204 No Content\r\n\r\n");
            x.finish();
        }
        assert_eq!(format!("{:?}", reused.conn), format!("{:?}", fresh.conn));
        assert_eq!(reused.conn.response_count(), 1);
    }

    // ---- splitting -------------------------------------------------------

    #[test]
    fn request_split_at_every_offset_same_result() {
        for msg in [GET, PIPELINED, CHUNKED] {
            let whole = one_feed(msg);
            for i in 0..=msg.len() {
                let mut w = Wire::new();
                w.send_cut(C, msg, &[i]);
                w.finish();
                assert_eq!((w.conn.request_count(), w.targets()), whole, "cut at {i}");
            }
        }
        assert_eq!(one_feed(GET).0, 1);
    }

    #[test]
    fn pipelined_requests_split_at_every_pair_of_offsets_same_result() {
        for msg in [PIPELINED, CHUNKED] {
            let whole = one_feed(msg);
            assert_eq!(whole.0, 2);
            for i in 0..=msg.len() {
                for j in i..=msg.len() {
                    let mut w = Wire::new();
                    w.send_cut(C, msg, &[i, j]);
                    w.finish();
                    assert_eq!((w.conn.request_count(), w.targets()), whole, "cuts {i} {j}");
                }
            }
        }
    }

    #[test]
    fn one_byte_segments_same_result() {
        for msg in [GET, PIPELINED, CHUNKED] {
            let cuts: Vec<usize> = (1..msg.len()).collect();
            let mut w = Wire::new();
            w.send_cut(C, msg, &cuts);
            w.finish();
            assert_eq!((w.conn.request_count(), w.targets()), one_feed(msg));
        }
    }

    #[test]
    fn response_split_at_every_offset_same_statuses() {
        let resp: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 17\r\n\r\nHTTP/1.1 500 x\r\n\r\nHTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
        for i in 0..=resp.len() {
            let mut w = Wire::new();
            w.send(C, b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n");
            w.send_cut(S, resp, &[i]);
            w.finish();
            assert_eq!(w.statuses(), vec![Some(200), Some(404)], "cut at {i}");
            assert_eq!(w.conn.response_count(), 2);
        }
    }

    // ---- bodies ----------------------------------------------------------

    #[test]
    fn post_body_with_request_text_counts_once_then_get_counts() {
        let mut w = Wire::new();
        w.send(
            C,
            b"POST /form HTTP/1.1\r\nContent-Length: 19\r\n\r\nGET /x HTTP/1.1\r\n\r\n",
        );
        assert_eq!(w.conn.request_count(), 1);
        w.send(C, b"GET /next HTTP/1.1\r\n\r\n");
        assert_eq!(w.conn.request_count(), 2);
        assert_eq!(w.targets(), vec!["POST /form", "GET /next"]);
    }

    #[test]
    fn chunked_body_with_request_line_and_trailers() {
        let (n, t) = one_feed(CHUNKED);
        assert_eq!(n, 2);
        assert_eq!(t, vec!["POST /c", "GET /d"]);
    }

    #[test]
    fn chunked_body_with_request_line_in_its_own_segment() {
        let mut w = Wire::new();
        w.send(
            C,
            b"POST /up HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        );
        w.send(C, b"1B\r\n");
        w.send(C, b"GET /inside HTTP/1.1\r\nA: b\r\n\r\n");
        w.send(C, b"\r\n0\r\n\r\n");
        w.send(C, b"GET /after HTTP/1.1\r\n\r\n");
        assert_eq!(w.targets(), vec!["POST /up", "GET /after"]);
    }

    #[test]
    fn head_204_304_responses_have_no_body() {
        let mut w = Wire::new();
        w.send(
            C,
            b"HEAD /h HTTP/1.1\r\n\r\nGET /n HTTP/1.1\r\n\r\nGET /m HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n",
        );
        w.send(S, b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
        w.send(S, b"HTTP/1.1 204 No Content\r\n\r\n");
        w.send(
            S,
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n",
        );
        w.send(S, b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc");
        w.finish();
        assert_eq!(
            w.statuses(),
            vec![Some(200), Some(204), Some(304), Some(200)]
        );
        assert_eq!(w.conn.response_count(), 4);
        assert!(w.conn.requests().iter().all(|r| !r.response_close));
    }

    #[test]
    fn continue_100_is_interim() {
        let mut w = Wire::new();
        w.send(
            C,
            b"PUT /f HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n",
        );
        w.send(S, b"HTTP/1.1 100 Continue\r\n\r\n");
        w.send(C, b"data");
        w.send(S, b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n");
        w.send(C, b"GET /g HTTP/1.1\r\n\r\n");
        w.send(S, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(w.statuses(), vec![Some(201), Some(200)]);
        assert_eq!(w.conn.response_count(), 2);
    }

    #[test]
    fn fin_in_mid_head_counts_a_complete_request_line() {
        let mut w = Wire::new();
        w.send(C, b"GET /cut HTTP/1.1\r\nHost: a");
        w.fin(C);
        assert_eq!(w.targets(), vec!["GET /cut"]);
        let mut w = Wire::new();
        w.send(C, b"GET /cu");
        w.fin(C);
        w.finish();
        assert_eq!(w.conn.request_count(), 0);
    }

    #[test]
    fn read_until_close_response() {
        let mut w = Wire::new();
        w.send(C, b"GET /old HTTP/1.1\r\n\r\n");
        w.send(S, b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n");
        w.send(S, b"HTTP/1.1 200 OK\r\n\r\n");
        w.fin(S);
        w.finish();
        assert_eq!(w.conn.response_count(), 1);
        assert_eq!(w.statuses(), vec![Some(200)]);
        assert!(w.conn.requests()[0].response_close);
    }

    // ---- connection management --------------------------------------------

    #[test]
    fn http_1_0_closes_unless_keep_alive() {
        let mut w = Wire::new();
        w.send(C, b"GET /a HTTP/1.0\r\n\r\n");
        w.send(S, b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok");
        w.finish();
        let r = &w.conn.requests()[0];
        assert_eq!((r.version, r.version_str()), (0, "HTTP/1.0"));
        assert!(r.response_close && !r.connection_close);

        let mut w = Wire::new();
        w.send(C, b"GET /a HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
        w.send(
            S,
            b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok",
        );
        w.send(C, b"GET /b HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
        w.finish();
        assert_eq!(w.conn.request_count(), 2);
        assert!(!w.conn.requests()[0].response_close);
    }

    #[test]
    fn connection_close_from_either_side() {
        let mut w = Wire::new();
        w.send(
            C,
            b"GET /a HTTP/1.1\r\nConnection: keep-alive, close\r\n\r\n",
        );
        w.send(S, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        w.send(C, b"GET /b HTTP/1.1\r\n\r\n");
        w.send(
            S,
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        );
        w.finish();
        let r = w.conn.requests();
        assert!(r[0].connection_close && !r[0].response_close);
        assert!(!r[1].connection_close && r[1].response_close);
    }

    #[test]
    fn upgrade_101_and_connect_end_parsing() {
        let mut w = Wire::new();
        w.send(
            C,
            b"GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
        );
        w.send(
            S,
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
        );
        w.send(C, b"GET /not-http HTTP/1.1\r\n\r\n");
        w.send(S, b"HTTP/1.1 200 OK\r\n\r\n");
        w.finish();
        assert_eq!((w.conn.request_count(), w.conn.response_count()), (1, 1));
        assert_eq!(w.statuses(), vec![Some(101)]);

        let mut w = Wire::new();
        w.send(
            C,
            b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
        );
        w.send(S, b"HTTP/1.1 200 Connection Established\r\n\r\n");
        w.send(C, &[0x16, 3, 1, 0, 5, 1, 2, 3, 4, 5]);
        w.send(C, b"GET /tunnelled HTTP/1.1\r\n\r\n");
        w.finish();
        assert_eq!(w.conn.request_count(), 1);
        assert_eq!(w.conn.protocol(), Protocol::Http1);
    }

    #[test]
    fn roles_and_times() {
        let mut w = Wire::new();
        w.send(S, b"HTTP/1.1 200 OK\r\n\r\n"); // spurious: answers nothing yet
        w.send(C, b"GET /a HTTP/1.1\r\n\r\n");
        assert_eq!(w.conn.requester_side(), Some(C));
        assert_eq!(w.conn.requests()[0].side, C);
        // The stale response (older than the request) was not matched to it.
        assert_eq!(w.conn.requests()[0].status, None);
        assert_eq!(w.conn.requests()[0].time, Timestamp::new(4, 0));

        let mut w = Wire::new();
        w.send(C, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(w.conn.requester_side(), Some(S));
        assert_eq!(w.conn.protocol(), Protocol::Http1);
    }

    // ---- other protocols ----------------------------------------------------

    #[test]
    fn tls_http2_and_other_are_named_not_counted() {
        let cases: [(&[u8], Protocol); 4] = [
            (&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01], Protocol::Tls),
            (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", Protocol::Http2),
            (b"SSH-2.0-OpenSSH_9.6\r\n", Protocol::Other),
            (&[0x00, 0x01, 0x02], Protocol::Other),
        ];
        for (first, proto) in cases {
            for cut in 0..=first.len() {
                let mut w = Wire::new();
                w.send_cut(C, first, &[cut]);
                w.send(C, GET);
                w.finish();
                assert_eq!(w.conn.protocol(), proto, "{first:?} cut {cut}");
                assert_eq!(w.conn.request_count(), 0);
            }
        }
        assert_eq!(Wire::new().finish().protocol(), Protocol::Unknown);
        assert_eq!(Protocol::Http2.name(), "http/2");
    }

    // ---- reassembly through the parser ----------------------------------------

    #[test]
    fn retransmitted_and_overlapping_segments_count_once() {
        let mut w = Wire::new();
        let isn = w.seq[0];
        w.send_cut(C, PIPELINED, &[10, 40]);
        w.raw(C, isn, false, false, &PIPELINED[..40], 40); // retransmission
        w.raw(C, isn.wrapping_add(5), false, false, &PIPELINED[5..70], 65); // overlap
        w.send(C, GET);
        w.finish();
        assert_eq!(w.targets(), vec!["POST /p", "GET /b", "GET /a"]);
    }

    #[test]
    fn swapped_and_duplicated_segments_count_once() {
        let mut w = Wire::new();
        let isn = w.seq[0];
        let at = |o: usize| isn.wrapping_add(o as u32);
        w.raw(
            C,
            at(30),
            false,
            false,
            &PIPELINED[30..],
            (PIPELINED.len() - 30) as u32,
        );
        w.raw(C, at(0), false, false, &PIPELINED[..30], 30);
        w.raw(
            C,
            at(30),
            false,
            false,
            &PIPELINED[30..],
            (PIPELINED.len() - 30) as u32,
        );
        w.finish();
        assert_eq!(w.conn.request_count(), 2);
        assert_eq!(w.conn.skipped_bytes(), 0);
    }

    #[test]
    fn random_order_overlap_duplication_same_count() {
        let mut stream = Vec::new();
        for i in 0..20 {
            stream.extend_from_slice(PIPELINED);
            stream.extend_from_slice(format!("GET /{i} HTTP/1.1\r\n\r\n").as_bytes());
            stream.extend_from_slice(CHUNKED);
        }
        let expect = one_feed(&stream);
        assert_eq!(expect.0, 100);
        let mut x: u64 = 0x1234_5678_9ABC_DEF1;
        let mut rnd = move |n: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as usize
        };
        for round in 0..100 {
            let isn = if round % 2 == 0 {
                u32::MAX - 500
            } else {
                round * 7919
            };
            let mut segs = Vec::new();
            let mut off = 0;
            while off < stream.len() {
                let end = (off + 1 + rnd(120)).min(stream.len());
                segs.push((off, end));
                if rnd(5) == 0 {
                    // duplicate or overlapping retransmission
                    let a = off.saturating_sub(rnd(30));
                    segs.push((a, (end + rnd(30)).min(stream.len())));
                }
                off = end;
            }
            for i in 0..segs.len() {
                let j = (i + rnd(5)).min(segs.len() - 1);
                segs.swap(i, j);
            }
            let mut w = Wire::with(HttpConfig::default(), [isn, 1]);
            for (a, b) in segs {
                let seq = isn.wrapping_add(1).wrapping_add(a as u32);
                w.raw(C, seq, false, false, &stream[a..b], (b - a) as u32);
            }
            w.finish();
            assert_eq!(
                (w.conn.request_count(), w.targets()),
                expect,
                "round {round}"
            );
            assert_eq!(w.conn.skipped_bytes(), 0);
        }
    }

    #[test]
    fn seq_wrap_around_request_split_across_zero() {
        let mut w = Wire::with(HttpConfig::default(), [u32::MAX - 9, u32::MAX]);
        w.send_cut(C, PIPELINED, &[5, 20, 60]);
        w.send(S, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        w.finish();
        assert_eq!(w.conn.request_count(), 2);
        assert_eq!(w.statuses(), vec![Some(200), None]);
    }

    #[test]
    fn hole_that_never_fills_resyncs_at_request_line() {
        let mut w = Wire::new();
        w.send(C, GET);
        w.send(C, b"POST /big HTTP/1.1\r\nContent-Le");
        w.lose(C, 20); // the rest of the head: framing is lost
        w.send(C, b"some body bytes");
        w.send(C, b"GET /after HTTP/1.1\r\n\r\n");
        assert_eq!(w.conn.request_count(), 1); // held behind the hole
        w.finish();
        // The cut head's request line was complete: it counts, then resync.
        assert_eq!(w.targets(), vec!["GET /a", "POST /big", "GET /after"]);
        assert_eq!(w.conn.skipped_bytes(), 20 + 15);
    }

    #[test]
    fn hole_inside_a_known_length_body_keeps_sync() {
        let mut w = Wire::new();
        w.send(C, b"POST /u HTTP/1.1\r\nContent-Length: 100\r\n\r\n");
        w.send(C, &[b'x'; 30]);
        w.lose(C, 40);
        w.send(C, &[b'y'; 30]);
        w.send(C, b"GET /z HTTP/1.1\r\n\r\n");
        w.finish();
        assert_eq!(w.targets(), vec!["POST /u", "GET /z"]);
        assert_eq!(w.conn.skipped_bytes(), 40);
    }

    #[test]
    fn truncated_capture_counts_request_lines() {
        // snaplen cut every segment after 30 payload bytes.
        let mut w = Wire::new();
        for msg in [
            &b"GET /one HTTP/1.1\r\nHost: example.org\r\nUser-Agent: t\r\n\r\n"[..],
            GET,
        ] {
            let seq = w.seq[0];
            w.raw(C, seq, false, false, &msg[..30], msg.len() as u32);
            w.seq[0] = seq.wrapping_add(msg.len() as u32);
        }
        w.finish();
        assert_eq!(w.targets(), vec!["GET /one", "GET /a"]);
    }

    #[test]
    fn midstream_capture_starts_at_next_request() {
        let mut w = Wire::midstream();
        w.send(
            C,
            b"ody of a request already under way GET /x HTTP/1.1\r\n\r\n",
        );
        w.send(S, b"rest of a response body");
        w.send(C, GET);
        w.send(S, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        w.finish();
        assert_eq!(w.targets(), vec!["GET /a"]);
        assert_eq!(w.statuses(), vec![Some(200)]);
        assert_eq!(w.conn.requester_side(), Some(C));
    }

    #[test]
    fn midstream_tls_is_named() {
        let mut w = Wire::midstream();
        w.send(C, &[0x17, 0x03, 0x03, 0x00, 0x10, 9, 9, 9]);
        w.finish();
        assert_eq!(w.conn.protocol(), Protocol::Tls);
    }

    // ---- limits ---------------------------------------------------------------

    #[test]
    fn header_that_never_ends_stays_within_max_header_bytes() {
        let cfg = HttpConfig {
            max_header_bytes: 4096,
            ..HttpConfig::default()
        };
        let mut w = Wire::with(cfg, [1, 2]);
        w.send(C, GET); // confirmed HTTP, then a hostile head
        w.send(C, b"GET /evil HTTP/1.1\r\nX-Long: ");
        for _ in 0..2000 {
            w.send(C, b"aaaaaaaaaaaaaaaaaaaaaaaaa");
            assert!(w.conn.sides[0].parser.carry_len() <= 4096);
        }
        assert!(w.conn.limits_hit().header_too_large);
        w.send(C, b"GET /ok HTTP/1.1\r\n\r\n");
        w.finish();
        assert_eq!(w.targets(), vec!["GET /a", "GET /ok"]);
    }

    /// fuzz/regressions/http_split/head-over-limit-in-one-segment: a head
    /// longer than `max_header_bytes` was accepted when it arrived in one
    /// segment but refused (and the stream resynchronised) when split, so
    /// the request count depended on segmentation.
    #[test]
    fn head_over_the_limit_counts_the_same_whole_or_split() {
        let cfg = HttpConfig {
            max_header_bytes: 256,
            ..HttpConfig::default()
        };
        let mut head = b"GET /big HTTP/1.1\r\nX-Long: ".to_vec();
        head.extend_from_slice(&[b'a'; 300]);
        head.extend_from_slice(b"\r\n\r\nGET /next HTTP/1.1\r\n\r\n");
        let mut counts = Vec::new();
        for cut in [None, Some(100)] {
            let mut w = Wire::with(cfg.clone(), [1, 2]);
            match cut {
                None => w.send(C, &head),
                Some(n) => {
                    w.send(C, &head[..n]);
                    w.send(C, &head[n..]);
                }
            }
            w.finish();
            assert!(w.conn.limits_hit().header_too_large, "cut {cut:?}");
            counts.push(w.conn.request_count());
        }
        assert_eq!(counts[0], counts[1]);
    }

    #[test]
    fn one_byte_head_segments_up_to_the_limit_are_fast() {
        // Re-parsing only when a head could end keeps this linear.
        let mut w = Wire::new();
        w.send(C, b"GET /slow HTTP/1.1\r\nX-Long: ");
        for _ in 0..70_000 {
            w.send(C, b"a");
            assert!(w.conn.sides[0].parser.carry_len() <= HttpConfig::default().max_header_bytes);
        }
        assert!(w.conn.limits_hit().header_too_large);
        // A head cut just before its blank line, 1 byte at a time, still counts once.
        let mut w = Wire::new();
        let mut head = b"GET /fine HTTP/1.1\r\n".to_vec();
        head.extend_from_slice(&b"X: y\r\n".repeat(60));
        head.extend_from_slice(b"\r\n");
        let cuts: Vec<usize> = (1..head.len()).collect();
        w.send_cut(C, &head, &cuts);
        assert_eq!(w.targets(), vec!["GET /fine"]);
    }

    #[test]
    fn too_many_headers_is_a_named_limit() {
        let mut w = Wire::new();
        w.send(C, GET);
        let mut head = b"GET /many HTTP/1.1\r\n".to_vec();
        for i in 0..100 {
            head.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        head.extend_from_slice(b"\r\n");
        w.send(C, &head);
        w.send(C, b"GET /ok HTTP/1.1\r\n\r\n");
        assert!(w.conn.limits_hit().too_many_headers);
        assert_eq!(w.targets(), vec!["GET /a", "GET /ok"]);
        assert_eq!(w.conn.protocol_errors(), 1);
    }

    #[test]
    fn window_overflow_is_bounded_and_reported() {
        let cfg = HttpConfig {
            reasm_window: 1000,
            ..HttpConfig::default()
        };
        let mut w = Wire::with(cfg, [1, 2]);
        w.send(C, GET);
        w.lose(C, 10);
        for i in 0..100 {
            w.send(C, format!("GET /{i} HTTP/1.1\r\n\r\n").as_bytes());
            assert!(w.conn.sides[0].reasm.held_bytes() <= 1000);
        }
        w.finish();
        assert!(w.conn.limits_hit().window_overflow);
        assert_eq!(w.conn.request_count(), 101);
        assert_eq!(w.conn.skipped_bytes(), 10);
    }

    #[test]
    fn request_list_is_capped_but_counting_goes_on() {
        let cfg = HttpConfig {
            max_requests_kept: 3,
            ..HttpConfig::default()
        };
        let mut w = Wire::with(cfg, [1, 2]);
        for _ in 0..10 {
            w.send(C, GET);
        }
        assert_eq!((w.conn.request_count(), w.conn.requests().len()), (10, 3));
        assert!(w.conn.limits_hit().requests_truncated);
    }

    #[test]
    fn new_connection_is_small() {
        // Kept per open connection by the driver: no heap until payload arrives.
        let size = std::mem::size_of::<HttpConn>();
        assert!(size <= 512, "{size}");
    }

    #[test]
    fn long_target_is_cut() {
        let mut w = Wire::new();
        let long = format!("GET /{} HTTP/1.1\r\n\r\n", "é".repeat(300));
        w.send(C, long.as_bytes());
        let t = &w.conn.requests()[0].target;
        assert!(t.len() <= 200 && t.starts_with("/é"));
    }

    /// Malformed request lines a server still answered (zeek's methods.pcap,
    /// which tshark counts): known method, complete head, no body.
    #[test]
    fn malformed_request_lines_with_known_methods_count() {
        for (head, method, target) in [
            (&b"OPTIONS HTTP/1.1\nHost: a\n\n"[..], "OPTIONS", ""),
            (b"OPTIONS\nHost: a\n\n", "OPTIONS", ""),
            (b"GET / HTTP/1.\nHost: a\n\n", "GET", "/"),
            (
                b"CCM_POST /HTTP/1.1\r\nHost: a\r\n\r\n",
                "CCM_POST",
                "/HTTP/1.1",
            ),
        ] {
            let mut w = Wire::new();
            w.send(C, head);
            w.send(S, b"HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
            w.finish();
            assert_eq!(
                w.conn.request_count(),
                1,
                "{}",
                String::from_utf8_lossy(head)
            );
            let r = &w.conn.requests()[0];
            assert_eq!(
                (r.method.as_str(), r.target.as_str(), r.status),
                (method, target, Some(400))
            );
        }
        // An unknown first token stays "not HTTP".
        let mut w = Wire::new();
        w.send(C, b"BLAH / HTTP/1.1 x\n\n");
        w.finish();
        assert_eq!(w.conn.request_count(), 0);
    }
}
