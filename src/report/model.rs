//! The report's data: what the driver hands to the renderers. Plain values
//! gathered from `track` and `http`; nothing here decides anything.

use crate::http::{Protocol, Request};
use crate::track::{ConnRecord, TrackStats};

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
