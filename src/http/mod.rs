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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Timestamp of the segment that carried the request's first byte.
    pub time: Timestamp,
    /// The side (0 or 1) that sent it.
    pub side: u8,
    pub method: String,
    /// The request target, cut to at most 200 bytes (at a char boundary).
    pub target: String,
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
}

impl Sink for Feed<'_> {
    fn data(&mut self, bytes: &[u8], seg_start: bool, ts: Timestamp) {
        self.parser.data(self.cfg, self.ex, bytes, seg_start, ts);
    }
    fn gap(&mut self, lost: u64) {
        self.parser.gap(self.cfg, self.ex, lost);
    }
    fn midstream(&mut self) {
        self.parser.midstream();
    }
    fn fin(&mut self) {
        self.parser.fin();
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

    /// One TCP segment sent by `side` (0 or 1; any other value counts as 1).
    /// `seq` and `syn`/`fin`/`rst` are the segment's header fields, `payload`
    /// the captured bytes and `wire_len` the payload length on the wire
    /// (larger than `payload.len()` when the capture truncated it: the
    /// missing tail is a hole that never fills). `rst` changes nothing here:
    /// data already captured is still parsed, `finish` settles the rest.
    #[allow(clippy::too_many_arguments)] // the segment's fields, one to one
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
