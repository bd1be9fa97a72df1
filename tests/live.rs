//! Live capture on loopback (CI runs as root; without the privilege these
//! tests say so and skip). Counts are checked against the bundled server's
//! own counts and the kernel's TIME-WAIT table (`ss`).

mod common;
use common::*;
use connscope::gen::Scenario;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Starts `connscope live …` and waits for its `listening on` line.
fn start_live(args: &[&str]) -> (Child, std::sync::mpsc::Receiver<String>) {
    let mut child = Command::new(bin())
        .arg("live")
        .args(args)
        .env("TZ", "UTC")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let l = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("no 'listening on' line from connscope live");
        if l.starts_with("listening on") {
            break;
        }
    }
    // libpcap delivers from here on; a short settle for the ring buffer.
    std::thread::sleep(Duration::from_millis(200));
    (child, rx)
}

fn sigint(child: &Child) {
    let ok = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

fn wait_output(child: Child) -> (i32, String) {
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Local addresses of sockets in TIME-WAIT on `port`, per the kernel.
fn ss_time_wait(port: u16) -> Vec<String> {
    ss_rows(port, &["state", "time-wait"])
        .iter()
        .filter_map(|l| l.split_whitespace().nth(2).map(str::to_string))
        .collect()
}

fn holders(j: &serde_json::Value) -> Vec<String> {
    let mut v = Vec::new();
    for c in j["connections"].as_array().unwrap() {
        let tw = c["time_wait"].as_str().unwrap();
        if tw == "client" || tw == "both" {
            v.push(c["client"].as_str().unwrap().to_string());
        }
        if tw == "server" || tw == "both" {
            v.push(c["server"].as_str().unwrap().to_string());
        }
    }
    v.sort();
    v
}

/// Keep-alive and non-keep-alive traffic under a live capture stopped by
/// SIGINT: connections and requests equal the server's counts, TIME-WAIT
/// holders equal the kernel's, the exit code is 0 and the summary is there.
#[test]
fn live_counts_match_the_server_and_the_kernel() {
    if !is_root() {
        eprintln!("skipped: live capture needs root or cap_net_raw (CI runs as root)");
        return;
    }
    for scenario in [Scenario::Drain, Scenario::ClientClose, Scenario::NoDrain] {
        let port = free_port();
        let p = port.to_string();
        let (child, _err) = start_live(&["-i", "lo", "-p", &p, "-q", "--format", "json"]);
        let gen = connscope::gen::run_plan(&scenario.plan(), port).unwrap();
        let mut kernel = ss_time_wait(port);
        kernel.sort();
        std::thread::sleep(Duration::from_millis(300));
        sigint(&child);
        let (code, out) = wait_output(child);
        assert_eq!(code, 0, "{scenario:?}: exit code after SIGINT");
        let j: serde_json::Value =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("{scenario:?}: {e}: {out}"));
        let t = &j["totals"];
        assert_eq!(
            t["connections"].as_u64(),
            gen.server_connections,
            "{scenario:?} connections"
        );
        assert_eq!(
            t["http_requests"].as_u64(),
            gen.server_requests,
            "{scenario:?} requests"
        );
        assert_eq!(
            holders(&j),
            kernel,
            "{scenario:?}: TIME-WAIT holders vs ss, port {port}; connections: {}",
            j["connections"]
        );
    }
}

/// `-w` saves what was captured: tcpdump reads it back, and `connscope read`
/// of the saved file finds the same connections.
#[test]
fn live_write_saves_a_pcap_readable_by_tcpdump() {
    if !is_root() {
        eprintln!("skipped: live capture needs root");
        return;
    }
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("saved.pcap");
    let (child, err) = start_live(&[
        "-i",
        "lo",
        "-p",
        &port.to_string(),
        "-w",
        file.to_str().unwrap(),
        "--duration",
        "2",
        "-q",
        "--format",
        "json",
    ]);
    let gen = connscope::gen::run_plan(&Scenario::ServerLimit.plan(), port).unwrap();
    let (code, out) = wait_output(child);
    assert_eq!(code, 0);
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["totals"]["connections"].as_u64(), gen.server_connections);
    let captured: u64 = err
        .try_iter()
        .find_map(|l| {
            l.strip_suffix(" packets captured")
                .map(|n| n.parse().unwrap())
        })
        .expect("packets captured line");
    let td = tcpdump_lines(&file, None).unwrap();
    assert_eq!(td.lines().count() as u64, captured);
    let o = connscope(&["read", "-q", "--format", "json", file.to_str().unwrap()]);
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["totals"]["connections"], j["totals"]["connections"]);
    assert_eq!(r["totals"]["http_requests"], j["totals"]["http_requests"]);
}

#[test]
fn unknown_interface_lists_the_available_ones() {
    let o = Command::new(bin())
        .args(["live", "-i", "nosuchif0", "--duration", "1"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let e = String::from_utf8_lossy(&o.stderr);
    if !is_root() {
        return;
    }
    assert!(
        e.contains("nosuchif0") && e.contains("available:") && e.contains("lo"),
        "{e}"
    );
}

/// Without capture rights the error names the fixes.
#[test]
fn missing_privilege_names_sudo_and_setcap() {
    if !is_root() || !std::path::Path::new("/usr/bin/setpriv").exists() {
        eprintln!("skipped: needs root to drop to an unprivileged user");
        return;
    }
    let o = Command::new("/usr/bin/setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(bin())
        .args(["live", "-i", "lo", "--duration", "1"])
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    if e.contains("Permission denied") && e.contains("os error") {
        eprintln!("skipped: the test binary is not executable by nobody: {e}");
        return;
    }
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(
        e.contains("sudo")
            && e.contains("setcap cap_net_raw,cap_net_admin=eip")
            && e.contains("connscope read"),
        "{e}"
    );
}

/// `connscope demo`: one row per scenario, and in every row the capture's
/// connection count equals the server's and its TIME-WAIT split equals the
/// kernel's.
#[test]
fn demo_rows_agree_with_server_and_kernel() {
    if !is_root() {
        eprintln!("skipped: demo captures on lo and needs root");
        return;
    }
    // Below the ephemeral range (32768+), where client sockets could hold a port.
    let base = 20000 + (std::process::id() % 10000) as u16;
    let o = Command::new(bin())
        .args(["demo", "--port", &base.to_string()])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let mut seen = 0;
    for s in Scenario::all() {
        let row = out
            .lines()
            .find(|l| l.split_whitespace().next() == Some(s.name()))
            .unwrap_or_else(|| panic!("no row for {}: {out}", s.name()));
        let w: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(
            w[2],
            w[3],
            "{}: server vs capture connections: {row}",
            s.name()
        );
        assert_eq!(
            w[4],
            w[5],
            "{}: TIME-WAIT capture vs kernel: {row}",
            s.name()
        );
        seen += 1;
    }
    assert_eq!(seen, 7);
}

/// Without capture rights `demo` still runs the scenarios, shows the
/// server's own counts, and says how to rerun with sudo.
#[test]
fn demo_without_privilege_shows_server_counts_and_the_fix() {
    if !is_root() || !std::path::Path::new("/usr/bin/setpriv").exists() {
        eprintln!("skipped: needs root to drop to an unprivileged user");
        return;
    }
    let base = 30000 + (std::process::id() % 2700) as u16;
    let o = Command::new("/usr/bin/setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(bin())
        .args([
            "demo",
            "--port",
            &base.to_string(),
            "--scenario",
            "no-drain,drain",
        ])
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    if String::from_utf8_lossy(&o.stderr).contains("os error 13") {
        eprintln!("skipped: the test binary is not executable by nobody");
        return;
    }
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let row = |name: &str| {
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .unwrap()
    };
    assert_eq!(row("no-drain")[2], "10", "{out}");
    assert_eq!(row("drain")[2], "1", "{out}");
    assert!(
        out.contains("not captured") && out.contains("sudo connscope demo"),
        "{out}"
    );
}
