//! Per-packet lines against the real tcpdump: golden files in fixtures/
//! (made by `tcpdump -n -r`, see fixtures/README.md), a truncation sweep of a
//! real SYN, and the third-party corpus when ../shared/corpus exists.

mod common;
use common::*;
use std::path::Path;

/// Every fixture with a `.tcpdump.out` golden file: connscope's lines must be
/// byte-identical.
#[test]
fn fixtures_match_tcpdump_golden_files() {
    let mut checked = 0;
    for e in std::fs::read_dir(fixtures()).unwrap().flatten() {
        let p = e.path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".tcpdump.out") else {
            continue;
        };
        let cap = ["pcap", "pcapng"]
            .iter()
            .map(|x| fixtures().join(format!("{stem}.{x}")))
            .find(|c| c.exists());
        let Some(cap) = cap else { continue };
        let expected = std::fs::read_to_string(&p).unwrap();
        let o = connscope(&["read", "--no-summary", cap.to_str().unwrap()]);
        assert!(
            o.status.success(),
            "{stem}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_same_lines(stem, &expected, &String::from_utf8_lossy(&o.stdout));
        checked += expected.lines().count();
    }
    assert!(checked > 100, "too few golden lines checked: {checked}");
}

/// tcpdump's lines for TCP packets, with the application decoders that
/// connscope deliberately does not have (BGP, DNS, SSH, …) cut after
/// `length N`; HTTP first lines are kept. Continuation lines are dropped.
fn normalise_tcpdump(s: &str) -> String {
    let mut out = String::new();
    for l in s.lines() {
        if l.starts_with(|c: char| c.is_whitespace()) {
            continue;
        }
        let keep = match l.find(", length ") {
            Some(i) if !l[i..].contains(": HTTP") => {
                let rest = &l[i + 9..];
                let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
                &l[..i + 9 + digits]
            }
            _ => l,
        };
        out.push_str(keep);
        out.push('\n');
    }
    out
}

#[test]
fn corpus_lines_match_tcpdump() {
    let Some(corpus) = corpus() else {
        eprintln!("skipped: ../shared/corpus not present");
        return;
    };
    if tcpdump_path().is_none() {
        panic!("tcpdump is not installed: run `make deps`");
    }
    let (mut total, mut same) = (0usize, 0usize);
    let mut report = String::new();
    for dir in ["tcpdump", "zeek", "wireshark", "other"] {
        let Ok(rd) = std::fs::read_dir(corpus.join(dir)) else {
            continue;
        };
        let mut files: Vec<_> = rd.flatten().map(|e| e.path()).collect();
        files.sort();
        for f in files {
            let ext = f.extension().and_then(|e| e.to_str()).unwrap_or("");
            if ext != "pcap" && ext != "pcapng" {
                continue;
            }
            let o = connscope(&["read", "--no-summary", "-f", "tcp", f.to_str().unwrap()]);
            let err = String::from_utf8_lossy(&o.stderr);
            if err.contains("unsupported link type") {
                assert_eq!(o.status.code(), Some(1));
                report.push_str(&format!(
                    "{}: unsupported link type (refused)\n",
                    f.display()
                ));
                continue;
            }
            assert!(o.status.success(), "{}: {err}", f.display());
            let exp = normalise_tcpdump(&tcpdump_lines(&f, Some("tcp")).unwrap());
            let got = String::from_utf8_lossy(&o.stdout).into_owned();
            let n = exp.lines().count();
            let mut diff = 0;
            for (i, e) in exp.lines().enumerate() {
                if got.lines().nth(i) != Some(e) {
                    diff += 1;
                }
            }
            diff += got.lines().count().saturating_sub(n);
            total += n;
            same += n.saturating_sub(diff);
            if diff > 0 {
                report.push_str(&format!("{}: {diff} of {n} lines differ\n", f.display()));
            }
        }
    }
    let frac = same as f64 / total.max(1) as f64;
    eprintln!(
        "{report}corpus: {same} of {total} TCP lines identical to tcpdump ({:.2}%)",
        frac * 100.0
    );
    assert!(total > 5000, "corpus too small: {total}");
    assert!(frac >= 0.99, "only {:.2}% identical", frac * 100.0);
}

/// A real SYN (from a fixture) cut at every length from 1 byte to its full
/// size: each line must be what tcpdump prints for the same cut.
#[test]
fn truncation_at_every_length_matches_tcpdump() {
    let src = fixtures().join("http-keepalive-8080.pcap");
    if !src.exists() || tcpdump_path().is_none() {
        panic!("fixture or tcpdump missing");
    }
    let (lt, recs) = read_pcap(&src);
    // First record with SYN and options (the client's SYN), and a data
    // segment (HTTP request), to sweep options and payload truncation.
    let syn = recs.iter().find(|(_, d)| d.len() > 54).unwrap().1.clone();
    let data = recs
        .iter()
        .find(|(_, d)| d.windows(4).any(|w| w == b"GET "))
        .unwrap()
        .1
        .clone();
    let dir = tempfile::tempdir().unwrap();
    let mut records = Vec::new();
    for pkt in [&syn, &data] {
        for cut in 1..=pkt.len() {
            records.push((
                1_700_000_000 + records.len() as u32,
                pkt.len() as u32,
                pkt[..cut].to_vec(),
            ));
        }
    }
    let f = dir.path().join("cuts.pcap");
    write_pcap(&f, lt, 65535, &records);
    // Both with the `tcp` filter: cuts before the IP protocol byte are
    // rejected by BPF in both tools.
    let exp = tcpdump_lines(&f, Some("tcp")).unwrap();
    let o = connscope(&["read", "--no-summary", "-f", "tcp", f.to_str().unwrap()]);
    assert!(o.status.success());
    let got = String::from_utf8_lossy(&o.stdout);
    assert!(exp.lines().count() > 50);
    assert_same_lines("truncation sweep", &exp, &got);
}

#[allow(dead_code)]
fn exists(p: &Path) -> bool {
    p.exists()
}
