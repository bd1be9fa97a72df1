//! Diagnosis: plain-language findings derived from the tracked facts.
//! Decides what to say; `report` only prints it.

use crate::report::model::{ConnReport, Summary};
use crate::track::Close;

/// Findings, most important first.
pub fn diagnose(s: &Summary, conns: &[ConnReport]) -> Vec<String> {
    let mut d = Vec::new();
    if s.payload_cut > 0 {
        d.push(format!(
            "{} TCP packets had their payload cut by the capture's snapshot length: requests in the missing bytes cannot be counted; capture with a larger snaplen (tcpdump -s 0)",
            s.payload_cut
        ));
    }
    // Bounds reached: the counts below may be incomplete (said even when
    // no HTTP was seen, which is what a flood or a runaway head looks like).
    if s.capped {
        d.push(format!(
            "the --max-connections cap was reached: {} segments that would have opened new connections were not tracked",
            s.track.dropped_at_cap
        ));
    }
    if s.header_capped > 0 {
        d.push(format!(
            "{} connection(s) sent an HTTP head longer than --max-header-bytes: it was skipped, so requests may be missing from the counts",
            s.header_capped
        ));
    }
    if s.window_capped > 0 {
        d.push(format!(
            "{} connection(s) had more out-of-order data than --reasm-window holds: a hole was skipped, so requests may be missing from the counts",
            s.window_capped
        ));
    }
    let http: Vec<&ConnReport> = conns.iter().filter(|c| c.http_requests > 0).collect();
    if http.is_empty() {
        if s.connections > 0 {
            d.push(format!(
                "no HTTP/1.x requests seen in {} TCP connection(s)",
                s.connections
            ));
        }
        return d;
    }
    let one_each = http.iter().filter(|c| c.http_requests == 1).count();
    if http.len() > 1 && one_each == http.len() {
        let client_closed = http
            .iter()
            .filter(|c| matches!(c.record.close, Close::Client | Close::ResetByClient))
            .count();
        let resets = http
            .iter()
            .filter(|c| c.record.close == Close::ResetByClient)
            .count();
        let asked = http.iter().filter(|c| c.client_asked_close).count();
        let server_close = http
            .iter()
            .filter(|c| c.server_said_close || c.record.close == Close::Server)
            .count();
        let http10 = http.iter().filter(|c| c.http10).count();
        if http10 == http.len() {
            d.push(format!("every connection carried one HTTP/1.0 request: HTTP/1.0 closes the connection after each response unless keep-alive is negotiated ({} connections)", http.len()));
        } else if asked > 0 {
            d.push(format!("{asked} request(s) carried `Connection: close`: the client asked for a new connection each time"));
        } else if resets > 0 {
            d.push(format!("every connection carried one request and {resets} were reset by the client right after the response: the response body was not read to the end, so the client could not reuse the connection"));
        } else if server_close > 0 && client_closed == 0 {
            d.push(format!("every connection carried one request and the server closed it ({server_close} connections): the server does not keep connections alive"));
        } else {
            d.push(format!("every connection carried a single request ({} connections): no connection was reused", http.len()));
        }
    } else if http.len() == 1 && http[0].http_requests > 1 {
        d.push(format!(
            "all {} requests reused one connection: keep-alive works",
            http[0].http_requests
        ));
    } else {
        let reused = http.iter().filter(|c| c.http_requests > 1).count();
        d.push(format!(
            "{reused} of {} HTTP connections carried more than one request",
            http.len()
        ));
    }
    let tw = s.track.time_wait_entered;
    if tw[0] + tw[1] > 0 {
        let holder = if tw[0] >= tw[1] { "clients" } else { "servers" };
        d.push(format!("{} endpoints entered TIME-WAIT ({} client, {} server; peak {} at once): the {holder} closed first and hold the TIME-WAIT sockets", tw[0] + tw[1], tw[0], tw[1], s.track.time_wait_peak));
    }
    if s.track.refused > 0 {
        d.push(format!("{} connection attempt(s) were refused (SYN answered by RST): nothing listening on that port", s.track.refused));
    }
    d
}
