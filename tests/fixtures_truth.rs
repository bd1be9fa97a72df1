//! Connection, TIME-WAIT and HTTP counts on every fixture against ground
//! truth recorded when the fixture was made: the traffic script's own counts
//! (`NAME.expect`) and the kernel's socket table (`NAME.ss`, from
//! `ss -tan state time-wait` right after the traffic). Never against an
//! earlier connscope run.

mod common;
use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

fn expect(path: &Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            (
                k.trim().to_string(),
                v.split('#').next().unwrap().trim().to_string(),
            )
        })
        .collect()
}

fn json_report(cap: &Path) -> Value {
    let o = connscope(&["read", "-q", "--format", "json", cap.to_str().unwrap()]);
    assert!(
        o.status.success(),
        "{}: {}",
        cap.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

/// The endpoints the kernel listed in TIME-WAIT (local address column).
fn ss_time_wait(path: &Path) -> Vec<String> {
    let Ok(s) = std::fs::read_to_string(path) else {
        return vec![];
    };
    s.lines()
        .skip(1)
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            // Recv-Q Send-Q Local Peer: with `state time-wait`, ss omits State.
            (cols.len() >= 4).then(|| cols[2].to_string())
        })
        .collect()
}

fn canon(a: &str) -> String {
    // ss prints "[::1]:80" for IPv6 as our JSON does; strip "%lo" scopes.
    a.replace("%lo", "")
}

#[test]
fn every_fixture_matches_its_ground_truth() {
    let mut checked = 0;
    let mut failures = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(fixtures())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "expect"))
        .collect();
    names.sort();
    for exp_path in names {
        let stem = exp_path.file_stem().unwrap().to_string_lossy().into_owned();
        let cap = ["pcap", "pcapng"]
            .iter()
            .map(|x| fixtures().join(format!("{stem}.{x}")))
            .find(|c| c.exists());
        let Some(cap) = cap else { continue };
        let mut e = expect(&exp_path);
        if stem == "snaplen60" {
            // `tcpdump -s 60` kept no payload byte at all: the request the
            // client sent is not in the capture. connscope must say so
            // instead of counting; the connection facts still hold.
            for k in [
                "http_requests",
                "connections_with_http",
                "requests_per_connection",
                "methods",
                "statuses",
            ] {
                e.remove(k);
            }
            let j = json_report(&cap);
            let d = j["diagnosis"].to_string();
            assert!(d.contains("snapshot length"), "snaplen60 diagnosis: {d}");
        }
        let j = json_report(&cap);
        let conns = j["connections"].as_array().unwrap();
        macro_rules! check {
            ($key:expr, $got:expr) => {{
                let got: String = $got;
                if let Some(want) = e.get($key) {
                    if *want != got {
                        failures.push(format!("{stem}: {}: expected {want}, got {got}", $key));
                    }
                }
            }};
        }
        check!("connections", j["totals"]["connections"].to_string());
        check!("http_requests", j["totals"]["http_requests"].to_string());
        check!(
            "connections_with_http",
            j["totals"]["connections_with_http"].to_string()
        );
        let per: Vec<String> = conns
            .iter()
            .map(|c| c["http_requests"].to_string())
            .collect();
        check!("requests_per_connection", per.join(","));
        let close: Vec<String> = conns
            .iter()
            .map(|c| c["close"].as_str().unwrap().to_string())
            .collect();
        check!("close", close.join(","));
        let hs: Vec<String> = conns
            .iter()
            .map(|c| c["handshake"].as_str().unwrap().to_string())
            .collect();
        check!("handshake", hs.join(","));
        let methods: Vec<String> = conns
            .iter()
            .flat_map(|c| {
                c["requests"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r["method"].as_str().unwrap().to_string())
            })
            .collect();
        check!("methods", methods.join(","));
        let statuses: Vec<String> = conns
            .iter()
            .flat_map(|c| {
                c["requests"].as_array().unwrap().iter().map(|r| {
                    r["status"]
                        .as_u64()
                        .map(|s| s.to_string())
                        .unwrap_or("-".into())
                })
            })
            .collect();
        check!("statuses", statuses.join(","));
        // TIME-WAIT holders still in TIME-WAIT at the end of the capture
        // against the kernel's table: each ss endpoint must be a connection
        // endpoint connscope says holds TIME-WAIT, on the matching side.
        let ss = ss_time_wait(&fixtures().join(format!("{stem}.ss")));
        if fixtures().join(format!("{stem}.ss")).exists() {
            let mut holders = Vec::new();
            for c in conns {
                let tw = c["time_wait"].as_str().unwrap();
                if tw == "client" || tw == "both" {
                    holders.push(canon(c["client"].as_str().unwrap()));
                }
                if tw == "server" || tw == "both" {
                    holders.push(canon(c["server"].as_str().unwrap()));
                }
            }
            for s in &ss {
                if !holders.contains(&canon(s)) {
                    failures.push(format!(
                        "{stem}: kernel has {s} in TIME-WAIT, connscope does not"
                    ));
                }
            }
            let (c, s) = (
                j["totals"]["time_wait"]["client"].as_u64().unwrap(),
                j["totals"]["time_wait"]["server"].as_u64().unwrap(),
            );
            // The kernel keeps one TIME-WAIT per 4-tuple: a reused tuple
            // shows once in ss, while connscope counts each entry.
            if e.contains_key("time_wait_client") && !stem.starts_with("port-reuse") {
                check!("time_wait_client", c.to_string());
                check!("time_wait_server", s.to_string());
            }
        }
        checked += 1;
    }
    assert!(checked >= 25, "only {checked} fixtures checked");
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The JSON report has exactly DESIGN.md's field names.
#[test]
fn json_report_has_the_contract_field_names() {
    let j = json_report(&fixtures().join("http-keepalive-8080.pcap"));
    let keys = |v: &Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    for k in [
        "source",
        "link_type",
        "packets",
        "totals",
        "connections",
        "diagnosis",
    ] {
        assert!(j.get(k).is_some(), "missing top-level {k}");
    }
    for k in ["total", "tcp", "skipped"] {
        assert!(j["packets"].get(k).is_some(), "packets.{k}");
    }
    for k in [
        "connections",
        "connections_with_http",
        "http_requests",
        "http_responses",
        "time_wait",
    ] {
        assert!(j["totals"].get(k).is_some(), "totals.{k}");
    }
    assert!(
        j["totals"]["time_wait"]["client"].is_u64() && j["totals"]["time_wait"]["server"].is_u64()
    );
    assert_eq!(j["link_type"], "EN10MB");
    let c = &j["connections"][0];
    for k in [
        "id",
        "client",
        "server",
        "start",
        "end",
        "handshake",
        "close",
        "client_state",
        "server_state",
        "time_wait",
        "packets",
        "bytes",
        "http_requests",
        "requests",
    ] {
        assert!(
            c.get(k).is_some(),
            "connection.{k} missing; has {:?}",
            keys(c)
        );
    }
    assert!(c["start"].as_f64().unwrap() > 1.6e9);
    let r = &c["requests"][0];
    for k in ["time", "method", "target", "version", "status"] {
        assert!(r.get(k).is_some(), "request.{k}");
    }
    assert_eq!(r["method"], "GET");
    assert_eq!(r["version"], "HTTP/1.1");
    assert_eq!(r["status"], 200);
    let states = [
        "CLOSED",
        "LISTEN",
        "SYN_SENT",
        "SYN_RECEIVED",
        "ESTABLISHED",
        "FIN_WAIT_1",
        "FIN_WAIT_2",
        "CLOSE_WAIT",
        "CLOSING",
        "LAST_ACK",
        "TIME_WAIT",
    ];
    assert!(states.contains(&c["client_state"].as_str().unwrap()));
}

#[test]
fn ndjson_streams_connections_then_totals_and_csv_has_one_row_each() {
    let cap = fixtures().join("port-reuse.pcap");
    let o = connscope(&["read", "--format", "ndjson", cap.to_str().unwrap()]);
    assert!(o.status.success());
    let lines: Vec<Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let want = expect(&fixtures().join("port-reuse.expect"))["connections"]
        .parse::<usize>()
        .unwrap();
    assert_eq!(lines.len(), want + 1);
    assert!(lines[..want].iter().all(|l| l.get("client").is_some()));
    assert_eq!(
        lines[want]["totals"]["connections"].as_u64().unwrap() as usize,
        want
    );
    let o = connscope(&["read", "--format", "csv", cap.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(text.lines().count(), want + 1);
    assert!(text
        .lines()
        .next()
        .unwrap()
        .starts_with("source,id,client,server"));
}

/// Streaming (ndjson) keeps no connection list, yet its totals line carries
/// the same diagnosis as the JSON report; CSV over several files has one
/// header and one row per connection of each file.
#[test]
fn ndjson_diagnosis_and_multi_file_csv() {
    let cap = fixtures().join("gen-server-limit.pcap");
    let o = connscope(&["read", "--format", "ndjson", cap.to_str().unwrap()]);
    let last: Value =
        serde_json::from_str(String::from_utf8_lossy(&o.stdout).lines().last().unwrap()).unwrap();
    let j = json_report(&cap);
    assert_eq!(last["findings"], j["findings"]);
    assert_eq!(last["findings"][0]["cause"], "keep-alive-limit");
    let (a, b) = (
        fixtures().join("gen-drain.pcap"),
        fixtures().join("gen-http10.pcap"),
    );
    let o = connscope(&[
        "read",
        "--format",
        "csv",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(text.lines().filter(|l| l.starts_with("source,")).count(), 1);
    assert_eq!(text.lines().count(), 1 + 1 + 10, "{text}");
}
