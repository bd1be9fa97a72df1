//! The report's data: what the driver hands to the renderers. Plain values
//! gathered from `track` and `http`; nothing here decides anything.

use crate::capture::Timestamp;
use crate::decode::TcpFlags;
use crate::http::{Protocol, Request};
use crate::track::{ConnRecord, Role, TrackStats, Transition};

/// One connection, as every output format shows it.
#[derive(Clone, Debug)]
pub struct ConnReport {
    pub record: ConnRecord,
    /// Requests sent by the client (all of them, even past the kept list).
    pub http_requests: u64,
    pub http_responses: u64,
    /// The requests kept (up to the configured cap), in order.
    pub requests: Vec<Request>,
    pub protocol: Protocol,
    pub skipped_bytes: u64,
    /// The request/response carried `Connection: close` or was HTTP/1.0 without keep-alive.
    pub client_asked_close: bool,
    pub server_said_close: bool,
    pub http10: bool,
}

/// Totals and the findings for one source.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub source: String,
    pub link_type: String,
    pub packets_total: u64,
    pub packets_tcp: u64,
    pub packets_skipped: u64,
    pub connections: u64,
    pub connections_with_http: u64,
    pub http_requests: u64,
    pub http_responses: u64,
    pub track: TrackStats,
    /// Connections not analysed because `--max-connections` was reached.
    pub capped: bool,
    /// TCP packets whose payload was cut by the snapshot length.
    pub payload_cut: u64,
    /// Connections with an HTTP head longer than `--max-header-bytes`.
    pub header_capped: u64,
    /// Connections whose out-of-order data overflowed `--reasm-window`.
    pub window_capped: u64,
    pub diagnosis: Vec<String>,
    /// The same findings with their cause and a few-word form.
    pub findings: Vec<crate::diagnosis::Finding>,
    /// Set when the findings come from a bounded share of the connections.
    pub diagnosis_note: Option<String>,
}

impl Summary {
    /// `N HTTP requests over M TCP connections (R per connection)`.
    pub fn headline(&self) -> String {
        let per = if self.connections > 0 {
            self.http_requests as f64 / self.connections as f64
        } else {
            0.0
        };
        format!(
            "{} HTTP request{} over {} TCP connection{} ({per:.2} per connection)",
            self.http_requests,
            if self.http_requests == 1 { "" } else { "s" },
            self.connections,
            if self.connections == 1 { "" } else { "s" },
        )
    }
}

/// One segment of a connection, for the ladder diagram.
#[derive(Clone, Debug)]
pub struct LadderEvent {
    pub ts: Timestamp,
    /// Who sent it.
    pub from: Role,
    pub flags: TcpFlags,
    /// Sequence number relative to the sender's first (ISN = 0).
    pub rel_seq: u32,
    /// Acknowledgment relative to the receiver's first sequence number (when ACK is set).
    pub rel_ack: Option<u32>,
    /// Payload length on the wire.
    pub len: u32,
    /// The HTTP request or status line the segment starts with, if any.
    pub http: Option<String>,
    /// State changes this segment caused, sender's first.
    pub transitions: Vec<Transition>,
}

/// Everything the ladder of one connection shows.
#[derive(Clone, Debug)]
pub struct Ladder {
    pub conn: ConnReport,
    pub events: Vec<LadderEvent>,
    /// Events not kept (the per-connection cap was reached).
    pub dropped_events: u64,
    /// The 2MSL assumed, to label the TIME-WAIT end.
    pub time_wait_secs: f64,
}
