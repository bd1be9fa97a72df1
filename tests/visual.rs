//! The visual outputs (issue 7): ladder and timeline golden files at a pinned
//! width, the structure of the ladder (each state change on its endpoint's
//! side, in order), churn versus reuse at a glance on the timeline, the width
//! limit, and the HTML report in headless Chromium.
//!
//! Golden files live in tests/golden/; after a deliberate change, check the
//! new output by eye and refresh them with `UPDATE_GOLDEN=1 cargo test --test visual`.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// connscope with TZ=UTC, NO_COLOR and the width pinned through COLUMNS.
fn run(args: &[&str], columns: u16) -> Output {
    Command::new(bin())
        .args(args)
        .env("TZ", "UTC")
        .env("NO_COLOR", "1")
        .env("COLUMNS", columns.to_string())
        .output()
        .expect("run connscope")
}

fn fixture(name: &str) -> String {
    fixtures()
        .join(format!("{name}.pcap"))
        .to_string_lossy()
        .into_owned()
}

/// The ladders and the timeline: stdout from the first ladder or timeline
/// heading on (the table and diagnosis before them are other tests' business).
fn visual_part(o: &Output) -> String {
    assert!(
        o.status.success(),
        "connscope failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = String::from_utf8(o.stdout.clone()).expect("UTF-8 output");
    let mut keep = false;
    let mut s = String::new();
    for l in out.lines() {
        keep |= l.starts_with("Ladder of connection #") || l.starts_with("Timeline");
        if keep {
            s.push_str(l);
            s.push('\n');
        }
    }
    assert!(!s.is_empty(), "no ladder or timeline in:\n{out}");
    s
}

fn golden_dir() -> PathBuf {
    root().join("tests/golden")
}

fn check_golden(file: &str, actual: &str) {
    let path = golden_dir().join(file);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(golden_dir()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    if expected != actual {
        let (n, (e, a)) = expected
            .lines()
            .chain(std::iter::repeat(""))
            .zip(actual.lines().chain(std::iter::repeat("")))
            .enumerate()
            .find(|(_, (e, a))| e != a)
            .unwrap();
        panic!(
            "{file} differs at line {}:\nexpected: {e}\nactual:   {a}\n\nwhole output:\n{actual}",
            n + 1
        );
    }
}

const GOLDEN_FIXTURES: [&str; 6] = [
    "client-close",
    "server-close",
    "gen-no-drain",
    "gen-drain",
    "simultaneous-close",
    "rst-abort",
];

#[test]
fn ladder_and_timeline_match_golden_files() {
    for name in GOLDEN_FIXTURES {
        let f = fixture(name);
        let o = run(&["read", "-q", "--ladder", "all", "--timeline", &f], 100);
        check_golden(&format!("{name}.txt"), &visual_part(&o));
    }
    for name in ["client-close", "gen-no-drain"] {
        let f = fixture(name);
        let o = run(
            &["read", "-q", "--ladder", "all", "--timeline", "--ascii", &f],
            100,
        );
        check_golden(&format!("{name}.ascii.txt"), &visual_part(&o));
    }
}

/// One ladder parsed back: each endpoint's states in order (the starting state
/// first), with the arrow of the row that changed it.
#[derive(Debug)]
struct Parsed {
    client: Vec<(String, String)>,
    server: Vec<(String, String)>,
}

/// Splits a ladder into the text left of the client's lifeline, the arrow,
/// and the text right of the server's lifeline, by the columns of the
/// lifelines' tops (on the row headed `ms`).
fn parse_ladder(text: &str) -> Parsed {
    let lines: Vec<Vec<char>> = text.lines().map(|l| l.chars().collect()).collect();
    let top = lines
        .iter()
        .find(|l| l.iter().collect::<String>().trim_start().starts_with("ms "))
        .expect("a row headed ms");
    let tops: Vec<usize> = top
        .iter()
        .enumerate()
        .filter(|(_, c)| matches!(c, '┬' | '+'))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        tops.len(),
        2,
        "two lifelines in {:?}",
        String::from_iter(top)
    );
    let (x1, x2) = (tops[0], tops[1]);
    let states = |s: String| -> Vec<String> {
        let s = s.trim();
        if s.is_empty() {
            return Vec::new();
        }
        s.split(['→'])
            .flat_map(|p| p.split("->"))
            .map(|p| p.split_whitespace().next().unwrap_or("").to_string())
            .collect()
    };
    let mut p = Parsed {
        client: Vec::new(),
        server: Vec::new(),
    };
    for l in &lines {
        let row: String = l.iter().collect();
        let is_top = std::ptr::eq(l, top);
        let is_event = row.trim_start().starts_with(|c: char| c.is_ascii_digit());
        if !is_top && !is_event {
            continue;
        }
        assert!(l.len() > x2, "short row: {row}");
        for x in [x1, x2] {
            assert!(
                matches!(l[x], '│' | '├' | '┤' | '┬' | '|' | '+'),
                "no lifeline at column {x}: {row}"
            );
        }
        // Left of the client's lifeline: time, then the client's states.
        let left: String = l[..x1].iter().collect();
        let left = if is_event {
            left.trim_start()
                .trim_start_matches(|c: char| c.is_ascii_digit() || c == '.')
                .to_string()
        } else {
            left.trim_start().trim_start_matches("ms").to_string()
        };
        let arrow: String = l[x1..=x2].iter().collect();
        let right: String = l[x2 + 1..].iter().collect();
        for s in states(left) {
            p.client.push((s, arrow.clone()));
        }
        for s in states(right) {
            p.server.push((s, arrow.clone()));
        }
    }
    p
}

fn names(v: &[(String, String)]) -> Vec<&str> {
    v.iter().map(|(s, _)| s.as_str()).collect()
}

/// The arrow of the row where `state` appears (first time).
fn arrow_of<'a>(v: &'a [(String, String)], state: &str) -> &'a str {
    &v.iter().find(|(s, _)| s == state).unwrap().1
}

/// A client-sent arrow points right, a server-sent one left.
fn sent_by_client(arrow: &str) -> bool {
    arrow.contains('▶') || arrow.contains('>')
}

#[test]
fn each_state_change_is_on_its_endpoints_side_in_order() {
    let cases: [(&str, &[&str], &[&str]); 5] = [
        (
            "client-close",
            &[
                "CLOSED",
                "SYN_SENT",
                "ESTABLISHED",
                "FIN_WAIT_1",
                "FIN_WAIT_2",
                "TIME_WAIT",
            ],
            &[
                "LISTEN",
                "SYN_RECEIVED",
                "ESTABLISHED",
                "CLOSE_WAIT",
                "LAST_ACK",
                "CLOSED",
            ],
        ),
        (
            "server-close",
            &[
                "CLOSED",
                "SYN_SENT",
                "ESTABLISHED",
                "CLOSE_WAIT",
                "LAST_ACK",
                "CLOSED",
            ],
            &[
                "LISTEN",
                "SYN_RECEIVED",
                "ESTABLISHED",
                "FIN_WAIT_1",
                "FIN_WAIT_2",
                "TIME_WAIT",
            ],
        ),
        (
            "simultaneous-close",
            &[
                "CLOSED",
                "SYN_SENT",
                "ESTABLISHED",
                "FIN_WAIT_1",
                "CLOSING",
                "TIME_WAIT",
            ],
            &[
                "LISTEN",
                "SYN_RECEIVED",
                "ESTABLISHED",
                "CLOSE_WAIT",
                "CLOSING",
                "TIME_WAIT",
            ],
        ),
        (
            "rst-abort",
            &["CLOSED", "SYN_SENT", "ESTABLISHED", "CLOSED"],
            &["LISTEN", "SYN_RECEIVED", "ESTABLISHED", "CLOSED"],
        ),
        (
            "gen-no-drain",
            &["CLOSED", "SYN_SENT", "ESTABLISHED", "FIN_WAIT_1", "CLOSED"],
            &[
                "LISTEN",
                "SYN_RECEIVED",
                "ESTABLISHED",
                "CLOSE_WAIT",
                "CLOSED",
            ],
        ),
    ];
    for (name, client, server) in cases {
        for ascii in [false, true] {
            let f = fixture(name);
            let mut args = vec!["read", "-q", "--ladder", "1", f.as_str()];
            if ascii {
                args.push("--ascii");
            }
            let text = visual_part(&run(&args, 100));
            let p = parse_ladder(&text);
            assert_eq!(names(&p.client), client, "{name} client side:\n{text}");
            assert_eq!(names(&p.server), server, "{name} server side:\n{text}");
            // The segment behind the changes: the client's SYN, the server's
            // SYN-ACK, and the first FIN from its sender's side.
            assert!(sent_by_client(arrow_of(&p.client, "SYN_SENT")), "{name}");
            assert!(
                arrow_of(&p.client, "SYN_SENT").contains("S seq 0"),
                "{name}"
            );
            let synack = arrow_of(&p.server, "SYN_RECEIVED");
            assert!(!sent_by_client(synack) && synack.contains("S."), "{name}");
            if let Some((_, a)) = p.client.iter().find(|(s, _)| s == "FIN_WAIT_1") {
                assert!(sent_by_client(a) && a.contains("F."), "{name}: {a}");
            }
            if let Some((_, a)) = p.server.iter().find(|(s, _)| s == "FIN_WAIT_1") {
                assert!(!sent_by_client(a) && a.contains("F."), "{name}: {a}");
            }
            if ascii {
                assert!(text.is_ascii(), "{name}: --ascii output is not ASCII");
            } else {
                assert!(text.contains('│') && text.contains('▶'), "{name}");
            }
        }
    }
}

#[test]
fn time_wait_is_labelled_with_its_length() {
    let f = fixture("client-close");
    let text = visual_part(&run(&["read", "-q", "--ladder", "1", &f], 100));
    assert!(text.contains("TIME_WAIT until +60 s"), "{text}");
    let text = visual_part(&run(
        &["read", "-q", "--ladder", "1", "--time-wait", "30", &f],
        100,
    ));
    assert!(text.contains("TIME_WAIT until +30 s"), "{text}");
}

/// The rows of the timeline: (label, bar and note).
fn timeline_rows(text: &str) -> Vec<String> {
    text.lines()
        .skip_while(|l| !l.starts_with("Timeline"))
        .skip(1)
        .take_while(|l| l.trim_start().starts_with('#'))
        .map(str::to_string)
        .collect()
}

#[test]
fn timeline_shows_churn_versus_reuse_at_a_glance() {
    // no-drain: ten short lives, one request each, each ended by a reset,
    // one after the other (a staircase).
    let text = visual_part(&run(
        &["read", "-q", "--timeline", &fixture("gen-no-drain")],
        100,
    ));
    let rows = timeline_rows(&text);
    assert_eq!(rows.len(), 10, "{text}");
    let mut last_col = None;
    for r in &rows {
        assert_eq!(r.matches('•').count(), 1, "{r}");
        assert_eq!(r.matches('×').count(), 1, "{r}");
        assert!(!r.contains('┤') && r.contains("client reset"), "{r}");
        let col = r.chars().position(|c| c == '•').unwrap();
        assert!(last_col.is_none_or(|c| col > c), "not a staircase:\n{text}");
        last_col = Some(col);
    }
    // drain: one long-lived connection with ten requests, closed by FIN.
    let text = visual_part(&run(
        &["read", "-q", "--timeline", &fixture("gen-drain")],
        100,
    ));
    let rows = timeline_rows(&text);
    assert_eq!(rows.len(), 1, "{text}");
    assert_eq!(rows[0].matches('•').count(), 10, "{text}");
    assert!(rows[0].contains('┤') && !rows[0].contains('×'), "{text}");
    assert!(rows[0].contains("10 req"), "{text}");
    let open_row = text
        .lines()
        .find(|l| l.trim_start().starts_with("open "))
        .unwrap();
    assert!(open_row.ends_with("peak 1"), "{text}");
}

#[test]
fn timeline_marks_time_wait_and_its_peak() {
    // pool-small: the client closes most connections while others open; their
    // TIME-WAIT tails pile up until the end of the capture.
    let text = visual_part(&run(
        &["read", "-q", "--timeline", &fixture("gen-pool-small")],
        100,
    ));
    assert!(text.contains('░'), "{text}");
    let tw = text
        .lines()
        .find(|l| l.trim_start().starts_with("TIME-WAIT "))
        .unwrap();
    let peak: u64 = tw.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(peak >= 20, "{tw}");
}

#[test]
fn every_line_fits_the_width() {
    for name in [
        "gen-pool-small",
        "client-close",
        "ipv6-close",
        "gen-no-drain",
    ] {
        for cols in [60u16, 80, 100, 140] {
            for ascii in [false, true] {
                let f = fixture(name);
                let mut args = vec!["read", "-q", "--ladder", "all", "--timeline", f.as_str()];
                if ascii {
                    args.push("--ascii");
                }
                let text = visual_part(&run(&args, cols));
                for l in text.lines() {
                    assert!(
                        l.chars().count() <= usize::from(cols),
                        "{name} at {cols} columns: {} > {cols}: {l}",
                        l.chars().count()
                    );
                }
                if ascii {
                    assert!(text.is_ascii(), "{name} --ascii");
                }
            }
        }
    }
}

fn write_report(name: &str, dir: &Path) -> PathBuf {
    let html = dir.join(format!("{name}.html"));
    let o = run(
        &[
            "read",
            "-q",
            "--html",
            html.to_str().unwrap(),
            &fixture(name),
        ],
        100,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    html
}

#[test]
fn html_report_is_self_contained() {
    let dir = tempfile::tempdir().unwrap();
    let html = std::fs::read_to_string(write_report("gen-no-drain", dir.path())).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    for bad in [
        "<script", "http://", "https://", " src=", "<link", "@import",
    ] {
        assert!(!html.contains(bad), "found {bad:?} in the report");
    }
    assert!(html.contains("10 HTTP requests over 10 TCP connections"));
    assert!(html.contains("<svg") && html.contains("</svg>"));
    assert_eq!(
        html.matches("<details").count(),
        10,
        "one ladder per connection"
    );
    assert_eq!(html.matches("<tr").count(), 11, "header + 10 rows");
    assert!(
        html.contains("&quot;GET / HTTP/1.1&quot;"),
        "ladder text escaped"
    );
    assert!(html.contains("<h2>Why</h2>"));
}

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser"].iter().find_map(|b| {
        std::env::var_os("PATH").and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(b))
                .find(|x| x.is_file())
        })
    })
}

/// Opens `page` in headless Chromium and takes a 1200x2000 screenshot;
/// returns Chromium's stderr.
fn screenshot(chromium: &Path, page: &Path, png: &Path) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--enable-logging=stderr", "--v=0"])
        .arg(format!("--screenshot={}", png.display()))
        .arg("--window-size=1200,2000")
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut err, &mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    reader.join().unwrap()
}

/// Chromium's log lines for the page's console (errors and uncaught exceptions).
fn console_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught"))
        .collect()
}

/// Width and height from a PNG's IHDR.
fn png_size(b: &[u8]) -> (u32, u32) {
    assert!(
        b.len() > 24 && b.starts_with(b"\x89PNG\r\n\x1a\n"),
        "not a PNG"
    );
    let be = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    (be(16), be(20))
}

#[test]
fn html_report_renders_in_headless_chromium() {
    let Some(chromium) = chromium() else {
        eprintln!("SKIPPED: chromium not installed (make deps installs it)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();

    // The check itself: a page with a console error must be caught.
    let bad = dir.path().join("bad.html");
    std::fs::write(
        &bad,
        "<!DOCTYPE html><p>x</p><script>console.error('boom');nosuchfn();</script>",
    )
    .unwrap();
    let err = screenshot(&chromium, &bad, &dir.path().join("bad.png"));
    assert!(
        console_lines(&err).len() >= 2,
        "chromium's console log lines were not seen; stderr:\n{err}"
    );

    for name in ["gen-no-drain", "gen-pool-small"] {
        let page = write_report(name, dir.path());
        let png = dir.path().join(format!("{name}.png"));
        let err = screenshot(&chromium, &page, &png);
        let c = console_lines(&err);
        assert!(c.is_empty(), "{name}: console output:\n{}", c.join("\n"));
        let b = std::fs::read(&png)
            .unwrap_or_else(|e| panic!("{name}: no screenshot ({e}); stderr:\n{err}"));
        assert_eq!(png_size(&b), (1200, 2000), "{name}");
        // A blank page compresses to a few kB; the report is well above.
        assert!(
            b.len() > 50_000,
            "{name}: screenshot only {} bytes",
            b.len()
        );
        if let Some(keep) = std::env::var_os("CONNSCOPE_KEEP_SCREENSHOTS") {
            let _ = std::fs::copy(&png, Path::new(&keep).join(format!("{name}.png")));
        }
    }
}
