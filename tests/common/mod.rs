//! Shared helpers for the binary-level tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_connscope"))
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixtures() -> PathBuf {
    root().join("fixtures")
}

/// `../shared/corpus` next to the project, when this machine has it.
pub fn corpus() -> Option<PathBuf> {
    let p = root().join("../shared/corpus");
    p.join("ORACLE.tsv").exists().then_some(p)
}

/// Runs connscope with TZ pinned to UTC.
pub fn connscope(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .env("TZ", "UTC")
        .env("NO_COLOR", "1")
        .output()
        .expect("run connscope")
}

pub fn tcpdump_path() -> Option<PathBuf> {
    ["/usr/bin/tcpdump", "/usr/sbin/tcpdump"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// Real tcpdump's `-n -r FILE [filter]` lines (stdout), TZ=UTC.
pub fn tcpdump_lines(file: &Path, filter: Option<&str>) -> Option<String> {
    let td = tcpdump_path()?;
    let mut c = Command::new(td);
    c.arg("-n").arg("-r").arg(file).env("TZ", "UTC");
    if let Some(f) = filter {
        c.arg(f);
    }
    let o = c.output().ok()?;
    Some(String::from_utf8_lossy(&o.stdout).into_owned())
}

/// Writes a classic pcap (microsecond, little endian).
pub fn write_pcap(path: &Path, linktype: u32, snaplen: u32, records: &[(u32, u32, Vec<u8>)]) {
    let mut b = Vec::new();
    b.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&4u16.to_le_bytes());
    b.extend_from_slice(&0i32.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&snaplen.to_le_bytes());
    b.extend_from_slice(&linktype.to_le_bytes());
    for (i, (secs, orig, data)) in records.iter().enumerate() {
        b.extend_from_slice(&secs.to_le_bytes());
        b.extend_from_slice(&(i as u32).to_le_bytes());
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(&orig.to_le_bytes());
        b.extend_from_slice(data);
    }
    std::fs::write(path, b).unwrap();
}

/// Reads the records of a classic pcap: (linktype, [(orig_len, data)]).
pub fn read_pcap(path: &Path) -> (u32, Vec<(u32, Vec<u8>)>) {
    let b = std::fs::read(path).unwrap();
    let le = b[0] == 0xd4 || b[0] == 0x4d;
    let u = |i: usize| {
        let a: [u8; 4] = b[i..i + 4].try_into().unwrap();
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    let lt = u(20);
    let mut off = 24;
    let mut out = Vec::new();
    while off + 16 <= b.len() {
        let cap = u(off + 8) as usize;
        let orig = u(off + 12);
        out.push((orig, b[off + 16..off + 16 + cap].to_vec()));
        off += 16 + cap;
    }
    (lt, out)
}

/// Line-by-line comparison; on mismatch prints both sides between rulers.
pub fn assert_same_lines(name: &str, expected: &str, actual: &str) {
    if expected != actual {
        let mut shown = 0;
        for (i, (e, a)) in expected.lines().zip(actual.lines()).enumerate() {
            if e != a && shown < 5 {
                eprintln!("---- {name} line {}\nexpected: {e}\nactual:   {a}", i + 1);
                shown += 1;
            }
        }
        panic!(
            "{name}: output differs from tcpdump ({} expected lines, {} actual)",
            expected.lines().count(),
            actual.lines().count()
        );
    }
}

/// An Ethernet/IPv4/TCP frame (etherparse's builder, checksums right) with
/// raw option bytes padded to a multiple of 4.
#[allow(clippy::too_many_arguments)]
pub fn tcp_frame(
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    opts: &[u8],
    payload: &[u8],
) -> Vec<u8> {
    let mut tcp = etherparse::TcpHeader::new(sport, dport, seq, 1000);
    tcp.acknowledgment_number = ack;
    tcp.fin = flags & 0x01 != 0;
    tcp.syn = flags & 0x02 != 0;
    tcp.rst = flags & 0x04 != 0;
    tcp.psh = flags & 0x08 != 0;
    tcp.ack = flags & 0x10 != 0;
    tcp.urg = flags & 0x20 != 0;
    tcp.ece = flags & 0x40 != 0;
    tcp.cwr = flags & 0x80 != 0;
    tcp.urgent_pointer = if tcp.urg { 7 } else { 0 };
    let mut padded = opts.to_vec();
    while !padded.len().is_multiple_of(4) {
        padded.push(0);
    }
    tcp.set_options_raw(&padded).unwrap();
    let b = etherparse::PacketBuilder::ethernet2([1; 6], [2; 6])
        .ipv4(src, dst, 64)
        .tcp_header(tcp);
    let mut out = Vec::new();
    b.write(&mut out, payload).unwrap();
    out
}

/// A port that no socket uses, in any state. A port that is merely free to
/// bind may still be the local port of an earlier TIME-WAIT socket (std
/// binds with SO_REUSEADDR), which `ss` would then count as this test's.
pub fn free_port() -> u16 {
    for _ in 0..100 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if ss_rows(port, &[]).is_empty() {
            return port;
        }
    }
    panic!("no port without sockets in 100 tries");
}

/// `ss -Htan [STATE...]` rows of sockets with `port` on either end (every
/// state unless one is named).
pub fn ss_rows(port: u16, state: &[&str]) -> Vec<String> {
    let f = format!("( sport = :{port} or dport = :{port} )");
    let o = Command::new("ss")
        .arg("-Htan")
        .args(state)
        .arg(&f)
        .output()
        .unwrap();
    assert!(o.status.success(), "ss failed: {o:?}");
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}
