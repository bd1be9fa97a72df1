//! The fuzz targets' bodies, shared by `cargo fuzz` (libFuzzer, nightly) and
//! the stable replayer/tests (`cargo test` in this crate).
//!
//! Each target decodes its input with a small documented format (so seeds
//! made from the fixtures by the `seed` binary mean something) and asserts
//! invariants, not just "no panic":
//! - [`decode_render`]: any bytes under any link type decode or are skipped,
//!   the tcpdump line renders with no newline, and a segment never claims
//!   more captured payload than its wire length;
//! - [`track`]: the tracker's table keeps its invariants for any sequence of
//!   segments (ids dense and increasing, every connection reported exactly
//!   once, TIME-WAIT counters consistent, records sorted, the cap held);
//! - [`http_split`]: reassembly + HTTP/1.x framing give the same requests for
//!   a stream fed in one segment as split, reordered and retransmitted
//!   (the reassembly model: in-window reordering never changes the stream).
#![forbid(unsafe_code)]

use connscope::capture::{LinkType, Packet, Timestamp};
use connscope::decode::{self, Segment, TcpFlags};
use connscope::http::{HttpConfig, HttpConn, Pre};
use connscope::report::line::LineRenderer;
use connscope::track::{TrackConfig, Tracker};
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Link types `decode_render` selects from with its first byte.
pub const LINKS: [LinkType; 8] = [
    LinkType::Ethernet,
    LinkType::LinuxSll,
    LinkType::LinuxSll2,
    LinkType::Null,
    LinkType::Loop,
    LinkType::Raw,
    LinkType::Ipv4,
    LinkType::Ipv6,
];

/// Small cursor over the fuzz input; reads past the end yield zeros/None.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes([self.u8()?, self.u8()?]))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes([
            self.u8()?,
            self.u8()?,
            self.u8()?,
            self.u8()?,
        ]))
    }
    fn take(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }
}

/// Base of the synthetic timestamps (2023-11-14), inside pcap's u32 range.
const T0: i64 = 1_700_000_000;

// ---------------------------------------------------------------------------
// decode_render

/// Input: `[link selector]` then packets `[caplen u16][wire mode u8][bytes]`.
/// Wire mode 0: wire length = caplen; 1..=127: wire longer by `mode * 37`
/// (snapshot cut); 128..=255: wire *shorter* by `mode - 128` (a hostile
/// record with caplen > len). All packets go through one renderer, so the
/// relative-sequence table is exercised across packets.
pub fn decode_render(data: &[u8]) {
    let mut inp = Input(data);
    let Some(sel) = inp.u8() else { return };
    let link = LINKS[usize::from(sel) % LINKS.len()];
    let mut r = LineRenderer::new();
    let mut i = 0i64;
    while let (Some(len), Some(mode)) = (inp.u16(), inp.u8()) {
        let bytes = inp.take(usize::from(len));
        let cap = bytes.len() as u32;
        let wire_len = match mode {
            0 => cap,
            1..=127 => cap + u32::from(mode) * 37,
            _ => cap.saturating_sub(u32::from(mode - 128)),
        };
        let ts = Timestamp::new(T0 + i, u32::from(mode) * 1000);
        i += 1;
        let pkt = Packet {
            ts,
            wire_len,
            data: bytes,
        };
        // Decoding ahead (on the reader thread) gives what decoding in the
        // loop gives, for every input.
        let early = decode::Early::of(link, &pkt);
        let Ok(d) = decode::decode(link, &pkt) else {
            assert!(matches!(early, decode::Early::Skip(_)), "{early:?}");
            continue;
        };
        match (d.segment(ts), &early) {
            (Some(seg), decode::Early::Segment(e)) => {
                assert_eq!(format!("{seg:?}"), format!("{:?}", e.segment(ts, bytes)));
            }
            (None, decode::Early::Damaged) => {}
            (seg, early) => panic!("decoded {seg:?}, early {early:?}"),
        }
        assert!(
            d.tcp.len() as u64 <= u64::from(d.tcp_len),
            "captured transport bytes exceed the IP length"
        );
        if let Some(seg) = d.segment(ts) {
            assert!(seg.payload.len() as u64 <= u64::from(seg.payload_len));
            assert_eq!(seg.ts, ts);
        }
        let line = r.render(ts, &d);
        assert!(!line.is_empty());
        assert!(!line.contains(&b'\n'), "a line must not contain a newline");
    }
}

// ---------------------------------------------------------------------------
// track

/// Bytes per segment in the `track` input.
pub const TRACK_SEG: usize = 14;

/// The endpoints `track` builds segments between: 4 client addresses × 4
/// client ports × 4 server ports, IPv4 or IPv6, either direction.
fn track_endpoints(tup: u8) -> (SocketAddr, SocketAddr) {
    const SERVER_PORTS: [u16; 4] = [80, 8080, 443, 5555];
    let host = tup & 3;
    let cport = 40_000 + u16::from((tup >> 2) & 3);
    let sport = SERVER_PORTS[usize::from((tup >> 4) & 3)];
    let (c, s): (IpAddr, IpAddr) = if tup & 0x80 != 0 {
        (
            IpAddr::V6(Ipv6Addr::new(
                0xfd00,
                0,
                0,
                0,
                0,
                0,
                0,
                10 + u16::from(host),
            )),
            IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1)),
        )
    } else {
        (
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 10 + host)),
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        )
    };
    let (c, s) = (SocketAddr::new(c, cport), SocketAddr::new(s, sport));
    if tup & 0x40 != 0 {
        (s, c)
    } else {
        (c, s)
    }
}

/// Input: `[time_wait secs % 8][cap selector]`, then segments of
/// [`TRACK_SEG`] bytes: `[tuple][flags][seq u32][ack u32][dt u16][payload/8 u8][window]`.
/// `tuple` picks the endpoints (see `track_endpoints`); `dt` is milliseconds
/// after the previous segment, or *before* it when its top bit is set
/// (timestamps going backwards). Cap selector 0..=63 → `max_connections`
/// 1..=64, else 1,000,000.
pub fn track(data: &[u8]) {
    let mut inp = Input(data);
    let (Some(tw), Some(capsel)) = (inp.u8(), inp.u8()) else {
        return;
    };
    let max_connections = if capsel < 64 {
        usize::from(capsel) + 1
    } else {
        1_000_000
    };
    let cfg = TrackConfig {
        time_wait_secs: f64::from(tw % 8),
        max_connections,
    };
    let mut t = Tracker::new(cfg);
    // Without a cap (where eviction needs the compact forms), a tracker that
    // keeps every connection whole must say exactly the same, segment by
    // segment: the compact forms (embryos, tombs) are invisible.
    let mut reference =
        (max_connections == 1_000_000).then(|| Tracker::new(cfg).without_compaction());
    let mut now_ms: i64 = 0;
    let mut seen = BTreeSet::new();
    let mut reported = BTreeSet::new();
    let mut max_id = 0u64;
    let mut fed = 0u64;
    let check_drained = |recs: Vec<connscope::track::ConnRecord>, reported: &mut BTreeSet<u64>| {
        assert!(
            recs.windows(2).all(|w| w[0].id < w[1].id),
            "drain not sorted"
        );
        for r in recs {
            assert!(
                reported.insert(r.id.0),
                "connection {} drained twice",
                r.id.0
            );
        }
    };
    while inp.0.len() >= TRACK_SEG {
        let b = inp.take(TRACK_SEG);
        let mut s = Input(b);
        let (tup, flags) = (s.u8().unwrap_or(0), s.u8().unwrap_or(0));
        let seq = s.u32().unwrap_or(0);
        let ack = s.u32().unwrap_or(0);
        let dt = s.u16().unwrap_or(0);
        let plen = s.u8().unwrap_or(0);
        let window = s.u8().unwrap_or(0);
        if dt & 0x8000 != 0 {
            now_ms -= i64::from(dt & 0x7fff);
        } else {
            now_ms += i64::from(dt);
        }
        let ts = Timestamp::new(
            T0 + now_ms.div_euclid(1000),
            (now_ms.rem_euclid(1000) as u32) * 1_000_000,
        );
        let (src, dst) = track_endpoints(tup);
        let seg = Segment {
            ts,
            src,
            dst,
            seq,
            ack,
            flags: TcpFlags(flags),
            window: u16::from(window) << 8,
            payload: &[],
            payload_len: u32::from(plen) * 8,
        };
        fed += 1;
        let before = t.stats();
        let observed = t.on_segment(&seg);
        if let Some(r) = reference.as_mut() {
            assert_eq!(
                r.on_segment(&seg),
                observed,
                "compaction changed a segment's outcome"
            );
            assert_eq!(r.stats(), t.stats(), "compaction changed the counters");
        }
        match observed {
            Some(o) => {
                if o.new_connection {
                    assert_eq!(o.conn.0, max_id + 1, "ids must be issued in order");
                    max_id = o.conn.0;
                } else {
                    assert!(o.conn.0 <= max_id && o.conn.0 >= 1, "unknown id");
                }
                seen.insert(o.conn.0);
            }
            None => {
                let after = t.stats();
                assert_eq!(after.dropped_at_cap, before.dropped_at_cap + 1);
            }
        }
        let st = t.stats();
        assert_eq!(st.connections, seen.len() as u64);
        assert_eq!(st.connections, max_id);
        assert_eq!(st.segments, fed);
        assert!(st.tracked <= max_connections as u64, "cap exceeded");
        assert!(st.time_wait_at_end <= st.time_wait_peak);
        assert!(st.time_wait_peak <= st.time_wait_entered[0] + st.time_wait_entered[1]);
        // Drain after some segments, as the analyzer does after each packet
        // (records() clones the table: checked there only, to stay fast).
        if tup & 8 != 0 {
            let recs = t.records();
            assert!(
                recs.windows(2).all(|w| w[0].id < w[1].id),
                "records not sorted"
            );
            let drained = t.drain_ended();
            if let Some(r) = reference.as_mut() {
                assert_eq!(r.records(), recs, "compaction changed a record");
                assert_eq!(
                    r.drain_ended(),
                    drained,
                    "compaction changed a drained record"
                );
            }
            check_drained(drained, &mut reported);
        }
    }
    let end = Timestamp::new(T0 + now_ms.div_euclid(1000), 0);
    t.finish(end);
    let drained = t.drain_ended();
    if let Some(r) = reference.as_mut() {
        r.finish(end);
        assert_eq!(
            r.drain_ended(),
            drained,
            "compaction changed a final record"
        );
        assert_eq!(r.stats(), t.stats());
    }
    check_drained(drained, &mut reported);
    assert!(t.records().is_empty(), "records left after finish + drain");
    let st = t.stats();
    assert_eq!(st.tracked, 0);
    assert!(st.time_wait_at_end <= st.time_wait_peak);
    assert_eq!(reported, seen, "every connection is reported exactly once");
}

// ---------------------------------------------------------------------------
// http_split

/// What one feeding of the streams produced.
#[derive(Debug, PartialEq, Eq)]
struct HttpOutcome {
    requests: u64,
    responses: u64,
    /// (side, method, target, version, status) of each kept request.
    list: Vec<(u8, String, String, u8, Option<u16>)>,
}

struct HttpRun {
    out: HttpOutcome,
    clean: bool,
}

const ISN: [u32; 2] = [0xffff_ff00, 1000];

/// Feeds `pieces` (side, stream offset, bytes) after a SYN on each side.
/// Also asserts that every segment's payload read ahead (`Pre`) leaves the
/// connection in the very state it reaches without it.
fn http_feed(cfg: &HttpConfig, pieces: &[(u8, usize, &[u8])]) -> HttpRun {
    let mut c = HttpConn::new();
    let mut plain = HttpConn::new();
    let ts = |i: usize| Timestamp::new(T0, (i as u32 % 1000) * 1000);
    for side in [0u8, 1] {
        for h in [&mut c, &mut plain] {
            h.on_segment(
                cfg,
                side,
                ISN[usize::from(side)],
                true,
                false,
                false,
                &[],
                0,
                ts(0),
                None,
            );
        }
    }
    for (i, &(side, off, bytes)) in pieces.iter().enumerate() {
        let seq = ISN[usize::from(side)]
            .wrapping_add(1)
            .wrapping_add(off as u32);
        let mut pre = Pre::of(bytes);
        for (h, pre) in [(&mut c, Some(&mut pre)), (&mut plain, None)] {
            h.on_segment(
                cfg,
                side,
                seq,
                false,
                false,
                false,
                bytes,
                bytes.len() as u32,
                ts(i + 1),
                pre,
            );
        }
        assert_eq!(
            format!("{c:?}"),
            format!("{plain:?}"),
            "the payload read ahead changed the HTTP state"
        );
    }
    c.finish(cfg);
    assert!(c.requests().len() as u64 <= c.request_count());
    let clean = c.protocol_errors() == 0 && !c.limits_hit().any() && c.skipped_bytes() == 0;
    HttpRun {
        out: HttpOutcome {
            requests: c.request_count(),
            responses: c.response_count(),
            list: c
                .requests()
                .iter()
                .map(|r| {
                    (
                        r.side,
                        r.method.to_string(),
                        r.target.to_string(),
                        r.version,
                        r.status,
                    )
                })
                .collect(),
        },
        clean,
    }
}

/// Input: `[mode][k]`, `k % 17` split points (u16 each), `[req_len u16]`,
/// then the bytes: `req_len` bytes of side 0's stream, the rest side 1's.
/// Mode bit 0: deliver the pieces in a shuffled order (out of order within
/// the window); bit 1: retransmit every other piece; bit 2: small head
/// limit (256 bytes) instead of the default.
///
/// Asserts: when the one-segment feed parsed cleanly (no protocol error,
/// no limit hit, nothing skipped), the split feed is clean too and yields
/// the same request and response counts and the same requests.
pub fn http_split(data: &[u8]) {
    let mut inp = Input(data);
    let (Some(mode), Some(k)) = (inp.u8(), inp.u8()) else {
        return;
    };
    let mut cuts: Vec<usize> = (0..k % 17)
        .filter_map(|_| inp.u16())
        .map(usize::from)
        .collect();
    let Some(req_len) = inp.u16() else { return };
    let rest = inp.0;
    let n0 = usize::from(req_len).min(rest.len());
    let streams = [&rest[..n0], &rest[n0..]];
    let cfg = HttpConfig {
        max_header_bytes: if mode & 4 != 0 { 256 } else { 64 * 1024 },
        ..HttpConfig::default()
    };

    let whole: Vec<(u8, usize, &[u8])> = [0u8, 1]
        .iter()
        .filter(|&&s| !streams[usize::from(s)].is_empty())
        .map(|&s| (s, 0, streams[usize::from(s)]))
        .collect();
    let one = http_feed(&cfg, &whole);

    // Split each stream at the cut points that fall inside it. Side 0's
    // pieces all go before side 1's, as in the one-shot feed: the order
    // *between* directions is timing (a response older than its request
    // does not answer it), not reassembly.
    let mut x = 0x9e37_79b9u32 ^ u32::from(mode) ^ ((cuts.len() as u32) << 8);
    cuts.push(0);
    for (i, c) in cuts.iter().enumerate() {
        x = x.rotate_left(5) ^ (*c as u32) ^ i as u32;
    }
    let mut pieces: Vec<(u8, usize, &[u8])> = Vec::new();
    for side in [0u8, 1] {
        let st = streams[usize::from(side)];
        let mut at: Vec<usize> = cuts.iter().map(|&c| c % (st.len() + 1)).collect();
        at.push(st.len());
        at.sort_unstable();
        at.dedup();
        let mut mine: Vec<(u8, usize, &[u8])> = at
            .windows(2)
            .map(|w| (side, w[0], &st[w[0]..w[1]]))
            .collect();
        if mode & 1 != 0 {
            // Deterministic shuffle (xorshift32) driven by the cut values.
            for i in (1..mine.len()).rev() {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                mine.swap(i, x as usize % (i + 1));
            }
        }
        if mode & 2 != 0 {
            let dup: Vec<_> = mine.iter().step_by(2).copied().collect();
            mine.extend(dup);
        }
        pieces.extend(mine);
    }
    let split = http_feed(&cfg, &pieces);
    if one.clean {
        assert!(
            split.clean,
            "one-shot feed was clean but the split feed was not: {:?} vs {:?}",
            one.out, split.out
        );
        assert_eq!(one.out, split.out, "split changed the HTTP outcome");
    }
}

// ---------------------------------------------------------------------------
// stable replay

/// `main` of a target binary built without `--cfg fuzzing`: runs `target`
/// over every file named on the command line (directories: every file in
/// them). Returns the process exit code.
pub fn replay_main(target: fn(&[u8])) -> i32 {
    let mut n = 0u64;
    for arg in std::env::args_os().skip(1) {
        let p = std::path::PathBuf::from(arg);
        let files: Vec<_> = if p.is_dir() {
            match std::fs::read_dir(&p) {
                Ok(d) => d.flatten().map(|e| e.path()).collect(),
                Err(e) => {
                    eprintln!("{}: {e}", p.display());
                    return 1;
                }
            }
        } else {
            vec![p]
        };
        for f in files {
            match std::fs::read(&f) {
                Ok(b) => {
                    target(&b);
                    n += 1;
                }
                Err(e) => {
                    eprintln!("{}: {e}", f.display());
                    return 1;
                }
            }
        }
    }
    println!("replayed {n} inputs");
    0
}

/// A seeded xorshift64* generator for the stable smoke runs.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// `len` random bytes, or (half the time) a mutation of `seed`.
    pub fn input(&mut self, seed: &[u8], len: usize) -> Vec<u8> {
        if !seed.is_empty() && self.next_u64() & 1 == 0 {
            let mut v = seed.to_vec();
            for _ in 0..1 + self.next_u64() % 8 {
                let i = (self.next_u64() as usize) % v.len();
                v[i] = self.next_u64() as u8;
            }
            let cut = (self.next_u64() as usize) % (v.len() + 1);
            if self.next_u64() & 3 == 0 {
                v.truncate(cut);
            }
            v
        } else {
            (0..len).map(|_| self.next_u64() as u8).collect()
        }
    }
}
