//! HTTP/1.x framing for one direction, and the request/response matching
//! shared by both directions of a connection.
//!
//! Input: one direction's reassembled stream, fed incrementally (data, gaps,
//! FIN). Output: requests and responses recorded in an [`Exchange`].
//!
//! Heads (request, status, trailers) are parsed with `httparse` using a fixed
//! header array, so "too many headers" is a named outcome. Bodies are skipped
//! by counting (Content-Length, chunked per RFC 9112 §7.1, or until close),
//! never buffered. The only buffer is `carry`, which holds a head (or chunk
//! size line) split across segments; it never exceeds `max_header_bytes`, and
//! a growing carry is re-parsed only when the new bytes could end the head or
//! the carry has doubled since the last attempt (httparse's warning about
//! re-parsing a growing buffer).

use compact_str::CompactString;
use std::collections::VecDeque;

use httparse::Status;

use super::{HttpConfig, Limits, Request};
use crate::capture::Timestamp;

/// Header slots given to httparse; more headers is [`Bad::TooManyHeaders`].
pub(crate) const MAX_HEADERS: usize = 64;
/// Longest target kept in a [`Request`], in bytes (cut at a char boundary).
pub(crate) const MAX_TARGET: usize = 200;
/// Requests awaiting a response, per requester side (deep pipelining bound).
const MAX_PENDING: usize = 1024;
/// Responses that arrived before their request was parsed, per side.
const MAX_ORPHANS: usize = 64;
/// The HTTP/2 connection preface (RFC 9113 §3.4), as far as it identifies HTTP/2.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0";
const STATUS_PREFIX: &[u8] = b"HTTP/1.";

/// What one direction turned out to carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SideProto {
    Unknown,
    Http1,
    Tls,
    Http2,
    Other,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    Requester,
    Responder,
}

/// Why a head or chunk line was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Bad {
    /// httparse rejected the syntax (not HTTP, or broken HTTP).
    Syntax,
    /// More than [`MAX_HEADERS`] header fields.
    TooManyHeaders,
    /// The head did not end within `max_header_bytes`.
    TooLarge,
    /// Framing headers that cannot be honoured (bad Content-Length, a
    /// request with a non-chunked Transfer-Encoding: RFC 9112 §6.3).
    Framing,
}

/// Outcome of one attempt at a contiguous item (head, chunk line, trailers).
#[derive(Debug, PartialEq)]
enum Step<T> {
    /// Complete: bytes consumed from the buffer, and the value.
    Done(usize, T),
    /// Need more bytes.
    More,
    Bad(Bad),
}

/// How a message body is delimited (RFC 9112 §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Body {
    None,
    Length(u64),
    Chunked,
    UntilClose,
    /// The connection stops being HTTP (101, 2xx to CONNECT).
    Tunnel,
}

/// The framing facts of a head, whichever direction it came from.
#[derive(Debug, Default)]
struct Fields {
    /// `Some(Ok(n))` a consistent Content-Length, `Some(Err)` an invalid one.
    content_length: Option<Result<u64, ()>>,
    /// `Some(true)` when Transfer-Encoding ends in `chunked`, `Some(false)` when
    /// present otherwise.
    chunked: Option<bool>,
    close: bool,
    keep_alive: bool,
}

/// `bytes` without leading and trailing optional whitespace (SP, HTAB).
fn trim(mut b: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = b {
        b = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = b {
        b = rest;
    }
    b
}

fn fields(headers: &[httparse::Header<'_>]) -> Fields {
    let mut f = Fields::default();
    for h in headers {
        let name = h.name;
        if name.eq_ignore_ascii_case("content-length") {
            // A list of identical values is allowed (RFC 9110 §8.6).
            for v in h.value.split(|&b| b == b',') {
                let v = trim(v);
                let n = std::str::from_utf8(v)
                    .ok()
                    .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|s| s.parse::<u64>().ok());
                f.content_length = match (f.content_length, n) {
                    (_, None) => Some(Err(())),
                    (None, Some(n)) => Some(Ok(n)),
                    (Some(Ok(m)), Some(n)) if m == n => Some(Ok(n)),
                    _ => Some(Err(())),
                };
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // Only the final coding matters for framing (RFC 9112 §6.3 rule 4).
            if let Some(last) = h
                .value
                .split(|&b| b == b',')
                .map(trim)
                .rfind(|t| !t.is_empty())
            {
                f.chunked = Some(last.eq_ignore_ascii_case(b"chunked"));
            }
        } else if name.eq_ignore_ascii_case("connection") {
            for t in h.value.split(|&b| b == b',').map(trim) {
                if t.eq_ignore_ascii_case(b"close") {
                    f.close = true;
                } else if t.eq_ignore_ascii_case(b"keep-alive") {
                    f.keep_alive = true;
                }
            }
        }
    }
    f
}

/// A parsed request head, owned.
#[derive(Debug, PartialEq)]
pub(crate) struct ReqHead {
    method: CompactString,
    target: CompactString,
    version: u8,
    close: bool,
    body: Result<Body, Bad>,
}

/// A parsed status head, owned.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct RespHead {
    status: u16,
    version: u8,
    close: bool,
    keep_alive: bool,
    content_length: Option<Result<u64, ()>>,
    chunked: Option<bool>,
}

fn cap_target(path: &str) -> CompactString {
    if path.len() <= MAX_TARGET {
        return path.into();
    }
    let mut end = MAX_TARGET;
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    path[..end].into()
}

fn parse_request(buf: &[u8]) -> Step<ReqHead> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(Status::Complete(n)) => {
            let f = fields(req.headers);
            // Request bodies: chunked, else Content-Length, else none (RFC 9112 §6.3 rules 4-7).
            let body = match (f.chunked, f.content_length) {
                (Some(true), _) => Ok(Body::Chunked),
                (Some(false), _) => Err(Bad::Framing),
                (None, Some(Ok(0))) | (None, None) => Ok(Body::None),
                (None, Some(Ok(n))) => Ok(Body::Length(n)),
                (None, Some(Err(()))) => Err(Bad::Framing),
            };
            Step::Done(
                n,
                ReqHead {
                    method: req.method.unwrap_or_default().into(),
                    target: cap_target(req.path.unwrap_or_default()),
                    version: req.version.unwrap_or(1),
                    close: f.close,
                    body,
                },
            )
        }
        Ok(Status::Partial) => Step::More,
        Err(httparse::Error::TooManyHeaders) => Step::Bad(Bad::TooManyHeaders),
        Err(_) => lenient_request(buf),
    }
}

/// Methods a malformed request line may still start with and be counted
/// (the registered methods, plus WebDAV and the vendor ones tcpdump and
/// Wireshark name). A server answers such a request (often with 400), so
/// the client did send it.
const KNOWN_METHODS: &[&str] = &[
    "GET",
    "HEAD",
    "POST",
    "PUT",
    "DELETE",
    "CONNECT",
    "OPTIONS",
    "TRACE",
    "PATCH",
    "PROPFIND",
    "PROPPATCH",
    "MKCOL",
    "COPY",
    "MOVE",
    "LOCK",
    "UNLOCK",
    "SEARCH",
    "REPORT",
    "CHECKIN",
    "CHECKOUT",
    "UNCHECKOUT",
    "MKACTIVITY",
    "MKWORKSPACE",
    "UPDATE",
    "LABEL",
    "MERGE",
    "NOTIFY",
    "SUBSCRIBE",
    "UNSUBSCRIBE",
    "POLL",
    "BCOPY",
    "BMOVE",
    "BDELETE",
    "BPROPFIND",
    "BPROPPATCH",
    "CCM_POST",
    "RPC_IN_DATA",
    "RPC_OUT_DATA",
    "RPC_CONNECT",
];

/// A request head httparse refuses (e.g. `OPTIONS HTTP/1.1` without a
/// target, `GET / HTTP/1.`), counted when its first token is a known method
/// and the head is complete. It has no body: its framing cannot be trusted.
fn lenient_request(buf: &[u8]) -> Step<ReqHead> {
    // The method may be all there is on the line (`OPTIONS\n`).
    let Some(sp) = buf.iter().position(|&c| matches!(c, b' ' | b'\r' | b'\n')) else {
        return if buf.len() > 16 {
            Step::Bad(Bad::Syntax)
        } else {
            Step::More
        };
    };
    let Ok(method) = std::str::from_utf8(&buf[..sp]) else {
        return Step::Bad(Bad::Syntax);
    };
    if !KNOWN_METHODS.contains(&method) {
        return Step::Bad(Bad::Syntax);
    }
    let Some(eol) = buf.iter().position(|&c| c == b'\n') else {
        return Step::More;
    };
    let line = &buf[(sp + 1).min(eol)..eol];
    if line
        .iter()
        .any(|&c| c != b'\r' && c != b'\t' && !(0x20..0x7f).contains(&c))
    {
        return Step::Bad(Bad::Syntax);
    }
    let end = match (find(buf, b"\r\n\r\n"), find(buf, b"\n\n")) {
        (Some(a), Some(b)) => (a + 4).min(b + 2),
        (Some(a), None) => a + 4,
        (None, Some(b)) => b + 2,
        (None, None) => return Step::More,
    };
    let line = String::from_utf8_lossy(line);
    let mut words = line.split_whitespace();
    let first = words.next().unwrap_or("");
    let target = if first.starts_with("HTTP/") {
        ""
    } else {
        first
    };
    Step::Done(
        end,
        ReqHead {
            method: method.into(),
            target: cap_target(target),
            version: u8::from(!line.contains("HTTP/1.0")),
            close: false,
            body: Ok(Body::None),
        },
    )
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn parse_response(buf: &[u8]) -> Step<RespHead> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(buf) {
        Ok(Status::Complete(n)) => {
            let f = fields(resp.headers);
            Step::Done(
                n,
                RespHead {
                    status: resp.code.unwrap_or_default(),
                    version: resp.version.unwrap_or(1),
                    close: f.close,
                    keep_alive: f.keep_alive,
                    content_length: f.content_length,
                    chunked: f.chunked,
                },
            )
        }
        Ok(Status::Partial) => Step::More,
        Err(httparse::Error::TooManyHeaders) => Step::Bad(Bad::TooManyHeaders),
        Err(_) => Step::Bad(Bad::Syntax),
    }
}

/// Start line only: a request line that is complete in `buf` (the head may
/// continue past it). Used to resynchronise and for heads cut by a hole.
fn request_line(buf: &[u8]) -> Option<ReqHead> {
    if !buf.first().is_some_and(u8::is_ascii_uppercase) {
        return None;
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let ok = matches!(req.parse(buf), Ok(_) | Err(httparse::Error::TooManyHeaders));
    match (ok, req.method, req.path, req.version) {
        (true, Some(m), Some(p), Some(v)) => Some(ReqHead {
            method: m.into(),
            target: cap_target(p),
            version: v,
            close: false,
            body: Ok(Body::None),
        }),
        _ => None,
    }
}

/// Start line only: a status line complete in `buf`.
fn status_line(buf: &[u8]) -> Option<RespHead> {
    if !buf.starts_with(STATUS_PREFIX) {
        return None;
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let ok = matches!(
        resp.parse(buf),
        Ok(_) | Err(httparse::Error::TooManyHeaders)
    );
    match (ok, resp.version, resp.code, resp.reason) {
        (true, Some(v), Some(code), Some(_)) => Some(RespHead {
            status: code,
            version: v,
            close: false,
            keep_alive: false,
            content_length: None,
            chunked: None,
        }),
        _ => None,
    }
}

/// TLS record header at stream start: handshake, SSL 3.0 .. TLS 1.3 record
/// versions (RFC 8446 §5.1).
fn is_tls_start(b: &[u8]) -> bool {
    b.len() >= 3 && b[0] == 0x16 && b[1] == 0x03 && b[2] <= 0x04
}

/// TLS record header mid-stream: any of change_cipher_spec, alert,
/// handshake, application_data.
fn is_tls_record(b: &[u8]) -> bool {
    b.len() >= 3 && (0x14..=0x17).contains(&b[0]) && b[1] == 0x03 && b[2] <= 0x04
}

/// What the first bytes of a stream say, or `None` when too few to tell.
fn classify(b: &[u8]) -> Option<Classified> {
    let n = b.len();
    if n == 0 {
        return None;
    }
    if b[0] == 0x16 {
        if n < 3 {
            return if n == 2 && b[1] != 0x03 {
                Some(Classified::Other)
            } else {
                None
            };
        }
        return Some(if is_tls_start(b) {
            Classified::Tls
        } else {
            Classified::Other
        });
    }
    for (prefix, what) in [
        (H2_PREFACE, Classified::Http2),
        (STATUS_PREFIX, Classified::Responder),
    ] {
        let m = n.min(prefix.len());
        if b[..m] == prefix[..m] {
            return if n >= prefix.len() { Some(what) } else { None };
        }
    }
    // Anything else is a request or not HTTP: httparse decides.
    Some(Classified::Requester)
}

/// One segment's payload read ahead, on the reader thread (issue 8): what
/// `Parser::data` would make of these bytes if they open the stream or a
/// head. The parser takes it only for exactly these bytes, at a point where
/// it would compute the same itself (nothing carried, nothing consumed yet),
/// so it changes no result, only which thread touches the bytes first.
#[derive(Debug, Default, PartialEq)]
pub struct Pre {
    /// `classify` of the first bytes (`None`: too few to tell, or no payload).
    class: Option<Classified>,
    /// Empty lines (CR, LF) before the head.
    skip: u32,
    head: PreHead,
}

/// A head parsed ahead, complete within the segment.
#[derive(Debug, Default, PartialEq)]
enum PreHead {
    /// Not a complete head: the parser parses itself.
    #[default]
    None,
    Request {
        len: u32,
        head: ReqHead,
    },
    Response {
        len: u32,
        head: RespHead,
    },
}

impl Pre {
    pub fn of(payload: &[u8]) -> Pre {
        if payload.is_empty() {
            return Pre::default();
        }
        let class = classify(&payload[..payload.len().min(H2_PREFACE.len())]);
        let skip = payload
            .iter()
            .take_while(|&&b| b == b'\r' || b == b'\n')
            .count();
        let b = &payload[skip..];
        let (Ok(skip), Ok(_)) = (u32::try_from(skip), u32::try_from(payload.len())) else {
            return Pre::default();
        };
        let head = if b.starts_with(STATUS_PREFIX) {
            match parse_response(b) {
                Step::Done(n, head) => PreHead::Response {
                    len: n as u32,
                    head,
                },
                _ => PreHead::None,
            }
        } else if b.first().is_some_and(u8::is_ascii_uppercase) {
            match parse_request(b) {
                Step::Done(n, head) => PreHead::Request {
                    len: n as u32,
                    head,
                },
                _ => PreHead::None,
            }
        } else {
            PreHead::None
        };
        Pre { class, skip, head }
    }

    /// The request head parsed ahead, taken out.
    fn take_request(&mut self) -> Option<(usize, ReqHead)> {
        match std::mem::take(&mut self.head) {
            PreHead::Request { len, head } => Some((len as usize, head)),
            other => {
                self.head = other;
                None
            }
        }
    }

    fn response(&self) -> Option<(usize, RespHead)> {
        match self.head {
            PreHead::Response { len, head } => Some((len as usize, head)),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Classified {
    Tls,
    Http2,
    Requester,
    Responder,
    Other,
}

/// One outstanding request, waiting for its response.
#[derive(Debug)]
struct Pending {
    /// Index into `Exchange::requests`, if the list still had room.
    index: Option<usize>,
    head: bool,
    connect: bool,
}

/// A response parsed before the request it answers (the request was held
/// in reassembly); matched when that request is parsed, if it is not later.
#[derive(Debug)]
struct Orphan {
    time: Timestamp,
    status: u16,
    close: bool,
}

/// The requests and responses of one connection, shared by both directions.
#[derive(Debug, Default)]
pub(crate) struct Exchange {
    pub(crate) requests: Vec<Request>,
    pub(crate) request_count: u64,
    pub(crate) response_count: u64,
    /// Requests sent by side `i` still waiting for a response.
    pending: [VecDeque<Pending>; 2],
    /// Responses to side `i` whose request has not been parsed yet.
    orphans: [VecDeque<Orphan>; 2],
    pub(crate) requester: Option<u8>,
    pub(crate) responder: Option<u8>,
    /// Set by a 101 or a 2xx to CONNECT: both directions stop parsing.
    pub(crate) tunnel: bool,
    pub(crate) skipped: u64,
    pub(crate) protocol_errors: u64,
    pub(crate) limits: Limits,
}

impl Exchange {
    /// Back to `default()`, keeping the queues' buffers (see `HttpConn::reset`).
    /// Field by field, each one named (a field added later does not compile
    /// here until it is reset too): building a whole new value and dropping
    /// the old one cost a short connection more than its HTTP parsing.
    pub(crate) fn reset(&mut self) {
        let Exchange {
            requests,
            request_count,
            response_count,
            pending,
            orphans,
            requester,
            responder,
            tunnel,
            skipped,
            protocol_errors,
            limits,
        } = self;
        requests.clear();
        pending.iter_mut().for_each(VecDeque::clear);
        orphans.iter_mut().for_each(VecDeque::clear);
        (*request_count, *response_count) = (0, 0);
        (*requester, *responder, *tunnel) = (None, None, false);
        (*skipped, *protocol_errors) = (0, 0);
        *limits = Limits::default();
    }

    fn on_request(&mut self, cfg: &HttpConfig, side: u8, h: ReqHead, time: Timestamp) {
        let s = usize::from(side);
        self.request_count += 1;
        self.requester.get_or_insert(side);
        let (head, connect) = (h.method == "HEAD", h.method == "CONNECT");
        let mut req = Request {
            time,
            side,
            method: h.method,
            target: h.target,
            version: h.version,
            status: None,
            connection_close: h.close,
            response_close: false,
        };
        // A response already seen that is not older than this request answers it.
        let mut answered = false;
        while let Some(o) = self.orphans[s].pop_front() {
            if o.time >= time {
                req.status = Some(o.status);
                req.response_close = o.close;
                answered = true;
                break;
            }
        }
        let index = if self.requests.len() < cfg.max_requests_kept {
            self.requests.push(req);
            Some(self.requests.len() - 1)
        } else {
            self.limits.requests_truncated = true;
            None
        };
        if answered {
            return;
        }
        if self.pending[s].len() >= MAX_PENDING {
            self.limits.pending_overflow = true;
            self.pending[s].pop_front();
        }
        self.pending[s].push_back(Pending {
            index,
            head,
            connect,
        });
    }

    /// Record a response head from `side`; returns how its body is framed.
    fn on_response(&mut self, side: u8, h: &RespHead, time: Timestamp) -> Result<Body, Bad> {
        // 1xx other than 101 are interim (RFC 9110 §15.2): no body, the
        // request stays outstanding, and they are not counted as responses.
        if (100..200).contains(&h.status) && h.status != 101 {
            return Ok(Body::None);
        }
        self.response_count += 1;
        self.responder.get_or_insert(side);
        let peer = usize::from(side ^ 1);
        let p = self.pending[peer].pop_front();
        let (head, connect) = p.as_ref().map_or((false, false), |p| (p.head, p.connect));
        // RFC 9112 §6.3, in order.
        let body = if h.status == 101 || (connect && (200..300).contains(&h.status)) {
            Ok(Body::Tunnel)
        } else if head || h.status == 204 || h.status == 304 {
            Ok(Body::None)
        } else {
            match (h.chunked, h.content_length) {
                (Some(true), _) => Ok(Body::Chunked),
                (Some(false), _) => Ok(Body::UntilClose),
                (None, Some(Ok(0))) => Ok(Body::None),
                (None, Some(Ok(n))) => Ok(Body::Length(n)),
                (None, Some(Err(()))) => Err(Bad::Framing),
                (None, None) => Ok(Body::UntilClose),
            }
        };
        // HTTP/1.0 closes unless keep-alive was negotiated (RFC 9112 §9.3);
        // a body delimited by close ends the connection too.
        let close =
            h.close || (h.version == 0 && !h.keep_alive) || matches!(body, Ok(Body::UntilClose));
        match p {
            Some(p) => {
                if let Some(r) = p.index.and_then(|i| self.requests.get_mut(i)) {
                    r.status = Some(h.status);
                    r.response_close = close;
                }
            }
            None => {
                if self.orphans[peer].len() >= MAX_ORPHANS {
                    self.orphans[peer].pop_front();
                }
                self.orphans[peer].push_back(Orphan {
                    time,
                    status: h.status,
                    close,
                });
            }
        }
        if body == Ok(Body::Tunnel) {
            self.tunnel = true;
        }
        body
    }
}

/// Framing state of one direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Stream start (after a SYN): the first bytes decide the protocol.
    Classify,
    /// Lost sync (hole, mid-stream start, protocol error): discard bytes
    /// until a segment starts with a start line.
    Hunt,
    Head,
    Body(u64),
    ChunkSize,
    ChunkData(u64),
    /// The CRLF after chunk data; `true` once the CR was seen.
    ChunkEnd(bool),
    Trailers,
    UntilClose,
    /// Not (or no longer) HTTP/1, or the stream ended: ignore everything.
    Ignore,
}

/// One direction's framing parser. `Default` allocates nothing.
#[derive(Debug)]
pub(crate) struct Parser {
    side: u8,
    state: State,
    proto: SideProto,
    /// The role this side plays; tentative until `proto` is `Http1`.
    role: Option<Role>,
    /// The role came from the stream's first bytes (a bad first head is then `Other`).
    from_start: bool,
    /// Bytes of an unfinished head, chunk-size line or trailer section.
    carry: Vec<u8>,
    /// `carry.len()` at the last parse attempt (re-parse on doubling).
    parsed_len: usize,
    /// Timestamp of the segment that carried the current head's first byte.
    head_ts: Timestamp,
}

impl Parser {
    /// Back to `new(side)`, in place, keeping the carry buffer (a pooled
    /// connection then allocates none for its next short heads).
    /// Field by field, like `Exchange::reset`.
    pub(crate) fn reset(&mut self) {
        let Parser {
            side: _,
            state,
            proto,
            role,
            from_start,
            carry,
            parsed_len,
            head_ts,
        } = self;
        carry.clear();
        (*state, *proto, *role) = (State::Classify, SideProto::Unknown, None);
        (*from_start, *parsed_len, *head_ts) = (false, 0, Timestamp::default());
    }

    pub(crate) fn new(side: u8) -> Self {
        Parser {
            side,
            state: State::Classify,
            proto: SideProto::Unknown,
            role: None,
            from_start: false,
            carry: Vec::new(),
            parsed_len: 0,
            head_ts: Timestamp::default(),
        }
    }

    /// Bytes held for an unfinished head (bounded by `max_header_bytes`).
    #[cfg(test)]
    pub(crate) fn carry_len(&self) -> usize {
        self.carry.len()
    }

    pub(crate) fn proto(&self) -> SideProto {
        self.proto
    }

    /// Nothing more will be parsed: reassembly may stop feeding this side.
    pub(crate) fn is_done(&self, ex: &Exchange) -> bool {
        self.state == State::Ignore || ex.tunnel
    }

    fn lose_sync(&mut self, ex: &mut Exchange, why: Option<Bad>) {
        if let Some(b) = why {
            ex.protocol_errors += 1;
            match b {
                Bad::TooLarge => ex.limits.header_too_large = true,
                Bad::TooManyHeaders => ex.limits.too_many_headers = true,
                Bad::Syntax | Bad::Framing => {}
            }
        }
        self.carry = Vec::new();
        self.parsed_len = 0;
        let from_start = std::mem::replace(&mut self.from_start, false);
        if self.proto != SideProto::Http1 {
            // Never confirmed: a broken first message means "not HTTP".
            self.role = None;
            if from_start && why.is_some() {
                self.proto = SideProto::Other;
                self.state = State::Ignore;
                return;
            }
        }
        self.state = State::Hunt;
    }

    pub(crate) fn midstream(&mut self) {
        if self.state == State::Classify {
            self.state = State::Hunt;
        }
    }

    pub(crate) fn gap(&mut self, cfg: &HttpConfig, ex: &mut Exchange, lost: u64) {
        ex.skipped += lost;
        match self.state {
            // A hole inside a body of known length keeps the framing in sync.
            State::Body(n) if lost <= n => {
                self.state = if lost == n {
                    State::Head
                } else {
                    State::Body(n - lost)
                };
            }
            State::ChunkData(n) if lost <= n => {
                self.state = if lost == n {
                    State::ChunkEnd(false)
                } else {
                    State::ChunkData(n - lost)
                };
            }
            State::UntilClose | State::Ignore | State::Hunt => {}
            State::Head => {
                self.cut_head(cfg, ex);
                self.lose_sync(ex, None);
            }
            _ => self.lose_sync(ex, None),
        }
    }

    /// A head cut short (hole or end of capture): if its start line is
    /// complete, the message was sent — record it.
    fn cut_head(&mut self, cfg: &HttpConfig, ex: &mut Exchange) {
        let carry = std::mem::take(&mut self.carry);
        match self.role {
            Some(Role::Requester) => {
                if let Some(h) = request_line(&carry) {
                    ex.on_request(cfg, self.side, h, self.head_ts);
                }
            }
            Some(Role::Responder) => {
                if let Some(h) = status_line(&carry) {
                    let _ = ex.on_response(self.side, &h, self.head_ts);
                }
            }
            None => {}
        }
    }

    /// The stream reached the sender's FIN: ends a read-until-close body;
    /// nothing can follow.
    pub(crate) fn fin(&mut self, cfg: &HttpConfig, ex: &mut Exchange) {
        self.finish(cfg, ex);
    }

    /// End of capture or connection.
    pub(crate) fn finish(&mut self, cfg: &HttpConfig, ex: &mut Exchange) {
        if self.state == State::Head && !self.carry.is_empty() {
            self.cut_head(cfg, ex);
        }
        self.carry = Vec::new();
        self.state = State::Ignore;
    }

    /// Feed the next bytes of the stream.
    pub(crate) fn data(
        &mut self,
        cfg: &HttpConfig,
        ex: &mut Exchange,
        mut input: &[u8],
        seg_start: bool,
        ts: Timestamp,
        pre: Option<&mut Pre>,
    ) {
        let mut at_seg_start = seg_start;
        // What the reader thread made of these bytes holds while none of
        // them is consumed and nothing is carried before them.
        let whole = input.len();
        let mut pre = pre.filter(|_| seg_start);
        while !input.is_empty() {
            let ahead = match pre.as_deref_mut() {
                Some(p) if input.len() == whole && self.carry.is_empty() => Some(p),
                _ => None,
            };
            if ex.tunnel {
                self.state = State::Ignore;
            }
            let before = input.len();
            match self.state {
                State::Ignore => return,
                State::Hunt => {
                    if at_seg_start && self.resync(input) {
                        continue;
                    }
                    if self.proto == SideProto::Http1 {
                        ex.skipped += input.len() as u64;
                    }
                    return;
                }
                State::Classify => {
                    if let Some(what) = ahead.and_then(|p| p.class) {
                        debug_assert_eq!(
                            Some(what),
                            classify(&input[..input.len().min(H2_PREFACE.len())])
                        );
                        self.head_ts = ts;
                        self.classified(what);
                        continue;
                    }
                    if !self.classify_step(&mut input, ts) {
                        return;
                    }
                    continue;
                }
                State::Head => {
                    if self.carry.is_empty() {
                        // Tolerate empty lines before a start line (RFC 9112 §2.2).
                        let count = |input: &[u8]| {
                            input
                                .iter()
                                .take_while(|&&b| b == b'\r' || b == b'\n')
                                .count()
                        };
                        let n = match &ahead {
                            Some(p) => {
                                debug_assert_eq!(p.skip as usize, count(input));
                                p.skip as usize
                            }
                            None => count(input),
                        };
                        input = &input[n..];
                        if input.is_empty() {
                            return;
                        }
                        self.head_ts = ts;
                    }
                    let role = self.role.unwrap_or(Role::Requester);
                    match role {
                        Role::Requester => {
                            let got = match ahead.and_then(Pre::take_request) {
                                Some((n, h)) => {
                                    debug_assert!(
                                        matches!(parse_request(input), Step::Done(m, ref x) if m == n && *x == h)
                                    );
                                    Some(take_whole(cfg, &mut input, n, h))
                                }
                                None => self.contiguous(cfg, &mut input, Want::Head, parse_request),
                            };
                            match got {
                                Some(Ok(h)) => self.request_done(cfg, ex, h),
                                Some(Err(b)) => self.lose_sync(ex, Some(b)),
                                None => return,
                            }
                        }
                        Role::Responder => {
                            let got = match ahead.and_then(|p| p.response()) {
                                Some((n, h)) => {
                                    debug_assert_eq!(parse_response(input), Step::Done(n, h));
                                    Some(take_whole(cfg, &mut input, n, h))
                                }
                                None => {
                                    self.contiguous(cfg, &mut input, Want::Head, parse_response)
                                }
                            };
                            match got {
                                Some(Ok(h)) => self.response_done(ex, h),
                                Some(Err(b)) => self.lose_sync(ex, Some(b)),
                                None => return,
                            }
                        }
                    }
                }
                State::Body(n) | State::ChunkData(n) => {
                    let take = (input.len() as u64).min(n);
                    input = &input[take as usize..];
                    let left = n - take;
                    self.state = match (self.state, left) {
                        (State::Body(_), 0) => State::Head,
                        (State::Body(_), _) => State::Body(left),
                        (_, 0) => State::ChunkEnd(false),
                        _ => State::ChunkData(left),
                    };
                }
                State::ChunkEnd(seen_cr) => {
                    match (seen_cr, input[0]) {
                        (false, b'\r') => self.state = State::ChunkEnd(true),
                        // A bare LF is tolerated (RFC 9112 §2.2).
                        (_, b'\n') => self.state = State::ChunkSize,
                        _ => self.lose_sync(ex, Some(Bad::Syntax)),
                    }
                    input = &input[1..];
                }
                State::ChunkSize => {
                    match self.contiguous(cfg, &mut input, Want::Line, |b| {
                        match httparse::parse_chunk_size(b) {
                            Ok(Status::Complete((n, size))) => Step::Done(n, size),
                            Ok(Status::Partial) => Step::More,
                            Err(_) => Step::Bad(Bad::Syntax),
                        }
                    }) {
                        // The last chunk is followed by the trailer section (RFC 9112 §7.1.2).
                        Some(Ok(0)) => self.state = State::Trailers,
                        Some(Ok(size)) => self.state = State::ChunkData(size),
                        Some(Err(b)) => self.lose_sync(ex, Some(b)),
                        None => return,
                    }
                }
                State::Trailers => {
                    match self.contiguous(cfg, &mut input, Want::Trailers, |b| {
                        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
                        match httparse::parse_headers(b, &mut headers) {
                            Ok(Status::Complete((n, _))) => Step::Done(n, ()),
                            Ok(Status::Partial) => Step::More,
                            Err(httparse::Error::TooManyHeaders) => Step::Bad(Bad::TooManyHeaders),
                            Err(_) => Step::Bad(Bad::Syntax),
                        }
                    }) {
                        Some(Ok(())) => self.state = State::Head,
                        Some(Err(b)) => self.lose_sync(ex, Some(b)),
                        None => return,
                    }
                }
                State::UntilClose => return,
            }
            if input.len() != before || self.state == State::Hunt {
                at_seg_start = false;
            }
        }
    }

    /// In `Hunt`, at a segment start: does `input` begin a message this side
    /// may send? Switches state (without consuming) and returns `true` if so.
    fn resync(&mut self, input: &[u8]) -> bool {
        let want = if self.proto == SideProto::Http1 {
            self.role
        } else {
            None
        };
        if want != Some(Role::Responder) && request_line(input).is_some() {
            self.role = Some(Role::Requester);
        } else if want != Some(Role::Requester) && status_line(input).is_some() {
            self.role = Some(Role::Responder);
        } else if want.is_none() && self.proto == SideProto::Unknown {
            if is_tls_record(input) {
                self.proto = SideProto::Tls;
            } else if input.starts_with(H2_PREFACE) {
                self.proto = SideProto::Http2;
            } else {
                return false;
            }
            self.state = State::Ignore;
            return true;
        } else {
            return false;
        }
        self.state = State::Head;
        true
    }

    /// Classify the stream's first bytes. Returns `false` when more are needed
    /// (the bytes are then kept in `carry`).
    fn classify_step(&mut self, input: &mut &[u8], ts: Timestamp) -> bool {
        if self.carry.is_empty() {
            self.head_ts = ts;
        }
        let mut head = [0u8; H2_PREFACE.len()];
        let c = self.carry.len().min(head.len());
        head[..c].copy_from_slice(&self.carry[..c]);
        let i = (head.len() - c).min(input.len());
        head[c..c + i].copy_from_slice(&input[..i]);
        let decided = classify(&head[..c + i]);
        let Some(what) = decided else {
            // Fewer bytes than the longest prefix: keep them.
            self.carry.extend_from_slice(input);
            self.parsed_len = self.carry.len();
            *input = &[];
            return false;
        };
        self.classified(what);
        true
    }

    /// The stream's first bytes said `what`.
    fn classified(&mut self, what: Classified) {
        self.from_start = true;
        match what {
            Classified::Tls => self.proto = SideProto::Tls,
            Classified::Http2 => self.proto = SideProto::Http2,
            Classified::Other => self.proto = SideProto::Other,
            Classified::Requester => self.role = Some(Role::Requester),
            Classified::Responder => self.role = Some(Role::Responder),
        }
        self.state = match what {
            Classified::Requester | Classified::Responder => State::Head,
            _ => {
                self.carry = Vec::new();
                State::Ignore
            }
        };
    }

    fn request_done(&mut self, cfg: &HttpConfig, ex: &mut Exchange, h: ReqHead) {
        self.confirm(Role::Requester);
        let body = h.body;
        ex.on_request(cfg, self.side, h, self.head_ts);
        match body {
            Ok(b) => self.start_body(b),
            Err(b) => self.lose_sync(ex, Some(b)),
        }
    }

    fn response_done(&mut self, ex: &mut Exchange, h: RespHead) {
        self.confirm(Role::Responder);
        match ex.on_response(self.side, &h, self.head_ts) {
            Ok(b) => self.start_body(b),
            Err(b) => self.lose_sync(ex, Some(b)),
        }
    }

    fn confirm(&mut self, role: Role) {
        self.proto = SideProto::Http1;
        self.role = Some(role);
    }

    fn start_body(&mut self, body: Body) {
        self.state = match body {
            Body::None | Body::Length(0) => State::Head,
            Body::Length(n) => State::Body(n),
            Body::Chunked => State::ChunkSize,
            Body::UntilClose => State::UntilClose,
            Body::Tunnel => State::Ignore,
        };
    }

    /// Parse an item that must be contiguous (head, chunk-size line,
    /// trailers) from `carry` + `input`, consuming from `input`.
    /// `None`: need more (all of `input` consumed into `carry`).
    fn contiguous<T>(
        &mut self,
        cfg: &HttpConfig,
        input: &mut &[u8],
        want: Want,
        parse: impl Fn(&[u8]) -> Step<T>,
    ) -> Option<Result<T, Bad>> {
        let cap = cfg.max_header_bytes.max(1);
        if self.carry.is_empty() {
            return match parse(input) {
                Step::Done(n, v) => Some(take_whole(cfg, input, n, v)),
                Step::Bad(b) => Some(Err(b)),
                Step::More if input.len() >= cap => Some(Err(Bad::TooLarge)),
                Step::More => {
                    self.carry.extend_from_slice(input);
                    self.parsed_len = self.carry.len();
                    *input = &[];
                    None
                }
            };
        }
        let old = self.carry.len();
        let take = input.len().min(cap.saturating_sub(old));
        self.carry.extend_from_slice(&input[..take]);
        let full = self.carry.len() >= cap;
        if !full && !want.may_end(&self.carry, old) && self.carry.len() < 2 * self.parsed_len {
            *input = &input[take..];
            return None;
        }
        self.parsed_len = self.carry.len();
        match parse(&self.carry) {
            Step::Done(n, v) => {
                // `carry` held an unfinished item, so it ends in the new bytes.
                let used = n.saturating_sub(old).min(take);
                *input = &input[used..];
                self.carry = Vec::new();
                self.parsed_len = 0;
                Some(Ok(v))
            }
            Step::Bad(b) => Some(Err(b)),
            Step::More if full => Some(Err(Bad::TooLarge)),
            Step::More => {
                *input = &input[take..];
                None
            }
        }
    }
}

/// An item of `n` bytes found whole at the start of `input` (parsed there,
/// or ahead: `Pre`), taken under the same bound as when it arrives split
/// (the carry holds at most `max_header_bytes`): how a stream was
/// segmented must not change what is counted.
fn take_whole<T>(cfg: &HttpConfig, input: &mut &[u8], n: usize, v: T) -> Result<T, Bad> {
    if n > cfg.max_header_bytes.max(1) {
        return Err(Bad::TooLarge);
    }
    *input = &input[n..];
    Ok(v)
}

/// What kind of contiguous item is being collected, for deciding whether
/// new bytes could complete it (so a growing carry is not re-parsed for nothing).
#[derive(Clone, Copy)]
enum Want {
    Head,
    Line,
    Trailers,
}

impl Want {
    /// Could `buf` (of which `buf[..old]` was already seen incomplete) now be complete?
    fn may_end(self, buf: &[u8], old: usize) -> bool {
        let from = old.saturating_sub(2);
        let tail = &buf[from..];
        match self {
            Want::Line => tail.contains(&b'\n'),
            Want::Head => has_blank_line(tail),
            Want::Trailers => {
                buf.starts_with(b"\n") || buf.starts_with(b"\r\n") || has_blank_line(tail)
            }
        }
    }
}

fn has_blank_line(b: &[u8]) -> bool {
    b.windows(2).any(|w| w == b"\n\n") || b.windows(3).any(|w| w == b"\n\r\n")
}
