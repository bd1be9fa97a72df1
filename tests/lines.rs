//! Per-packet lines against the real tcpdump: golden files in fixtures/
//! (made by `tcpdump -n -r`, see fixtures/README.md), a truncation sweep of a
//! real SYN, and the third-party corpus when ../shared/corpus exists.

mod common;
use common::*;

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

/// Every TCP option tcpdump names (and malformed ones), every flag letter,
/// and tcpdump's relative-sequence rule (absolute on SYN/SYN-ACK, relative
/// from the first ACK, restarted by a new SYN on the same 4-tuple, the
/// mid-stream case, equal ports ordered by address) against the real tcpdump.
#[test]
fn options_flags_and_relative_sequence_match_tcpdump() {
    if tcpdump_path().is_none() {
        panic!("tcpdump is not installed: run `make deps`");
    }
    let (a, b) = ([127, 0, 0, 1], [127, 0, 0, 2]);
    let ack = 0x10;
    let sack_ok_ts = [
        2, 4, 5, 180, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
    ];
    let mut pkts = vec![
        // Handshake with options, then relative numbers, SACK blocks, FIN.
        tcp_frame(a, b, 40000, 8080, 1000, 0, 0x02, &sack_ok_ts, b""),
        tcp_frame(b, a, 8080, 40000, 5000, 1001, 0x12, &sack_ok_ts, b""),
        tcp_frame(
            a,
            b,
            40000,
            8080,
            1001,
            5001,
            ack,
            &[1, 1, 8, 10, 0, 0, 0, 2, 0, 0, 0, 1],
            b"",
        ),
        tcp_frame(
            a,
            b,
            40000,
            8080,
            1001,
            5001,
            0x18,
            &[],
            b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n",
        ),
        tcp_frame(
            b,
            a,
            8080,
            40000,
            5001,
            1029,
            ack,
            &[1, 1, 5, 10, 0, 0, 3, 0xf1, 0, 0, 4, 0],
            b"",
        ),
        tcp_frame(
            b,
            a,
            8080,
            40000,
            5001,
            1029,
            0x18,
            &[],
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        ),
        tcp_frame(
            b,
            a,
            8080,
            40000,
            5001,
            1029,
            0x18,
            &[],
            b"body bytes without a line end",
        ),
        tcp_frame(
            b,
            a,
            8080,
            40000,
            5001,
            1029,
            0x18,
            &[],
            b"\x16\x03\x01binary",
        ),
        tcp_frame(a, b, 40000, 8080, 1029, 5040, 0x11, &[], b""),
        // A new SYN on the same 4-tuple restarts the numbering.
        tcp_frame(a, b, 40000, 8080, 90000, 0, 0x02, &[2, 4, 5, 180], b""),
        tcp_frame(b, a, 8080, 40000, 70000, 90001, 0x12, &[], b""),
        tcp_frame(a, b, 40000, 8080, 90001, 70001, ack, &[], b""),
        // Mid-stream: first packet already has ACK.
        tcp_frame(
            a,
            b,
            41000,
            80,
            123456,
            654321,
            0x18,
            &[],
            b"POST /y HTTP/1.0\r\n\r\n",
        ),
        tcp_frame(b, a, 80, 41000, 654321, 123476, ack, &[], b""),
        // Same port both sides: ordering by address.
        tcp_frame(b, a, 5555, 5555, 10, 20, ack, &[], b""),
        tcp_frame(a, b, 5555, 5555, 20, 11, ack, &[], b"x"),
        // Every flag letter, no flags at all, URG.
        tcp_frame(a, b, 42000, 9, 1, 0, 0xff, &[], b""),
        tcp_frame(a, b, 42000, 9, 1, 0, 0x00, &[], b""),
        tcp_frame(a, b, 42000, 9, 1, 0, 0x20, &[], b""),
    ];
    let options: Vec<Vec<u8>> = vec![
        vec![6, 6, 0, 0, 0, 9],                    // echo
        vec![7, 6, 0, 0, 0, 9],                    // echoreply
        vec![11, 6, 0, 0, 1, 0],                   // cc
        vec![12, 6, 0, 0, 1, 0],                   // ccnew
        vec![13, 6, 0, 0, 1, 0],                   // ccecho (nameless)
        [vec![19, 18], vec![0xab; 16]].concat(),   // md5
        vec![20, 4, 0x12, 7],                      // scps
        vec![28, 4, 0x81, 0x2d],                   // uto, minutes
        vec![28, 4, 0x00, 0x2c],                   // uto, seconds
        vec![29, 8, 1, 2, 0xde, 0xad, 0xbe, 0xef], // tcp-ao
        vec![29, 3, 1],                            // tcp-ao invalid
        vec![34, 2],                               // tfo cookie request
        vec![34, 10, 1, 2, 3, 4, 5, 6, 7, 8],      // tfo cookie
        vec![34, 5, 1, 2, 3],                      // tfo invalid
        vec![254, 4, 0xf9, 0x89],                  // exp-tfo cookiereq
        vec![254, 6, 0x12, 0x34, 0, 0],            // exp other magic
        vec![99, 5, 1, 2, 3],                      // unknown
        vec![99, 2],                               // unknown, empty
        vec![2, 6, 5, 180, 0, 0],                  // mss with [len 6]
        vec![2, 1],                                // bad length
        vec![1, 2, 40],                            // length past the header
        vec![5, 7, 0, 0, 0, 1, 2],                 // invalid sack
        vec![0, 2, 4, 5, 180],                     // eol ends the list
        vec![3, 3, 7, 4, 2],                       // wscale, sackOK
    ];
    for (i, o) in options.iter().enumerate() {
        pkts.push(tcp_frame(a, b, 43000 + i as u16, 9, 1, 0, 0x02, o, b""));
    }
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("options.pcap");
    let records: Vec<_> = pkts
        .iter()
        .enumerate()
        .map(|(i, p)| (1_700_000_000 + i as u32, p.len() as u32, p.clone()))
        .collect();
    write_pcap(&f, 1, 65535, &records);
    let exp = tcpdump_lines(&f, None).unwrap();
    assert_eq!(exp.lines().count(), pkts.len());
    let o = connscope(&["read", "--no-summary", f.to_str().unwrap()]);
    assert_same_lines("options", &exp, &String::from_utf8_lossy(&o.stdout));
}

/// `-a` appends the connection id and state changes; the tcpdump part of
/// every line is unchanged, and the changes follow RFC 793's order.
#[test]
fn annotate_appends_connection_and_transitions_to_tcpdump_lines() {
    let f = fixtures().join("client-close.pcap");
    let exp = std::fs::read_to_string(fixtures().join("client-close.tcpdump.out")).unwrap();
    let o = connscope(&["read", "--no-summary", "-a", f.to_str().unwrap()]);
    let got = String::from_utf8_lossy(&o.stdout);
    assert_eq!(got.lines().count(), exp.lines().count());
    let mut changes = String::new();
    for (g, e) in got.lines().zip(exp.lines()) {
        let suffix = g
            .strip_prefix(e)
            .unwrap_or_else(|| panic!("annotated line does not start with tcpdump's:\n{g}\n{e}"));
        assert!(suffix.starts_with("  #1"), "{suffix}");
        changes.push_str(suffix);
    }
    let order = [
        "client CLOSED→SYN_SENT",
        "client SYN_SENT→ESTABLISHED",
        "client ESTABLISHED→FIN_WAIT_1",
        "client FIN_WAIT_1→FIN_WAIT_2",
        "client FIN_WAIT_2→TIME_WAIT",
    ];
    let pos: Vec<usize> = order
        .iter()
        .map(|o| {
            changes
                .find(o)
                .unwrap_or_else(|| panic!("missing {o} in {changes}"))
        })
        .collect();
    assert!(pos.windows(2).all(|w| w[0] < w[1]), "{changes}");
    for s in [
        "server LISTEN→SYN_RECEIVED",
        "server SYN_RECEIVED→ESTABLISHED",
        "server ESTABLISHED→CLOSE_WAIT",
        "server CLOSE_WAIT→LAST_ACK",
        "server LAST_ACK→CLOSED",
    ] {
        assert!(changes.contains(s), "missing {s} in {changes}");
    }
}
