//! JSON, NDJSON and CSV renderings, with DESIGN.md's field names (a contract).

use super::model::{ConnReport, Summary};
use serde_json::{json, Value};
use std::io::{self, Write};

fn addr(a: std::net::SocketAddr) -> String {
    // SocketAddr's Display already brackets IPv6: "[::1]:8080".
    a.to_string()
}

/// One connection object as in the JSON contract.
pub fn connection(c: &ConnReport) -> Value {
    let r = &c.record;
    let requests: Vec<Value> = c
        .requests
        .iter()
        .map(|q| {
            json!({
                "time": q.time.as_f64(),
                "method": q.method,
                "target": q.target,
                "version": q.version_str(),
                "status": q.status,
            })
        })
        .collect();
    json!({
        "id": r.id.0,
        "client": addr(r.client),
        "server": addr(r.server),
        "start": r.start.as_f64(),
        "end": r.end.as_f64(),
        "handshake": r.handshake.name(),
        "close": r.close.name(),
        "client_state": r.client_state.name(),
        "server_state": r.server_state.name(),
        "time_wait": r.time_wait.name(),
        "packets": {"client": r.packets[0], "server": r.packets[1]},
        "bytes": {"client": r.bytes[0], "server": r.bytes[1]},
        "http_requests": c.http_requests,
        "requests": requests,
        "protocol": c.protocol.name(),
    })
}

pub fn totals(s: &Summary) -> Value {
    json!({
        "connections": s.connections,
        "connections_with_http": s.connections_with_http,
        "http_requests": s.http_requests,
        "http_responses": s.http_responses,
        "time_wait": {"client": s.track.time_wait_entered[0], "server": s.track.time_wait_entered[1]},
        "time_wait_peak": s.track.time_wait_peak,
        "time_wait_at_end": s.track.time_wait_at_end,
        "refused": s.track.refused,
    })
}

fn findings(s: &Summary) -> Value {
    s.findings
        .iter()
        .map(|f| json!({"cause": f.cause.name(), "short": f.short, "detail": f.detail}))
        .collect()
}

fn packets(s: &Summary) -> Value {
    json!({"total": s.packets_total, "tcp": s.packets_tcp, "skipped": s.packets_skipped})
}

/// The whole report as one JSON document.
pub fn write_json(out: &mut dyn Write, s: &Summary, conns: &[ConnReport]) -> io::Result<()> {
    let doc = json!({
        "source": s.source,
        "link_type": s.link_type,
        "packets": packets(s),
        "totals": totals(s),
        "connections": conns.iter().map(connection).collect::<Vec<_>>(),
        "diagnosis": s.diagnosis,
        "findings": findings(s),
    });
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}

/// One NDJSON line for a connection that just ended.
pub fn write_ndjson_conn(out: &mut dyn Write, source: &str, c: &ConnReport) -> io::Result<()> {
    let mut v = connection(c);
    v["source"] = Value::from(source);
    serde_json::to_writer(&mut *out, &v)?;
    writeln!(out)
}

/// The final NDJSON line.
pub fn write_ndjson_totals(out: &mut dyn Write, s: &Summary) -> io::Result<()> {
    let v = json!({"source": s.source, "packets": packets(s), "totals": totals(s), "diagnosis": s.diagnosis, "findings": findings(s)});
    serde_json::to_writer(&mut *out, &v)?;
    writeln!(out)
}

pub const CSV_HEADER: &str = "source,id,client,server,start,end,handshake,close,client_state,server_state,time_wait,packets_client,packets_server,bytes_client,bytes_server,http_requests";

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

pub fn write_csv_row(out: &mut dyn Write, source: &str, c: &ConnReport) -> io::Result<()> {
    let r = &c.record;
    writeln!(
        out,
        "{},{},{},{},{:.6},{:.6},{},{},{},{},{},{},{},{},{},{}",
        csv_field(source),
        r.id.0,
        csv_field(&addr(r.client)),
        csv_field(&addr(r.server)),
        r.start.as_f64(),
        r.end.as_f64(),
        r.handshake.name(),
        r.close.name(),
        r.client_state.name(),
        r.server_state.name(),
        r.time_wait.name(),
        r.packets[0],
        r.packets[1],
        r.bytes[0],
        r.bytes[1],
        c.http_requests
    )
}
