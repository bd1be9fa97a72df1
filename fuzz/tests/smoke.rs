//! Stable smoke run of every fuzz target (CI: seconds): each target over the
//! committed regression inputs, the local corpus when one was seeded, and
//! `FUZZ_SMOKE_N` (default 20,000) seeded random inputs and mutations.

use connscope_fuzz::Rng;
use std::path::Path;

fn files(dir: &Path) -> Vec<Vec<u8>> {
    let Ok(d) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<_> = d.flatten().map(|e| e.path()).collect();
    v.sort();
    v.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

fn smoke(name: &str, target: fn(&[u8]), hand: &[&[u8]]) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut seeds: Vec<Vec<u8>> = hand.iter().map(|s| s.to_vec()).collect();
    seeds.extend(files(&root.join("regressions").join(name)));
    seeds.extend(files(&root.join("corpus").join(name)));
    for s in &seeds {
        target(s);
    }
    let n: u64 = std::env::var("FUZZ_SMOKE_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let mut rng = Rng(0x00c0_ffee ^ name.len() as u64);
    for i in 0..n {
        let seed = &seeds[(i as usize) % seeds.len()];
        let len = (rng.next_u64() % 600) as usize;
        target(&rng.input(seed, len));
    }
}

#[test]
fn decode_render() {
    // Ethernet SYN (IPv4, MSS/SACK/TS/WS options), then a Raw IPv6 packet.
    let syn: &[u8] = &[
        0, 74, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0x45, 0, 0, 60, 0, 0, 0x40, 0,
        64, 6, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1, 0xd4, 0x31, 0x1f, 0x90, 0, 0, 0, 1, 0, 0, 0, 0,
        0xa0, 2, 0xff, 0xff, 0, 0, 0, 0, 2, 4, 0xff, 0xd7, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1,
        3, 3, 7,
    ];
    smoke("decode_render", connscope_fuzz::decode_render, &[syn]);
}

#[test]
fn track() {
    // SYN, SYN-ACK, ACK, FIN, FIN, ACK on one tuple.
    let mut t = vec![2u8, 255];
    for (dir, flags, seq, ack) in [
        (0u8, 0x02u8, 100u32, 0u32),
        (0x40, 0x12, 500, 101),
        (0, 0x10, 101, 501),
        (0, 0x11, 101, 501),
        (0x40, 0x11, 501, 102),
        (0, 0x10, 102, 502),
    ] {
        t.extend_from_slice(&[dir, flags]);
        t.extend_from_slice(&seq.to_le_bytes());
        t.extend_from_slice(&ack.to_le_bytes());
        t.extend_from_slice(&[10, 0, 0, 2]);
    }
    smoke("track", connscope_fuzz::track, &[&t]);
}

#[test]
fn http_split() {
    let req =
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\nPOST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello";
    let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 204 No Content\r\n\r\n";
    let mut v = vec![1u8, 3, 4, 0, 30, 0, 70, 0];
    v.extend_from_slice(&(req.len() as u16).to_le_bytes());
    v.extend_from_slice(req);
    v.extend_from_slice(resp);
    smoke("http_split", connscope_fuzz::http_split, &[&v]);
}
