//! Issue 8: no heap allocation per packet on the hot path. A counting global
//! allocator wraps the system one while a long keep-alive conversation goes
//! through the analyzer (summary mode, as `read -q`): packets without payload
//! must allocate nothing, in-order request and response segments nothing
//! beyond the amortised growth of the per-connection request list.

mod common;

use common::tcp_frame;
use connscope::analysis::Analyzer;
use connscope::capture::{LinkType, Packet, Timestamp};
use connscope::cli::AnalysisArgs;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: Counting = Counting;

const C: [u8; 4] = [127, 0, 0, 1];
const S: [u8; 4] = [127, 0, 0, 2];
const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const PSH_ACK: u8 = 0x18;

/// (frame, has payload) for a handshake and `n` GET/response/ACK exchanges.
fn conversation(n: usize) -> Vec<(Vec<u8>, bool)> {
    let (mut cs, mut ss) = (1000u32, 9000u32);
    let mut v = vec![
        (tcp_frame(C, S, 40000, 8080, cs, 0, SYN, &[], &[]), false),
        (
            tcp_frame(S, C, 8080, 40000, ss, cs + 1, SYN | ACK, &[], &[]),
            false,
        ),
    ];
    cs += 1;
    ss += 1;
    v.push((tcp_frame(C, S, 40000, 8080, cs, ss, ACK, &[], &[]), false));
    let body = vec![b'x'; 600];
    for i in 0..n {
        let req = format!("GET /item/{i} HTTP/1.1\r\nHost: a\r\n\r\n");
        let mut resp = b"HTTP/1.1 200 OK\r\nContent-Length: 600\r\n\r\n".to_vec();
        resp.extend_from_slice(&body);
        v.push((
            tcp_frame(C, S, 40000, 8080, cs, ss, PSH_ACK, &[], req.as_bytes()),
            true,
        ));
        cs += req.len() as u32;
        v.push((
            tcp_frame(S, C, 8080, 40000, ss, cs, PSH_ACK, &[], &resp),
            true,
        ));
        ss += resp.len() as u32;
        v.push((tcp_frame(C, S, 40000, 8080, cs, ss, ACK, &[], &[]), false));
    }
    v
}

#[test]
fn steady_state_packets_do_not_allocate() {
    let frames = conversation(20_000);
    let args = AnalysisArgs::default();
    let mut an = Analyzer::new(&args, "alloc-test", "EN10MB");
    let mut out = std::io::sink();
    let (mut empty, mut payload) = ([0u64; 2], [0u64; 2]);
    for (i, (data, has_payload)) in frames.iter().enumerate() {
        let pkt = Packet {
            ts: Timestamp::new(
                1_700_000_000 + i as i64 / 1000,
                (i % 1000) as u32 * 1_000_000,
            ),
            wire_len: data.len() as u32,
            data,
        };
        let before = ALLOCS.load(Relaxed);
        an.on_packet(LinkType::Ethernet, &pkt, &mut out).unwrap();
        let n = ALLOCS.load(Relaxed) - before;
        // Past the first exchanges (connection and HTTP state are created once).
        if i >= 30 {
            let c = if *has_payload {
                &mut payload
            } else {
                &mut empty
            };
            c[0] += 1;
            c[1] += n;
        }
    }
    eprintln!(
        "allocations: {} in {} packets without payload, {} in {} in-order payload segments",
        empty[1], empty[0], payload[1], payload[0]
    );
    assert!(empty[0] > 10_000 && payload[0] > 30_000);
    assert_eq!(empty[1], 0, "a packet without payload allocated");
    // The kept request list (capped at 10,000) grows by doubling: a few
    // reallocations in 40,000 segments, not one per segment.
    assert!(
        payload[1] <= 32,
        "{} allocations in {} payload segments",
        payload[1],
        payload[0]
    );
}
