//! Bad input: every broken file gets one clear error line naming the file
//! (and the byte offset where it applies), exit code 1, no panic, and the
//! packets read before the damage are still printed and counted.

mod common;
use common::*;
use std::path::Path;

fn fixture() -> std::path::PathBuf {
    fixtures().join("http-keepalive-8080.pcap")
}

fn run(args: &[&str]) -> (i32, String, String) {
    let o = connscope(args);
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn error_line(stderr: &str) -> String {
    let errs: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("connscope: error:"))
        .collect();
    assert_eq!(
        errs.len(),
        1,
        "expected exactly one error line, got: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    errs[0].to_string()
}

#[test]
fn missing_file() {
    let (code, _, err) = run(&["read", "/nonexistent/capture.pcap"]);
    assert_eq!(code, 1);
    let l = error_line(&err);
    assert!(
        l.contains("/nonexistent/capture.pcap") && l.contains("no such file"),
        "{l}"
    );
}

#[test]
fn directory() {
    let d = tempfile::tempdir().unwrap();
    let (code, _, err) = run(&["read", d.path().to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(error_line(&err).contains("is a directory"));
}

#[test]
fn not_a_capture() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("notes.txt");
    std::fs::write(&f, "GET / HTTP/1.1\r\n\r\n this is text, not a capture").unwrap();
    let (code, _, err) = run(&["read", f.to_str().unwrap()]);
    assert_eq!(code, 1);
    let l = error_line(&err);
    assert!(
        l.contains("notes.txt") && l.contains("not a pcap or pcapng"),
        "{l}"
    );
}

#[test]
fn truncated_global_header() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("hdr.pcap");
    std::fs::write(&f, &std::fs::read(fixture()).unwrap()[..10]).unwrap();
    let (code, _, err) = run(&["read", f.to_str().unwrap()]);
    assert_eq!(code, 1);
    let l = error_line(&err);
    assert!(l.contains("hdr.pcap") && l.contains("header"), "{l}");
}

/// A file that ends inside the last record: every earlier packet is still
/// printed (identical to tcpdump's lines for them) and the error names the
/// record's byte offset.
#[test]
fn record_cut_short_keeps_earlier_packets() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("cut.pcap");
    let full = std::fs::read(fixture()).unwrap();
    std::fs::write(&f, &full[..full.len() - 10]).unwrap();
    let (lt, recs) = read_pcap(&fixture());
    assert_eq!(lt, 1);
    let last_offset: usize = 24
        + recs[..recs.len() - 1]
            .iter()
            .map(|(_, d)| 16 + d.len())
            .sum::<usize>();
    let (code, out, err) = run(&["read", "--no-summary", f.to_str().unwrap()]);
    assert_eq!(code, 1);
    let l = error_line(&err);
    assert!(
        l.contains("cut.pcap") && l.contains(&format!("byte offset {last_offset}")),
        "{l}"
    );
    let expected = tcpdump_lines(&fixture(), Some("tcp")).unwrap();
    let expected: String = expected
        .lines()
        .take(recs.len() - 1)
        .map(|l| format!("{l}\n"))
        .collect();
    assert_same_lines("cut file", &expected, &out);
}

#[test]
fn record_longer_than_snaplen_and_256_mib() {
    let d = tempfile::tempdir().unwrap();
    for (name, caplen) in [("snap.pcap", 300_000u32), ("huge.pcap", 300_000_000u32)] {
        let f = d.path().join(name);
        let mut b = std::fs::read(fixture()).unwrap()[..24].to_vec();
        for v in [1u32, 0, caplen, caplen] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&[0u8; 64]);
        std::fs::write(&f, b).unwrap();
        let (code, _, err) = run(&["read", f.to_str().unwrap()]);
        assert_eq!(code, 1, "{name}");
        let l = error_line(&err);
        assert!(
            l.contains(name) && l.contains("byte offset 24") && l.contains(&caplen.to_string()),
            "{l}"
        );
    }
}

#[test]
fn unknown_link_type() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("arcnet.pcap");
    write_pcap(&f, 7, 65535, &[(1, 4, vec![1, 2, 3, 4])]);
    let (code, _, err) = run(&["read", f.to_str().unwrap()]);
    assert_eq!(code, 1);
    let l = error_line(&err);
    assert!(
        l.contains("arcnet.pcap") && l.contains("unsupported link type ARCNET"),
        "{l}"
    );
}

#[test]
fn invalid_filter_is_echoed() {
    let (code, _, err) = run(&["read", "-f", "tcp portx 80", fixture().to_str().unwrap()]);
    assert_eq!(code, 1);
    let l = error_line(&err);
    assert!(
        l.contains("'tcp portx 80'") && l.contains("pcap-filter(7)"),
        "{l}"
    );
}

/// Zero-length and runt records, and time going backwards, are counted and
/// skipped or printed — never a panic, never an error.
#[test]
fn zero_length_records_and_backwards_time() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("odd.pcap");
    let (_, recs) = read_pcap(&fixture());
    let records = vec![
        (100, 0, vec![]),
        (90, recs[0].0, recs[0].1.clone()),
        (80, 5, vec![0xff; 5]),
        (70, recs[1].0, recs[1].1.clone()),
    ];
    write_pcap(&f, 1, 65535, &records);
    let (code, out, err) = run(&["read", f.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.lines().filter(|l| l.contains(" IP ")).count(),
        2,
        "{out}"
    );
    assert!(out.contains("4 packets (2 TCP, 2 skipped)"), "{out}");
}

#[test]
fn several_files_each_reported_and_a_bad_one_does_not_stop_the_rest() {
    let (code, out, err) = run(&[
        "read",
        "-q",
        "/nonexistent.pcap",
        fixture().to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(error_line(&err).contains("/nonexistent.pcap"));
    assert!(out.contains("packets"), "{out}");
    let _ = Path::new("");
}
