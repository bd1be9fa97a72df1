//! benchgen: deterministic, seeded pcap generator for connscope's benchmarks.
//!
//! Writes classic pcap (EN10MB, microsecond timestamps) of synthetic but
//! well-formed TCP/HTTP traffic, sized by `--size MB` or `--packets N`:
//!
//! - `keepalive`: HTTP/1.1 keep-alive, `--conns` concurrent connections each
//!   carrying many GET requests; Content-Length responses split into
//!   MSS-sized segments, delayed ACKs, full handshakes and FIN closes.
//! - `churn`: one request per connection, the client closes first (so the
//!   client holds TIME-WAIT); `--conns` connections in flight at once.
//! - `synflood`: one SYN from each of many distinct 4-tuples.
//!
//! The same arguments always give the same bytes. The ground truth
//! (connections, requests) is printed on stderr.

use clap::{Parser, ValueEnum};
use etherparse::{PacketBuilder, TcpOptionElement};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Scenario {
    Keepalive,
    Churn,
    Synflood,
}

/// Write a deterministic benchmark capture (classic pcap, EN10MB).
#[derive(Parser, Debug)]
#[command(name = "benchgen")]
struct Args {
    /// Traffic to generate
    #[arg(long, value_enum)]
    scenario: Scenario,
    /// Stop once the file holds this many megabytes (10^6 bytes)
    #[arg(long, value_name = "MB", conflicts_with = "packets")]
    size: Option<u64>,
    /// Stop once the file holds this many packets
    #[arg(long, value_name = "N")]
    packets: Option<u64>,
    /// PRNG seed
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Concurrent connections (keepalive, churn)
    #[arg(long, default_value_t = 50)]
    conns: usize,
    /// Requests per keep-alive connection: drawn uniformly from MIN..=MAX
    #[arg(long, value_name = "MIN-MAX", default_value = "1000-5000")]
    reqs: String,
    /// Server port (80 and 8080 get tcpdump's `HTTP:` decoding on the lines)
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Output file
    #[arg(short, long)]
    output: PathBuf,
}

/// splitmix64: small, fast, good enough, and stable across versions.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

const MSS: usize = 1448; // 1500 MTU, TCP timestamps on
const SNAPLEN: u32 = 262_144;

/// A classic pcap writer that counts what it wrote.
struct Pcap {
    w: BufWriter<File>,
    buf: Vec<u8>,
    bytes: u64,
    packets: u64,
}

impl Pcap {
    fn create(path: &PathBuf) -> std::io::Result<Pcap> {
        let mut w = BufWriter::with_capacity(1 << 20, File::create(path)?);
        w.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
        w.write_all(&2u16.to_le_bytes())?;
        w.write_all(&4u16.to_le_bytes())?;
        w.write_all(&0i32.to_le_bytes())?; // thiszone
        w.write_all(&0u32.to_le_bytes())?; // sigfigs
        w.write_all(&SNAPLEN.to_le_bytes())?;
        w.write_all(&1u32.to_le_bytes())?; // LINKTYPE_ETHERNET
        Ok(Pcap {
            w,
            buf: Vec::with_capacity(2048),
            bytes: 24,
            packets: 0,
        })
    }

    fn record(&mut self, t_us: u64) -> std::io::Result<()> {
        let len = self.buf.len() as u32;
        self.w
            .write_all(&((t_us / 1_000_000) as u32).to_le_bytes())?;
        self.w
            .write_all(&((t_us % 1_000_000) as u32).to_le_bytes())?;
        self.w.write_all(&len.to_le_bytes())?;
        self.w.write_all(&len.to_le_bytes())?;
        self.w.write_all(&self.buf)?;
        self.bytes += 16 + u64::from(len);
        self.packets += 1;
        Ok(())
    }
}

/// One side of a connection.
#[derive(Clone, Copy)]
struct Ep {
    mac: [u8; 6],
    ip: [u8; 4],
    port: u16,
    /// Next sequence number to send.
    seq: u32,
    /// Offset of this host's TCP timestamp clock (ms).
    ts_off: u32,
}

#[derive(Clone, Copy, Default)]
struct Flags {
    syn: bool,
    fin: bool,
    psh: bool,
    ack: bool,
}

const ACK: Flags = Flags {
    syn: false,
    fin: false,
    psh: false,
    ack: true,
};
const PSH_ACK: Flags = Flags { psh: true, ..ACK };
const FIN_ACK: Flags = Flags { fin: true, ..ACK };

/// The capture being written, with its clock (µs, never goes back).
struct Gen {
    pcap: Pcap,
    rng: Rng,
    now: u64,
    conns_opened: u64,
    requests: u64,
}

impl Gen {
    /// Emits one segment from `a` to `b`, advancing `a.seq`.
    fn seg(
        &mut self,
        a: &mut Ep,
        b: &Ep,
        f: Flags,
        win: u16,
        payload: &[u8],
    ) -> std::io::Result<()> {
        self.now += self.rng.range(2, 40);
        let ms = (self.now / 1000) as u32;
        let tsval = ms.wrapping_add(a.ts_off);
        let tsecr = ms.wrapping_add(b.ts_off).wrapping_sub(1);
        let mut tcp = PacketBuilder::ethernet2(a.mac, b.mac)
            .ipv4(a.ip, b.ip, 64)
            .tcp(a.port, b.port, a.seq, win);
        if f.syn {
            tcp = tcp.syn();
        }
        if f.fin {
            tcp = tcp.fin();
        }
        if f.psh {
            tcp = tcp.psh();
        }
        if f.ack {
            tcp = tcp.ack(b.seq);
        }
        let opts: &[TcpOptionElement] = if f.syn {
            &[
                TcpOptionElement::MaximumSegmentSize(1460),
                TcpOptionElement::SelectiveAcknowledgementPermitted,
                TcpOptionElement::Timestamp(tsval, if f.ack { tsecr } else { 0 }),
                TcpOptionElement::Noop,
                TcpOptionElement::WindowScale(7),
            ]
        } else {
            &[
                TcpOptionElement::Noop,
                TcpOptionElement::Noop,
                TcpOptionElement::Timestamp(tsval, tsecr),
            ]
        };
        let tcp = tcp.options(opts).expect("options fit");
        self.pcap.buf.clear();
        tcp.write(&mut self.pcap.buf, payload)
            .expect("write to Vec");
        a.seq = a
            .seq
            .wrapping_add(payload.len() as u32 + u32::from(f.syn) + u32::from(f.fin));
        self.pcap.record(self.now)
    }

    fn handshake(&mut self, c: &mut Ep, s: &mut Ep) -> std::io::Result<()> {
        let syn = Flags {
            syn: true,
            ..Flags::default()
        };
        self.seg(c, s, syn, 64240, &[])?;
        self.seg(s, c, Flags { ack: true, ..syn }, 65160, &[])?;
        self.seg(c, s, ACK, 502, &[])?;
        self.conns_opened += 1;
        Ok(())
    }

    /// One GET and its Content-Length response in MSS-sized segments; the
    /// client ACKs every second segment (delayed ACK) and the last one.
    fn exchange(
        &mut self,
        c: &mut Ep,
        s: &mut Ep,
        path_no: u64,
        body: usize,
    ) -> std::io::Result<()> {
        let req = format!(
            "GET /item/{path_no} HTTP/1.1\r\nHost: bench.example:{}\r\nUser-Agent: benchgen/1\r\nAccept: */*\r\n\r\n",
            s.port
        );
        self.seg(c, s, PSH_ACK, 502, req.as_bytes())?;
        self.requests += 1;
        let mut resp = format!(
            "HTTP/1.1 200 OK\r\nServer: benchgen\r\nContent-Type: text/html\r\nContent-Length: {body}\r\nConnection: keep-alive\r\n\r\n"
        )
        .into_bytes();
        let fill = b"<html><body>connscope benchmark payload 0123456789 abcdefghijklmnopqrstuvwxyz</body></html>\n";
        let head = resp.len();
        resp.reserve(body);
        for i in 0..body {
            resp.push(fill[i % fill.len()]);
        }
        debug_assert_eq!(resp.len(), head + body);
        let n = resp.len().div_ceil(MSS);
        for (i, chunk) in resp.chunks(MSS).enumerate() {
            let last = i + 1 == n;
            self.seg(s, c, if last { PSH_ACK } else { ACK }, 509, chunk)?;
            if i % 2 == 1 || last {
                self.seg(c, s, ACK, 502, &[])?;
            }
        }
        Ok(())
    }

    /// The client closes first: FIN, FIN-ACK, ACK (client ends in TIME-WAIT).
    fn close(&mut self, c: &mut Ep, s: &mut Ep) -> std::io::Result<()> {
        self.seg(c, s, FIN_ACK, 502, &[])?;
        self.seg(s, c, FIN_ACK, 509, &[])?;
        self.seg(c, s, ACK, 502, &[])
    }

    /// A response body size: mostly nginx's 612-byte welcome page, some
    /// medium pages, a few larger objects.
    fn body_size(&mut self) -> usize {
        match self.rng.range(0, 99) {
            0..=79 => 612,
            80..=94 => self.rng.range(1_000, 8_000) as usize,
            _ => self.rng.range(8_000, 32_000) as usize,
        }
    }
}

const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const SERVER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
const SERVER_IP: [u8; 4] = [10, 0, 0, 1];

/// The i-th client 4-tuple: ephemeral ports 32768..60999 per client address,
/// so a port comes back only after 28232 connections from one address.
fn client_ep(g: &mut Gen, i: u64) -> Ep {
    let per_ip = 28_232;
    let host = i / per_ip;
    Ep {
        mac: CLIENT_MAC,
        ip: [10, 1 + (host / 250 % 250) as u8, (host % 250) as u8, 2],
        port: 32_768 + (i % per_ip) as u16,
        seq: g.rng.next() as u32,
        ts_off: g.rng.next() as u32,
    }
}

fn server_ep(g: &mut Gen, port: u16) -> Ep {
    Ep {
        mac: SERVER_MAC,
        ip: SERVER_IP,
        port,
        seq: g.rng.next() as u32,
        ts_off: g.rng.next() as u32,
    }
}

struct Conn {
    c: Ep,
    s: Ep,
    /// Requests still to send (keepalive), or the phase (churn).
    left: u64,
    opened: bool,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("benchgen: error: {e}");
            std::process::ExitCode::from(1)
        }
    }
}

fn parse_reqs(s: &str) -> Result<(u64, u64), String> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let lo: u64 = a.trim().parse().map_err(|_| format!("bad --reqs '{s}'"))?;
    let hi: u64 = b.trim().parse().map_err(|_| format!("bad --reqs '{s}'"))?;
    if lo == 0 || hi < lo {
        return Err(format!("bad --reqs '{s}': need 1 <= MIN <= MAX"));
    }
    Ok((lo, hi))
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let (rmin, rmax) = parse_reqs(&args.reqs)?;
    let max_bytes = args.size.map(|mb| mb * 1_000_000);
    let max_packets = args.packets;
    if max_bytes.is_none() && max_packets.is_none() {
        return Err("give --size MB or --packets N".into());
    }
    let full = |g: &Gen| {
        max_bytes.is_some_and(|m| g.pcap.bytes >= m)
            || max_packets.is_some_and(|m| g.pcap.packets >= m)
    };
    let mut g = Gen {
        pcap: Pcap::create(&args.output)?,
        rng: Rng(args.seed),
        // 2024-01-01T00:00:00Z
        now: 1_704_067_200_000_000,
        conns_opened: 0,
        requests: 0,
    };
    let conns = args.conns.max(1);
    match args.scenario {
        Scenario::Synflood => {
            let mut i = 0u64;
            let s = server_ep(&mut g, args.port);
            while !full(&g) {
                let mut c = client_ep(&mut g, i);
                let syn = Flags {
                    syn: true,
                    ..Flags::default()
                };
                g.seg(&mut c, &s, syn, 64240, &[])?;
                g.conns_opened += 1;
                i += 1;
            }
        }
        Scenario::Keepalive | Scenario::Churn => {
            let keepalive = args.scenario == Scenario::Keepalive;
            let mut next_tuple = 0u64;
            let mut table: Vec<Conn> = Vec::with_capacity(conns);
            // (time the connection wants to act, index)
            let mut heap = BinaryHeap::new();
            for i in 0..conns {
                let c = client_ep(&mut g, next_tuple);
                next_tuple += 1;
                let s = server_ep(&mut g, args.port);
                table.push(Conn {
                    c,
                    s,
                    left: 0,
                    opened: false,
                });
                heap.push(Reverse((g.now + g.rng.range(0, 2_000), i)));
            }
            let mut path_no = 0u64;
            while !full(&g) {
                let Some(Reverse((at, i))) = heap.pop() else {
                    break;
                };
                g.now = g.now.max(at);
                let conn = &mut table[i];
                let (mut c, mut s) = (conn.c, conn.s);
                if !conn.opened {
                    g.handshake(&mut c, &mut s)?;
                    conn.opened = true;
                    conn.left = if keepalive {
                        g.rng.range(rmin, rmax)
                    } else {
                        1
                    };
                } else if conn.left > 0 {
                    let body = if keepalive { g.body_size() } else { 612 };
                    path_no += 1;
                    g.exchange(&mut c, &mut s, path_no, body)?;
                    conn.left -= 1;
                } else {
                    g.close(&mut c, &mut s)?;
                    // A fresh connection from the next 4-tuple takes the slot.
                    c = client_ep(&mut g, next_tuple);
                    next_tuple += 1;
                    s = server_ep(&mut g, args.port);
                    conn.opened = false;
                }
                let conn = &mut table[i];
                conn.c = c;
                conn.s = s;
                // Think time / RTT before this connection's next step.
                heap.push(Reverse((g.now + g.rng.range(20, 400), i)));
            }
            // The load ends: every open connection closes.
            for conn in &mut table {
                if conn.opened {
                    let (mut c, mut s) = (conn.c, conn.s);
                    g.close(&mut c, &mut s)?;
                }
            }
        }
    }
    g.pcap.w.flush()?;
    eprintln!(
        "benchgen: {}: {} packets, {} bytes, {} connections, {} HTTP requests",
        args.output.display(),
        g.pcap.packets,
        g.pcap.bytes,
        g.conns_opened,
        g.requests
    );
    Ok(())
}
