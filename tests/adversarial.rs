//! Adversarial captures (issue 9): hostile files built byte by byte in a temp
//! dir, each run through the binary in a child process with a time bound.
//! Every case has a defined outcome — packets counted and skipped (or
//! printed as tcpdump prints them), or one error line naming the file and
//! offset — never a panic, never a hang, memory under a stated bound.
//!
//! The file-level cases already in tests/bad_input.rs (truncated global
//! header, a record cut short, caplen beyond the snapshot length and beyond
//! 256 MiB, zero-length records, timestamps going backwards) are not repeated.

mod common;
use common::*;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Wall-clock bound for one run (debug builds, a shared 2-core machine).
const TIME_BOUND: Duration = Duration::from_secs(120);

struct Run {
    code: i32,
    out: String,
    err: String,
    /// Peak resident set (VmHWM) in KiB, sampled from /proc while it ran.
    peak_kib: u64,
    took: Duration,
}

/// Runs connscope with `args`, killing it (and failing) past [`TIME_BOUND`].
fn run(args: &[&str]) -> Run {
    let start = Instant::now();
    let mut child = Command::new(bin())
        .args(args)
        .env("TZ", "UTC")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn connscope");
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = r.read_to_end(&mut s);
            String::from_utf8_lossy(&s).into_owned()
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0;
    let status = loop {
        if let Ok(s) = std::fs::read_to_string(&status_path) {
            if let Some(v) = s
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            {
                peak_kib = peak_kib.max(v);
            }
        }
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if start.elapsed() > TIME_BOUND {
            let _ = child.kill();
            let _ = child.wait();
            panic!("connscope {args:?} did not finish within {TIME_BOUND:?}: a hang");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let r = Run {
        code: status.code().unwrap_or(-1),
        out: out.join().unwrap(),
        err: err.join().unwrap(),
        peak_kib,
        took: start.elapsed(),
    };
    assert!(
        !r.err.contains("panicked") && r.code != 101,
        "connscope panicked on {args:?}: {}",
        r.err
    );
    r
}

// ---------------------------------------------------------------------------
// Building captures.

/// One record: timestamp (secs, µs), caplen as written, orig len, bytes.
struct Rec {
    secs: u32,
    usecs: u32,
    caplen: u32,
    len: u32,
    data: Vec<u8>,
}

impl Rec {
    fn new(secs: u32, usecs: u32, data: Vec<u8>) -> Rec {
        let n = data.len() as u32;
        Rec {
            secs,
            usecs,
            caplen: n,
            len: n,
            data,
        }
    }
}

/// A classic little-endian microsecond pcap, written straight to `w`.
fn pcap_header(w: &mut impl std::io::Write, linktype: u32, snaplen: u32) {
    let mut b = Vec::with_capacity(24);
    b.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&4u16.to_le_bytes());
    b.extend_from_slice(&[0; 8]);
    b.extend_from_slice(&snaplen.to_le_bytes());
    b.extend_from_slice(&linktype.to_le_bytes());
    w.write_all(&b).unwrap();
}

fn pcap_record(w: &mut impl std::io::Write, r: &Rec) {
    let mut h = [0u8; 16];
    h[0..4].copy_from_slice(&r.secs.to_le_bytes());
    h[4..8].copy_from_slice(&r.usecs.to_le_bytes());
    h[8..12].copy_from_slice(&r.caplen.to_le_bytes());
    h[12..16].copy_from_slice(&r.len.to_le_bytes());
    w.write_all(&h).unwrap();
    w.write_all(&r.data).unwrap();
}

fn write_file(dir: &Path, name: &str, recs: &[Rec]) -> PathBuf {
    let p = dir.join(name);
    let mut f = std::io::BufWriter::new(std::fs::File::create(&p).unwrap());
    pcap_header(&mut f, 1, 262_144);
    for r in recs {
        pcap_record(&mut f, r);
    }
    drop(f);
    p
}

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const PSH: u8 = 0x08;
const FIN: u8 = 0x01;

/// Ethernet + IPv4 (IHL 5) + TCP header with `opts` (padded to 4 bytes).
use common::tcp_frame as tcp4;

const C: [u8; 4] = [10, 0, 0, 2];
const S: [u8; 4] = [10, 0, 0, 1];

/// A complete keep-alive exchange (one GET, one 200), to show that the
/// analysis goes on after hostile packets.
fn good_exchange(secs: u32) -> Vec<Rec> {
    let req = b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n";
    let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    let (cp, sp) = (50_000, 8080);
    let pk = [
        tcp4(C, S, cp, sp, 100, 0, SYN, &[], &[]),
        tcp4(S, C, sp, cp, 900, 101, SYN | ACK, &[], &[]),
        tcp4(C, S, cp, sp, 101, 901, ACK, &[], &[]),
        tcp4(C, S, cp, sp, 101, 901, PSH | ACK, &[], req),
        tcp4(
            S,
            C,
            sp,
            cp,
            901,
            101 + req.len() as u32,
            PSH | ACK,
            &[],
            resp,
        ),
    ];
    pk.into_iter()
        .enumerate()
        .map(|(i, d)| Rec::new(secs, i as u32 * 1000, d))
        .collect()
}

/// The per-packet lines agree with tcpdump's, when tcpdump is installed.
fn same_as_tcpdump(file: &Path, out: &str) {
    if let Some(expected) = tcpdump_lines(file, None) {
        let ours: String = out
            .lines()
            .take(expected.lines().count())
            .map(|l| format!("{l}\n"))
            .collect();
        assert_same_lines(&file.display().to_string(), &expected, &ours);
    }
}

fn summary_counts(out: &str) -> &str {
    out.lines()
        .find(|l| l.contains(" packets (") && l.contains("skipped)"))
        .unwrap_or_else(|| panic!("no summary line in: {out}"))
}

// ---------------------------------------------------------------------------
// Record-level cases not in bad_input.rs.

/// caplen larger than the record's original length: libpcap hands the bytes
/// over; the packet is printed (its IP length runs past the wire length) and
/// the rest of the file is analysed.
#[test]
fn caplen_larger_than_len() {
    let d = tempfile::tempdir().unwrap();
    let mut recs = Vec::new();
    for len in [0u32, 10, 20, 40, 53] {
        let mut r = Rec::new(1, len, tcp4(C, S, 1, 80, 1, 0, SYN, &[], &[]));
        r.len = len;
        recs.push(r);
    }
    recs.extend(good_exchange(2));
    let f = write_file(d.path(), "caplen-gt-len.pcap", &recs);
    let r = run(&["read", f.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.err);
    assert!(
        summary_counts(&r.out).starts_with("10 packets"),
        "{}",
        r.out
    );
    assert!(r.out.contains("1 HTTP request over"), "{}", r.out);
}

// ---------------------------------------------------------------------------
// Header-level cases: counted and skipped, or printed as tcpdump does.

/// IPv4 IHL pointing past the captured packet (IHL 15 on a 20-byte header)
/// and TCP data offset pointing past the segment (15 words, 20 bytes there).
#[test]
fn ihl_and_data_offset_past_the_packet() {
    let d = tempfile::tempdir().unwrap();
    let mut ihl = tcp4(C, S, 1000, 80, 1, 0, SYN, &[], &[]);
    ihl[14] = 0x4f;
    let mut ihl_short = ihl.clone();
    ihl_short.truncate(14 + 30);
    let mut doff = tcp4(C, S, 1001, 80, 1, 0, SYN, &[], &[]);
    doff[14 + 20 + 12] = 0xf0;
    let mut doff_payload = tcp4(
        C,
        S,
        1002,
        80,
        1,
        0,
        PSH | ACK,
        &[],
        b"GET / HTTP/1.1\r\n\r\n",
    );
    doff_payload[14 + 20 + 12] = 0xf0;
    let mut recs: Vec<Rec> = [ihl, ihl_short, doff, doff_payload]
        .into_iter()
        .map(|p| Rec::new(1, 0, p))
        .collect();
    recs.extend(good_exchange(2));
    let f = write_file(d.path(), "offsets.pcap", &recs);
    let r = run(&["read", f.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.err);
    same_as_tcpdump(&f, &r.out);
    assert!(summary_counts(&r.out).starts_with("9 packets"), "{}", r.out);
    assert!(
        r.out.contains("1 HTTP request over 1 TCP connection"),
        "{}",
        r.out
    );
}

/// TCP options whose length bytes overrun the header, are 0 or 1 (a parser
/// that trusts them loops forever), or claim 255 bytes.
#[test]
fn tcp_options_that_overrun() {
    let d = tempfile::tempdir().unwrap();
    let bad_opts: [&[u8]; 8] = [
        &[2, 40, 0, 0],                        // MSS claiming 40 bytes
        &[2, 0, 0, 0],                         // length 0
        &[8, 1, 0, 0],                         // length 1
        &[3, 255, 7, 0],                       // window scale claiming 255
        &[1, 1, 1, 8, 10, 0, 0, 0],            // timestamps cut by the header end
        &[5, 34, 0, 0, 0, 1, 0, 0, 0, 2],      // SACK block list overrunning
        &[30, 200, 0x10, 0, 0, 0, 0, 0],       // MPTCP claiming 200
        &[254, 4, 0xf9, 0x89, 253, 255, 0, 0], // experimental, overrun
    ];
    let mut recs: Vec<Rec> = bad_opts
        .iter()
        .enumerate()
        .map(|(i, o)| {
            Rec::new(
                1,
                i as u32,
                tcp4(C, S, 2000 + i as u16, 80, 7, 0, SYN, o, &[]),
            )
        })
        .collect();
    recs.extend(good_exchange(2));
    let f = write_file(d.path(), "options.pcap", &recs);
    let r = run(&["read", f.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.err);
    same_as_tcpdump(&f, &r.out);
    assert!(
        summary_counts(&r.out).starts_with("13 packets"),
        "{}",
        r.out
    );
    assert!(r.out.contains("1 HTTP request over"), "{}", r.out);
}

/// IPv6 extension-header chains that never end: 40 hop-by-hop/destination
/// headers in a row, a chain running past the packet, and a chain whose
/// length byte claims more than the payload length.
#[test]
fn ipv6_extension_chains_that_never_end() {
    let d = tempfile::tempdir().unwrap();
    let v6 = |exts: &[u8], first: u8, plen: u16| {
        let mut b = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x86, 0xdd];
        b.extend_from_slice(&[0x60, 0, 0, 0]);
        b.extend_from_slice(&plen.to_be_bytes());
        b.extend_from_slice(&[first, 64]);
        b.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        b.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        b.extend_from_slice(exts);
        b
    };
    let mut long = Vec::new();
    for i in 0..40 {
        long.extend_from_slice(&[if i % 2 == 0 { 60 } else { 0 }, 0, 1, 4, 0, 0, 0, 0]);
    }
    let mut past = Vec::new();
    for _ in 0..3 {
        past.extend_from_slice(&[60, 0, 1, 4, 0, 0, 0, 0]);
    }
    let recs = vec![
        Rec::new(1, 0, v6(&long, 0, long.len() as u16)),
        Rec::new(1, 1, v6(&past, 60, 4000)),
        Rec::new(1, 2, v6(&[6, 255, 0, 0, 0, 0, 0, 0], 0, 8)),
        Rec::new(1, 3, v6(&[43, 0, 0, 0, 0, 0, 0, 0], 44, 8)),
    ];
    let mut all = recs;
    all.extend(good_exchange(2));
    let f = write_file(d.path(), "ext6.pcap", &all);
    let r = run(&["read", f.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.err);
    let counts = summary_counts(&r.out);
    assert!(
        counts.starts_with("9 packets (5 TCP, 4 skipped)"),
        "{counts}"
    );
    assert!(r.out.contains("1 HTTP request over"), "{}", r.out);
}

// ---------------------------------------------------------------------------
// Resource bounds.

/// Writes a SYN flood of `n` distinct 4-tuples (one SYN each, 1 µs apart).
fn syn_flood(dir: &Path, n: u32) -> PathBuf {
    let p = dir.join(format!("flood-{n}.pcap"));
    let mut f = std::io::BufWriter::new(std::fs::File::create(&p).unwrap());
    pcap_header(&mut f, 1, 262_144);
    let template = tcp4(C, S, 0, 80, 0, 0, SYN, &[2, 4, 5, 0xb4], &[]);
    for i in 0..n {
        let mut d = template.clone();
        let src = [10, (i >> 16) as u8, (i >> 8) as u8, i as u8];
        d[26..30].copy_from_slice(&src);
        d[34..36].copy_from_slice(&(1024 + (i % 60_000) as u16).to_be_bytes());
        d[38..42].copy_from_slice(&i.wrapping_mul(2_654_435_761).to_be_bytes());
        pcap_record(
            &mut f,
            &Rec::new(1_700_000_000 + i / 1_000_000, i % 1_000_000, d),
        );
    }
    drop(f);
    p
}

/// Peak RSS bound for the flood: every SYN opens a connection that stays
/// open. A SYN-only connection is a compact slot (about 110 bytes measured,
/// docs/PERFORMANCE.md), so the bound is per 100k open connections (twice the
/// measured figure: tables grow by doubling), plus a fixed part (the diagnosis
/// sample of 50k reports, buffers).
const FLOOD_MIB_PER_100K: u64 = 24;
const FLOOD_MIB_FIXED: u64 = 48;

fn flood(n: u32) {
    let d = tempfile::tempdir().unwrap();
    let f = syn_flood(d.path(), n);
    let r = run(&["read", "-q", "--format", "ndjson", f.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.err);
    // Every connection is reported; beyond the default --max-connections
    // (1,000,000) half-open ones are streamed out early, so the footprint
    // stops growing there.
    let totals = r.out.lines().last().unwrap();
    assert!(totals.contains(&format!("\"connections\":{n}")), "{totals}");
    assert_eq!(r.out.lines().count() as u32, n + 1);
    let tracked = n.min(1_000_000);
    let bound = FLOOD_MIB_FIXED + FLOOD_MIB_PER_100K * u64::from(tracked) / 100_000;
    eprintln!(
        "SYN flood of {n} tuples: peak RSS {} MiB (bound {bound} MiB), {:.1?}",
        r.peak_kib / 1024,
        r.took
    );
    assert!(r.peak_kib > 0, "could not sample the peak RSS");
    assert!(
        r.peak_kib / 1024 <= bound,
        "peak RSS {} MiB over the bound {bound} MiB",
        r.peak_kib / 1024
    );

    // With a cap the table stays small and the summary says so.
    let cap = run(&[
        "read",
        "-q",
        "--max-connections",
        "1000",
        f.to_str().unwrap(),
    ]);
    assert_eq!(cap.code, 0, "{}", cap.err);
    assert!(
        cap.out.contains(&format!(
            "--max-connections cap was reached: {} connections were half-open",
            n - 1000
        )),
        "{}",
        cap.out
    );
    assert_eq!(
        cap.err
            .matches("warning: 1000 connections tracked (--max-connections)")
            .count(),
        1,
        "the cap is warned about once, on stderr: {}",
        cap.err
    );
    assert!(
        cap.peak_kib <= r.peak_kib,
        "capped run used more memory ({} KiB) than the uncapped one ({} KiB)",
        cap.peak_kib,
        r.peak_kib
    );
}

/// A SYN flood of 200,000 distinct 4-tuples: every one is a connection,
/// memory grows with them under the stated bound, and `--max-connections`
/// caps it with a line in the summary.
#[test]
fn syn_flood_200k_tuples() {
    flood(200_000);
}

/// The 2-million-tuple flood (about 140 MB of capture; beyond the
/// default `--max-connections` of 1,000,000 half-open connections are
/// reported early), then all 2M held at once: run with
/// `cargo test --release --test adversarial -- --ignored`.
#[test]
#[ignore]
fn syn_flood_2m_tuples() {
    flood(2_000_000);
    // Issue 8's figure: all 2M held at once (cap raised), bytes per tracked
    // connection above the base a 1,000-tuple flood needs.
    let d = tempfile::tempdir().unwrap();
    let big = syn_flood(d.path(), 2_000_000);
    let small = syn_flood(d.path(), 1_000);
    let peak = |f: &std::path::Path| {
        let r = run(&[
            "read",
            "-q",
            "--max-connections",
            "4000000",
            f.to_str().unwrap(),
        ]);
        assert_eq!(r.code, 0, "{}", r.err);
        r.peak_kib * 1024
    };
    let (base, all) = (peak(&small), peak(&big));
    let per_conn = (all - base) / 2_000_000;
    eprintln!(
        "2M SYNs held at once: {per_conn} bytes per connection above a base of {} MiB",
        base >> 20
    );
    assert!(per_conn <= 160, "{per_conn} bytes per tracked connection");
}

/// One connection whose first data segment is lost and which then sends
/// 64 MiB of out-of-order data: held data stays within `--reasm-window`,
/// the overflow is reported, and later requests are still found.
#[test]
fn out_of_order_data_is_bounded() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("ooo.pcap");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&p).unwrap());
    pcap_header(&mut f, 1, 262_144);
    let (cp, sp) = (40_000, 8080);
    let mut t = 0u32;
    let mut rec = |f: &mut std::io::BufWriter<std::fs::File>, data: Vec<u8>| {
        t += 1;
        pcap_record(
            f,
            &Rec::new(1_700_000_000 + t / 1_000_000, t % 1_000_000, data),
        );
    };
    rec(&mut f, tcp4(C, S, cp, sp, 0, 0, SYN, &[], &[]));
    rec(&mut f, tcp4(S, C, sp, cp, 0, 1, SYN | ACK, &[], &[]));
    rec(&mut f, tcp4(C, S, cp, sp, 1, 1, ACK, &[], &[]));
    // Byte 1..1461 never arrives; everything after it does, 64 MiB of it.
    let body = vec![b'x'; 1460];
    let segs = 64 * 1024 * 1024 / 1460;
    for i in 1..=segs {
        rec(&mut f, tcp4(C, S, cp, sp, 1 + i * 1460, 1, ACK, &[], &body));
    }
    drop(f);
    let r = run(&["read", "-q", "--reasm-window", "65536", p.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.err);
    assert!(
        r.out.contains("more out-of-order data than --reasm-window"),
        "{}",
        r.out
    );
    eprintln!(
        "64 MiB out of order: peak RSS {} MiB, {:.1?}",
        r.peak_kib / 1024,
        r.took
    );
    assert!(
        r.peak_kib / 1024 <= 64,
        "peak RSS {} MiB",
        r.peak_kib / 1024
    );
}

/// An HTTP head that never ends (16 MiB of header lines, no blank line),
/// then a second connection with a normal request: the runaway head is
/// bounded by `--max-header-bytes` and reported; the next request counts.
#[test]
fn http_headers_that_never_end() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("headers.pcap");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&p).unwrap());
    pcap_header(&mut f, 1, 262_144);
    let (cp, sp) = (40_001, 80);
    let mut t = 0u32;
    let mut rec = |f: &mut std::io::BufWriter<std::fs::File>, data: Vec<u8>| {
        t += 1;
        pcap_record(f, &Rec::new(1_700_000_000, t % 1_000_000, data));
    };
    rec(&mut f, tcp4(C, S, cp, sp, 0, 0, SYN, &[], &[]));
    rec(&mut f, tcp4(S, C, sp, cp, 0, 1, SYN | ACK, &[], &[]));
    rec(&mut f, tcp4(C, S, cp, sp, 1, 1, ACK, &[], &[]));
    let mut seq = 1u32;
    let first = b"GET /never HTTP/1.1\r\n".to_vec();
    rec(&mut f, tcp4(C, S, cp, sp, seq, 1, PSH | ACK, &[], &first));
    seq += first.len() as u32;
    let line: Vec<u8> = b"X-Padding: "
        .iter()
        .chain([b'a'; 1400 - 13].iter())
        .chain(b"\r\n")
        .copied()
        .collect();
    for _ in 0..(16 * 1024 * 1024 / 1400) {
        rec(&mut f, tcp4(C, S, cp, sp, seq, 1, ACK, &[], &line));
        seq = seq.wrapping_add(line.len() as u32);
    }
    rec(&mut f, tcp4(C, S, cp, sp, seq, 1, FIN | ACK, &[], &[]));
    drop(f);
    let mut all = std::fs::read(&p).unwrap();
    for r in good_exchange(1_700_000_100) {
        let mut v = Vec::new();
        pcap_record(&mut v, &r);
        all.extend(v);
    }
    std::fs::write(&p, all).unwrap();
    let r = run(&[
        "read",
        "-q",
        "--max-header-bytes",
        "8192",
        p.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.err);
    assert!(
        r.out
            .contains("1 connection sent an HTTP head longer than --max-header-bytes"),
        "{}",
        r.out
    );
    assert!(
        r.out.contains("1 HTTP request over 2 TCP connections"),
        "{}",
        r.out
    );
    eprintln!(
        "16 MiB head: peak RSS {} MiB, {:.1?}",
        r.peak_kib / 1024,
        r.took
    );
    assert!(
        r.peak_kib / 1024 <= 64,
        "peak RSS {} MiB",
        r.peak_kib / 1024
    );
}
