//! Builds the seed corpora from the project's fixtures (real SYN, FIN, RST,
//! HTTP and IPv6 frames) in each target's input format.
//!
//! Usage: `seed FIXTURES_DIR CORPUS_DIR` (scripts/fuzz.sh runs it) — writes
//! CORPUS_DIR/{decode_render,track,http_split}/.

use connscope::capture::FileSource;
use connscope::decode;
use connscope_fuzz::LINKS;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [fixtures, corpus] = args.as_slice() else {
        eprintln!("usage: seed FIXTURES_DIR CORPUS_DIR");
        std::process::exit(2);
    };
    let corpus = Path::new(corpus);
    for t in ["decode_render", "track", "http_split"] {
        std::fs::create_dir_all(corpus.join(t)).expect("create corpus dir");
    }
    let mut files: Vec<_> = std::fs::read_dir(fixtures)
        .expect("read fixtures dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("pcap" | "pcapng")
            )
        })
        .collect();
    files.sort();
    let mut n = [0usize; 3];
    for f in &files {
        let name = f
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("x")
            .to_string();
        let Ok(mut src) = FileSource::open(f, None) else {
            continue;
        };
        let link = src.link;
        let Some(sel) = LINKS.iter().position(|l| *l == link) else {
            continue;
        };
        let mut pkts: Vec<(u32, Vec<u8>, connscope::capture::Timestamp)> = Vec::new();
        while let Ok(Some(())) =
            src.next_with(|p, _, _| pkts.push((p.wire_len, p.data.to_vec(), p.ts)))
        {}

        // decode_render: the first 24 packets in one input, plus each of the
        // first 8 alone (short inputs mutate best).
        let enc = |ps: &[(u32, Vec<u8>, connscope::capture::Timestamp)]| {
            let mut v = vec![sel as u8];
            for (wire, d, _) in ps {
                let d = &d[..d.len().min(u16::MAX as usize)];
                v.extend_from_slice(&(d.len() as u16).to_le_bytes());
                let extra = wire.saturating_sub(d.len() as u32);
                v.push(if extra == 0 {
                    0
                } else {
                    (extra / 37).clamp(1, 127) as u8
                });
                v.extend_from_slice(d);
            }
            v
        };
        let all = &pkts[..pkts.len().min(24)];
        write(
            corpus,
            "decode_render",
            &format!("{name}-all"),
            &enc(all),
            &mut n[0],
        );
        for (i, p) in pkts.iter().take(8).enumerate() {
            let one = enc(std::slice::from_ref(p));
            write(
                corpus,
                "decode_render",
                &format!("{name}-{i}"),
                &one,
                &mut n[0],
            );
        }

        // track and http_split from the decoded segments.
        let mut tuples: HashMap<(SocketAddr, SocketAddr), u8> = HashMap::new();
        let mut track = vec![3u8, 255];
        let mut streams: HashMap<(SocketAddr, SocketAddr), Vec<u8>> = HashMap::new();
        let mut order: Vec<(SocketAddr, SocketAddr)> = Vec::new();
        let mut last_ms: Option<i64> = None;
        for (wire, data, ts) in &pkts {
            let pkt = connscope::capture::Packet {
                ts: *ts,
                wire_len: *wire,
                data,
            };
            let Ok(d) = decode::decode(link, &pkt) else {
                continue;
            };
            let Some(seg) = d.segment(*ts) else { continue };
            let canon = if seg.src < seg.dst {
                (seg.src, seg.dst)
            } else {
                (seg.dst, seg.src)
            };
            let next = tuples.len() as u8;
            let idx = *tuples.entry(canon).or_insert(next);
            // Tuple byte: host/port bits from the connection's index; direction bit.
            let mut tup = (idx & 3) | ((idx >> 2) & 3) << 2;
            if (seg.src, seg.dst) != canon {
                tup |= 0x40;
            }
            if matches!(seg.src, SocketAddr::V6(_)) {
                tup |= 0x80;
            }
            let ms = ts.secs * 1000 + i64::from(ts.nanos / 1_000_000);
            let dt = last_ms.map_or(0, |l| (ms - l).clamp(0, 0x7fff)) as u16;
            last_ms = Some(ms);
            track.push(tup);
            track.push(seg.flags.0);
            track.extend_from_slice(&seg.seq.to_le_bytes());
            track.extend_from_slice(&seg.ack.to_le_bytes());
            track.extend_from_slice(&dt.to_le_bytes());
            track.push((seg.payload_len / 8).min(255) as u8);
            track.push((seg.window >> 8) as u8);
            if !seg.payload.is_empty() {
                let k = (seg.src, seg.dst);
                if !streams.contains_key(&k) {
                    order.push(k);
                }
                streams.entry(k).or_default().extend_from_slice(seg.payload);
            }
        }
        write(corpus, "track", &name, &track, &mut n[1]);

        // http_split: the first two directions that carried payload
        // (request stream first), with a few cut points.
        let mut dirs: Vec<&Vec<u8>> = order.iter().filter_map(|k| streams.get(k)).collect();
        dirs.truncate(2);
        if let Some(req) = dirs.first() {
            let req = &req[..req.len().min(3000)];
            let resp = dirs.get(1).map_or(&[][..], |r| &r[..r.len().min(3000)]);
            for (mode, cuts) in [
                (0u8, vec![]),
                (1, vec![5u16, 17, 40, 200]),
                (3, vec![1, 2, 3, 90]),
            ] {
                let mut v = vec![mode, cuts.len() as u8];
                for c in &cuts {
                    v.extend_from_slice(&c.to_le_bytes());
                }
                v.extend_from_slice(&(req.len() as u16).to_le_bytes());
                v.extend_from_slice(req);
                v.extend_from_slice(resp);
                write(
                    corpus,
                    "http_split",
                    &format!("{name}-{mode}"),
                    &v,
                    &mut n[2],
                );
            }
        }
    }
    println!(
        "seeded {} decode_render, {} track, {} http_split inputs from {} fixtures",
        n[0],
        n[1],
        n[2],
        files.len()
    );
}

fn write(corpus: &Path, target: &str, name: &str, bytes: &[u8], n: &mut usize) {
    std::fs::write(corpus.join(target).join(name), bytes).expect("write seed");
    *n += 1;
}
