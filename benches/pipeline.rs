//! Criterion micro-benchmarks of the per-packet stages: decode, the tcpdump
//! line renderer, track, HTTP framing, and the whole analyzer per packet.
//! Packets are built in memory (etherparse), like benchgen's keep-alive
//! traffic: SYN with options, pure ACKs with timestamps, a GET, and a
//! 612-byte Content-Length response.
//!
//! Run: `cargo bench --bench pipeline` (add `-- decode` to pick a group).

use connscope::analysis::Analyzer;
use connscope::capture::{LinkType, Packet, Timestamp};
use connscope::cli::{AnalysisArgs, Format};
use connscope::decode::{self, Segment, TcpFlags};
use connscope::http::{HttpConfig, HttpConn};
use connscope::report::line::LineRenderer;
use connscope::track::{TrackConfig, Tracker};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use etherparse::{PacketBuilder, TcpOptionElement};
use std::hint::black_box;
use std::net::SocketAddr;

const REQ: &[u8] =
    b"GET /item/42 HTTP/1.1\r\nHost: bench.example:8080\r\nUser-Agent: benchgen/1\r\nAccept: */*\r\n\r\n";

fn response() -> Vec<u8> {
    let mut r = b"HTTP/1.1 200 OK\r\nServer: benchgen\r\nContent-Type: text/html\r\nContent-Length: 612\r\nConnection: keep-alive\r\n\r\n".to_vec();
    r.resize(r.len() + 612, b'x');
    r
}

const C: ([u8; 4], u16) = ([10, 1, 0, 2], 40000);
const S: ([u8; 4], u16) = ([10, 0, 0, 1], 8080);

/// One Ethernet/IPv4/TCP frame with TCP timestamps (SYNs: Linux's option list).
fn frame(
    from: ([u8; 4], u16),
    to: ([u8; 4], u16),
    seq: u32,
    ack: Option<u32>,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(from.0, to.0, 64)
        .tcp(from.1, to.1, seq, 502);
    if flags & TcpFlags::SYN != 0 {
        b = b.syn();
    }
    if flags & TcpFlags::FIN != 0 {
        b = b.fin();
    }
    if flags & TcpFlags::PSH != 0 {
        b = b.psh();
    }
    if let Some(a) = ack {
        b = b.ack(a);
    }
    let opts: &[TcpOptionElement] = if flags & TcpFlags::SYN != 0 {
        &[
            TcpOptionElement::MaximumSegmentSize(1460),
            TcpOptionElement::SelectiveAcknowledgementPermitted,
            TcpOptionElement::Timestamp(123_456, 0),
            TcpOptionElement::Noop,
            TcpOptionElement::WindowScale(7),
        ]
    } else {
        &[
            TcpOptionElement::Noop,
            TcpOptionElement::Noop,
            TcpOptionElement::Timestamp(123_456, 654_321),
        ]
    };
    let b = b.options(opts).unwrap();
    let mut v = Vec::new();
    b.write(&mut v, payload).unwrap();
    v
}

/// A keep-alive exchange in the middle of a connection: GET, response, ACK.
/// `n` shifts the sequence numbers so repeated exchanges stay in order.
fn exchange(n: u32) -> Vec<Vec<u8>> {
    let resp = response();
    let (cs, ss) = (1000 + n * REQ.len() as u32, 5000 + n * resp.len() as u32);
    vec![
        frame(C, S, cs, Some(ss), TcpFlags::PSH | TcpFlags::ACK, REQ),
        frame(
            S,
            C,
            ss,
            Some(cs + REQ.len() as u32),
            TcpFlags::PSH | TcpFlags::ACK,
            &resp,
        ),
        frame(
            C,
            S,
            cs + REQ.len() as u32,
            Some(ss + resp.len() as u32),
            TcpFlags::ACK,
            &[],
        ),
    ]
}

fn handshake() -> Vec<Vec<u8>> {
    vec![
        frame(C, S, 999, None, TcpFlags::SYN, &[]),
        frame(S, C, 4999, Some(1000), TcpFlags::SYN | TcpFlags::ACK, &[]),
        frame(C, S, 1000, Some(5000), TcpFlags::ACK, &[]),
    ]
}

fn pkt(data: &[u8], i: u64) -> Packet<'_> {
    Packet {
        ts: Timestamp::new(1_704_067_200 + (i / 1000) as i64, (i % 1000) as u32 * 1000),
        wire_len: data.len() as u32,
        data,
    }
}

fn bench_decode(c: &mut Criterion) {
    let syn = &handshake()[0];
    let ex = exchange(0);
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(1));
    for (name, f) in [
        ("syn", syn),
        ("get", &ex[0]),
        ("response", &ex[1]),
        ("ack", &ex[2]),
    ] {
        g.bench_function(name, |b| {
            let p = pkt(f, 0);
            b.iter(|| {
                let d = decode::decode(LinkType::Ethernet, black_box(&p)).unwrap();
                black_box(d.segment(p.ts))
            })
        });
    }
    g.finish();
}

fn bench_lines(c: &mut Criterion) {
    let hs = handshake();
    let ex = exchange(0);
    let mut g = c.benchmark_group("line");
    g.throughput(Throughput::Elements(1));
    for (name, f) in [
        ("syn", &hs[0]),
        ("get", &ex[0]),
        ("response", &ex[1]),
        ("ack", &ex[2]),
    ] {
        g.bench_function(name, |b| {
            let mut r = LineRenderer::new();
            // The conversation is known: relative sequence numbers, as in a capture.
            for h in &hs {
                let p = pkt(h, 0);
                r.render(p.ts, &decode::decode(LinkType::Ethernet, &p).unwrap());
            }
            let p = pkt(f, 0);
            let d = decode::decode(LinkType::Ethernet, &p).unwrap();
            b.iter(|| black_box(r.render(black_box(p.ts), black_box(&d)).len()))
        });
    }
    g.finish();
}

fn seg(
    src: SocketAddr,
    dst: SocketAddr,
    flags: u8,
    seq: u32,
    ack: u32,
    len: u32,
    i: u64,
) -> Segment<'static> {
    Segment {
        ts: Timestamp::new(
            1_704_067_200 + (i / 1_000_000) as i64,
            (i % 1_000_000) as u32 * 1000,
        ),
        src,
        dst,
        seq,
        ack,
        flags: TcpFlags(flags),
        window: 502,
        payload: &[],
        payload_len: len,
    }
}

fn bench_track(c: &mut Criterion) {
    let s: SocketAddr = "10.0.0.1:8080".parse().unwrap();
    let mut g = c.benchmark_group("track");
    // Steady keep-alive traffic on 50 open connections: one data segment each.
    g.throughput(Throughput::Elements(1));
    g.bench_function("keepalive_segment", |b| {
        let mut tr = Tracker::new(TrackConfig::default());
        let clients: Vec<SocketAddr> = (0..50)
            .map(|i| SocketAddr::from(([10, 1, 0, 2], 40000 + i)))
            .collect();
        for (i, &cl) in clients.iter().enumerate() {
            let i = i as u64;
            tr.on_segment(&seg(cl, s, TcpFlags::SYN, 999, 0, 0, i));
            tr.on_segment(&seg(s, cl, TcpFlags::SYN | TcpFlags::ACK, 4999, 1000, 0, i));
            tr.on_segment(&seg(cl, s, TcpFlags::ACK, 1000, 5000, 0, i));
        }
        let mut n = 0u64;
        b.iter(|| {
            n += 1;
            let cl = clients[(n % 50) as usize];
            let seq = 1000u32.wrapping_add((n / 50) as u32 * 100);
            black_box(tr.on_segment(&seg(
                cl,
                s,
                TcpFlags::PSH | TcpFlags::ACK,
                seq,
                5000,
                100,
                100 + n,
            )))
        })
    });
    // Churn: a whole short connection (SYN, SYN-ACK, ACK, FIN, FIN, ACK) on a fresh 4-tuple, drained.
    g.throughput(Throughput::Elements(6));
    g.bench_function("churn_connection", |b| {
        let mut tr = Tracker::new(TrackConfig::default());
        let mut n = 0u64;
        b.iter(|| {
            n += 1;
            let cl = SocketAddr::from(([10, 1, (n >> 16) as u8, 2], n as u16));
            let t = n * 10;
            tr.on_segment(&seg(cl, s, TcpFlags::SYN, 999, 0, 0, t));
            tr.on_segment(&seg(
                s,
                cl,
                TcpFlags::SYN | TcpFlags::ACK,
                4999,
                1000,
                0,
                t + 1,
            ));
            tr.on_segment(&seg(cl, s, TcpFlags::ACK, 1000, 5000, 0, t + 2));
            tr.on_segment(&seg(
                cl,
                s,
                TcpFlags::FIN | TcpFlags::ACK,
                1000,
                5000,
                0,
                t + 3,
            ));
            tr.on_segment(&seg(
                s,
                cl,
                TcpFlags::FIN | TcpFlags::ACK,
                5000,
                1001,
                0,
                t + 4,
            ));
            tr.on_segment(&seg(cl, s, TcpFlags::ACK, 1001, 5001, 0, t + 5));
            black_box(tr.drain_ended().len())
        })
    });
    g.finish();
}

fn bench_http(c: &mut Criterion) {
    let cfg = HttpConfig::default();
    let resp = response();
    let mut g = c.benchmark_group("http");
    g.throughput(Throughput::Elements(1));
    // One in-order GET + response pair on an established connection.
    g.bench_function("exchange", |b| {
        let mut h = HttpConn::new();
        let ts = Timestamp::new(1_704_067_200, 0);
        h.on_segment(&cfg, 0, 999, true, false, false, &[], 0, ts, None);
        h.on_segment(&cfg, 1, 4999, true, false, false, &[], 0, ts, None);
        let (mut cs, mut ss) = (1000u32, 5000u32);
        b.iter(|| {
            h.on_segment(
                &cfg,
                0,
                cs,
                false,
                false,
                false,
                REQ,
                REQ.len() as u32,
                ts,
                None,
            );
            h.on_segment(
                &cfg,
                1,
                ss,
                false,
                false,
                false,
                &resp,
                resp.len() as u32,
                ts,
                None,
            );
            cs = cs.wrapping_add(REQ.len() as u32);
            ss = ss.wrapping_add(resp.len() as u32);
            black_box(h.request_count())
        })
    });
    // A new connection: SYNs, one request split in two segments, response, finish.
    g.bench_function("connection", |b| {
        let ts = Timestamp::new(1_704_067_200, 0);
        b.iter_batched(
            HttpConn::new,
            |mut h| {
                h.on_segment(&cfg, 0, 999, true, false, false, &[], 0, ts, None);
                h.on_segment(&cfg, 1, 4999, true, false, false, &[], 0, ts, None);
                h.on_segment(&cfg, 0, 1000, false, false, false, &REQ[..20], 20, ts, None);
                h.on_segment(
                    &cfg,
                    0,
                    1020,
                    false,
                    false,
                    false,
                    &REQ[20..],
                    REQ.len() as u32 - 20,
                    ts,
                    None,
                );
                h.on_segment(
                    &cfg,
                    1,
                    5000,
                    false,
                    false,
                    false,
                    &resp,
                    resp.len() as u32,
                    ts,
                    None,
                );
                h.finish(&cfg);
                black_box(h.request_count())
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn args(quiet: bool) -> AnalysisArgs {
    AnalysisArgs {
        quiet,
        no_summary: !quiet,
        format: Format::Table,
        ..Default::default()
    }
}

fn bench_analyzer(c: &mut Criterion) {
    let hs = handshake();
    let exchanges: Vec<Vec<Vec<u8>>> = (0..64).map(exchange).collect();
    let mut g = c.benchmark_group("analyzer");
    g.throughput(Throughput::Elements(3));
    for (name, quiet) in [("exchange_summary", true), ("exchange_lines", false)] {
        g.bench_function(name, |b| {
            let a = args(quiet);
            let mut an = Analyzer::new(&a, "bench", "EN10MB");
            let mut sink = Vec::with_capacity(1 << 20);
            for (i, f) in hs.iter().enumerate() {
                an.on_packet(LinkType::Ethernet, &pkt(f, i as u64), &mut sink)
                    .unwrap();
            }
            let mut n = 0u64;
            // Replays 64 exchanges' frames; past them sequence numbers repeat
            // (retransmissions to the tracker), which costs the same per packet.
            b.iter(|| {
                n += 1;
                for f in &exchanges[(n % 64) as usize] {
                    an.on_packet(LinkType::Ethernet, &pkt(f, 10 + n), &mut sink)
                        .unwrap();
                }
                sink.clear();
            })
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    bench_decode,
    bench_lines,
    bench_track,
    bench_http,
    bench_analyzer
);
criterion_main!(benches);
