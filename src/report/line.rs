//! Per-packet lines byte-identical to `tcpdump -n` (tcpdump 4.99).
//!
//! Owns the rendering rules of tcpdump's TCP printer: the relative-sequence
//! table (keyed by the unordered 4-tuple, restarted by every SYN), option
//! rendering, the `HTTP:` first line on ports 80/8080 and the truncation
//! markers. The rules are facts learned from tcpdump's print-tcp.c and
//! util-print.c; the code is our own.

use crate::capture::Timestamp;
use crate::decode::{Decoded, Ext6, IpNote, TcpFlags};
use rustc_hash::FxHashMap;
use std::io::{self, Write};
use std::net::IpAddr;

/// tcpdump's per-conversation initial sequence numbers (`tcp_seq_hash`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct SeqKey {
    lo: IpAddr,
    hi: IpAddr,
    ports: u32,
}

/// Renders tcpdump lines. Keeps tcpdump's relative-sequence state, so feed
/// it every packet of a capture in order.
pub struct LineRenderer {
    seqs: FxHashMap<SeqKey, (u32, u32)>,
    clock: LocalClock,
    ifnames: Option<FxHashMap<u32, String>>,
    buf: Vec<u8>,
}

impl Default for LineRenderer {
    fn default() -> Self {
        Self::new()
    }
}

/// Outcome of printing an option list: tcpdump stops the line on a bad
/// option or on truncation.
enum OptEnd {
    Done,
    Stop,
}

impl LineRenderer {
    pub fn new() -> Self {
        LineRenderer {
            seqs: FxHashMap::default(),
            clock: LocalClock::default(),
            ifnames: None,
            buf: Vec::with_capacity(256),
        }
    }

    /// Renders one line (without the trailing newline) into an internal
    /// buffer and returns it; the caller may append annotations.
    pub fn render(&mut self, ts: Timestamp, d: &Decoded<'_>) -> &[u8] {
        let mut b = std::mem::take(&mut self.buf);
        b.clear();
        self.clock.write_time(&mut b, ts);
        if let Some(s) = d.sll2 {
            let name = self.ifname(s.if_index);
            let dir = match s.pkttype {
                0 => "In",
                1 => "B",
                2 => "M",
                3 => "P",
                4 => "Out",
                _ => "?",
            };
            let _ = write!(b, "{name:<5} {dir:<3} ");
        }
        self.ip(&mut b, d);
        self.buf = b;
        &self.buf
    }

    /// Convenience: render and write the line with a newline.
    pub fn write_line(
        &mut self,
        out: &mut dyn Write,
        ts: Timestamp,
        d: &Decoded<'_>,
    ) -> io::Result<()> {
        let line = self.render(ts, d);
        out.write_all(line)?;
        out.write_all(b"\n")
    }

    fn ifname(&mut self, index: u32) -> String {
        // tcpdump maps the index with if_indextoname() on the reading host;
        // /sys/class/net gives the same answer without libc.
        let names = self.ifnames.get_or_insert_with(|| {
            let mut m = FxHashMap::default();
            if let Ok(dir) = std::fs::read_dir("/sys/class/net") {
                for e in dir.flatten() {
                    let idx = std::fs::read_to_string(e.path().join("ifindex"))
                        .ok()
                        .and_then(|s| s.trim().parse().ok());
                    if let (Some(i), Some(n)) = (idx, e.file_name().to_str()) {
                        m.insert(i, n.to_string());
                    }
                }
            }
            m
        });
        names
            .get(&index)
            .cloned()
            .unwrap_or_else(|| "?".to_string())
    }

    fn ip(&mut self, b: &mut Vec<u8>, d: &Decoded<'_>) {
        b.extend_from_slice(if d.v6 { b"IP6 " } else { b"IP " });
        match d.note {
            Some(IpNote::BadHlen(h)) => {
                let _ = write!(b, "bad-hlen {h}");
                return;
            }
            Some(IpNote::BadLen(l)) => {
                if d.missing > 0 {
                    let _ = write!(b, "truncated-ip - {} bytes missing! ", d.missing);
                }
                let _ = write!(b, "bad-len {l}");
                return;
            }
            Some(IpNote::Truncated) => {
                b.extend_from_slice(if d.v6 { b" [|ip6]" } else { b" [|ip]" });
                return;
            }
            None => {}
        }
        if d.missing > 0 {
            if d.v6 {
                let _ = write!(b, "truncated-ip6 - {} bytes missing!", d.missing);
            } else {
                let _ = write!(b, "truncated-ip - {} bytes missing! ", d.missing);
            }
        }
        let direct = d.ext6[0].is_none();
        if !direct {
            let _ = write!(b, "{} > {}: ", d.src, d.dst);
            for e in d.ext6.iter().flatten() {
                match e {
                    Ext6::HopByHop => b.extend_from_slice(b"HBH "),
                    Ext6::DestOpts => b.extend_from_slice(b"DSTOPT "),
                    Ext6::Routing => b.extend_from_slice(b"srcrt "),
                    Ext6::Fragment { offset, len } => {
                        let _ = write!(b, "frag ({offset}|{len}) ");
                    }
                }
            }
        }
        self.tcp(b, d, direct);
    }

    fn tcp(&mut self, b: &mut Vec<u8>, d: &Decoded<'_>, direct: bool) {
        const TRUNC: &[u8] = b" [|tcp]";
        let t = d.tcp;
        let mut length = d.tcp_len;
        if t.len() < 4 {
            let _ = write!(b, "{} > {}:", d.src, d.dst);
            b.extend_from_slice(TRUNC);
            return;
        }
        let be16 = |i: usize| u16::from_be_bytes([t[i], t[i + 1]]);
        let be32 = |i: usize| u32::from_be_bytes([t[i], t[i + 1], t[i + 2], t[i + 3]]);
        let (sport, dport) = (be16(0), be16(2));
        if direct {
            push_ip(b, d.src);
            b.push(b'.');
            push_dec(b, u64::from(sport));
            b.extend_from_slice(b" > ");
            push_ip(b, d.dst);
            b.push(b'.');
            push_dec(b, u64::from(dport));
            b.extend_from_slice(b": ");
        } else {
            push_dec(b, u64::from(sport));
            b.extend_from_slice(b" > ");
            push_dec(b, u64::from(dport));
            b.extend_from_slice(b": ");
        }
        if t.len() < 20 {
            b.extend_from_slice(TRUNC);
            return;
        }
        let hlen = u32::from(t[12] >> 4) * 4;
        if hlen < 20 {
            let _ = write!(
                b,
                " tcp {} [bad hdr length {} - too short, < 20]",
                length.wrapping_sub(hlen),
                hlen
            );
            return;
        }
        let (mut seq, mut ack) = (be32(4), be32(8));
        let win = be16(14);
        let urp = be16(18);
        let flags = TcpFlags(t[13]);
        b.extend_from_slice(b"Flags [");
        flag_letters(b, flags.0);
        b.push(b']');

        let (mut thseq, mut thack, mut rev) = (0u32, 0u32, false);
        if flags.ack() {
            rev = sport > dport || (sport == dport && addr_bytes_gt(d.src, d.dst));
            let key = if rev {
                SeqKey {
                    lo: d.dst,
                    hi: d.src,
                    ports: u32::from(dport) << 16 | u32::from(sport),
                }
            } else {
                SeqKey {
                    lo: d.src,
                    hi: d.dst,
                    ports: u32::from(sport) << 16 | u32::from(dport),
                }
            };
            let entry = match self.seqs.get(&key) {
                Some(&e) if !flags.syn() => {
                    if rev {
                        seq = seq.wrapping_sub(e.1);
                        ack = ack.wrapping_sub(e.0);
                    } else {
                        seq = seq.wrapping_sub(e.0);
                        ack = ack.wrapping_sub(e.1);
                    }
                    e
                }
                _ => {
                    // New conversation (or a SYN restarting it): print absolute.
                    let e = if rev {
                        (ack.wrapping_sub(1), seq)
                    } else {
                        (seq, ack.wrapping_sub(1))
                    };
                    self.seqs.insert(key, e);
                    e
                }
            };
            (thseq, thack) = entry;
        }
        if hlen > length {
            let _ = write!(b, " [bad hdr length {hlen} - too long, > {length}]");
            return;
        }
        length -= hlen;
        if length > 0 || flags.has(TcpFlags::SYN | TcpFlags::FIN | TcpFlags::RST) {
            b.extend_from_slice(b", seq ");
            push_dec(b, u64::from(seq));
            if length > 0 {
                b.push(b':');
                push_dec(b, u64::from(seq.wrapping_add(length)));
            }
        }
        if flags.ack() {
            b.extend_from_slice(b", ack ");
            push_dec(b, u64::from(ack));
        }
        b.extend_from_slice(b", win ");
        push_dec(b, u64::from(win));
        if flags.has(TcpFlags::URG) {
            let _ = write!(b, ", urg {urp}");
        }
        if hlen > 20 {
            let ctx = OptCtx {
                t,
                rev,
                thseq,
                thack,
                payload_captured: t.len() as u32 >= hlen + length,
            };
            if let OptEnd::Stop = options(b, &ctx, hlen - 20) {
                return;
            }
        }
        b.extend_from_slice(b", length ");
        push_dec(b, u64::from(length));
        if length == 0 {
            return;
        }
        if (t.len() as u32) < hlen {
            let _ = write!(
                b,
                " [remaining caplen({}) < header length({})]",
                t.len(),
                hlen
            );
            b.extend_from_slice(TRUNC);
            return;
        }
        if [sport, dport].iter().any(|&p| p == 80 || p == 8080) {
            b.extend_from_slice(b": ");
            http_line(b, &t[hlen as usize..], length);
        }
    }
}

fn addr_bytes_gt(a: IpAddr, b: IpAddr) -> bool {
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => a.octets() > b.octets(),
        (IpAddr::V6(a), IpAddr::V6(b)) => a.octets() > b.octets(),
        _ => false,
    }
}

fn flag_letters(b: &mut Vec<u8>, f: u8) {
    // tcpdump's table order: FIN SYN RST PSH ACK URG ECE CWR.
    const LETTERS: [u8; 8] = [b'F', b'S', b'R', b'P', b'.', b'U', b'E', b'W'];
    if f == 0 {
        b.extend_from_slice(b"none");
        return;
    }
    for (i, l) in LETTERS.iter().enumerate() {
        if f & (1 << i) != 0 {
            b.push(*l);
        }
    }
}

struct OptCtx<'a> {
    t: &'a [u8],
    rev: bool,
    thseq: u32,
    thack: u32,
    payload_captured: bool,
}

fn opt_name(opt: u8) -> Option<&'static str> {
    Some(match opt {
        0 => "eol",
        1 => "nop",
        2 => "mss",
        3 => "wscale",
        4 => "sackOK",
        5 => "sack",
        6 => "echo",
        7 => "echoreply",
        8 => "TS",
        11 => "cc",
        12 => "ccnew",
        13 => "",
        19 => "md5",
        20 => "scps",
        28 => "uto",
        29 => "tcp-ao",
        30 => "mptcp",
        34 => "tfo",
        254 => "exp",
        _ => return None,
    })
}

/// The option list, following tcpdump's walk: option bytes are read from the
/// captured TCP bytes (a read past them is truncation: ` [|tcp]`), lengths are
/// checked against the header (`[bad opt]`).
fn options(b: &mut Vec<u8>, c: &OptCtx<'_>, mut hlen: u32) -> OptEnd {
    const TRUNC: &[u8] = b" [|tcp]";
    let t = c.t;
    let get = |i: usize| t.get(i).copied();
    let be16 = |i: usize| Some(u16::from_be_bytes([get(i)?, get(i + 1)?]));
    let be32 = |i: usize| {
        Some(u32::from_be_bytes([
            get(i)?,
            get(i + 1)?,
            get(i + 2)?,
            get(i + 3)?,
        ]))
    };
    let mut cp = 20usize;
    let mut sep = false;
    b.extend_from_slice(b", options [");
    // Truncation inside LENCHECK: tcpdump's local label prints `>` after
    // the marker once an option has been printed.
    let trunc_local = |b: &mut Vec<u8>, sep: bool| {
        b.extend_from_slice(TRUNC);
        if sep {
            b.push(b'>');
        }
        OptEnd::Stop
    };
    let bad = |b: &mut Vec<u8>, sep: bool| {
        b.extend_from_slice(b"[bad opt]");
        if sep {
            b.push(b']');
        }
        OptEnd::Stop
    };
    while hlen > 0 {
        if sep {
            b.push(b',');
        }
        let Some(opt) = get(cp) else {
            b.extend_from_slice(TRUNC);
            return OptEnd::Stop;
        };
        cp += 1;
        let zerolen = opt == 0 || opt == 1;
        let len: u32 = if zerolen {
            1
        } else {
            let Some(l) = get(cp) else {
                b.extend_from_slice(TRUNC);
                return OptEnd::Stop;
            };
            cp += 1;
            let l = u32::from(l);
            if l < 2 || l > hlen {
                return bad(b, sep);
            }
            hlen -= 1;
            l
        };
        hlen -= 1;
        let mut datalen: u32 = 0;
        match opt_name(opt) {
            Some(n) => b.extend_from_slice(n.as_bytes()),
            None => {
                let _ = write!(b, "unknown-{opt}");
            }
        }
        // LENCHECK(l): the option data must fit in the header and be captured.
        macro_rules! lencheck {
            ($l:expr) => {{
                let l: u32 = $l;
                if l > hlen {
                    return bad(b, sep);
                }
                if cp + l as usize > t.len() {
                    return trunc_local(b, sep);
                }
            }};
        }
        match opt {
            2 => {
                datalen = 2;
                lencheck!(2);
                b.push(b' ');
                push_dec(b, u64::from(be16(cp).unwrap_or(0)));
            }
            3 => {
                datalen = 1;
                lencheck!(1);
                b.push(b' ');
                push_dec(b, u64::from(get(cp).unwrap_or(0)));
            }
            5 => {
                datalen = len - 2;
                if !datalen.is_multiple_of(8) {
                    b.extend_from_slice(b" invalid sack");
                } else {
                    let _ = write!(b, " {} ", datalen / 8);
                    let mut i = 0;
                    while i < datalen {
                        lencheck!(i + 4);
                        let s = be32(cp + i as usize).unwrap_or(0);
                        lencheck!(i + 8);
                        let e = be32(cp + i as usize + 4).unwrap_or(0);
                        let base = if c.rev { c.thseq } else { c.thack };
                        b.push(b'{');
                        push_dec(b, u64::from(s.wrapping_sub(base)));
                        b.push(b':');
                        push_dec(b, u64::from(e.wrapping_sub(base)));
                        b.push(b'}');
                        i += 8;
                    }
                }
            }
            6 | 7 | 11 | 12 | 13 => {
                datalen = 4;
                lencheck!(4);
                let _ = write!(b, " {}", be32(cp).unwrap_or(0));
            }
            8 => {
                datalen = 8;
                lencheck!(8);
                b.extend_from_slice(b" val ");
                push_dec(b, u64::from(be32(cp).unwrap_or(0)));
                b.extend_from_slice(b" ecr ");
                push_dec(b, u64::from(be32(cp + 4).unwrap_or(0)));
            }
            19 => {
                datalen = 16;
                lencheck!(16);
                b.push(b' ');
                // tcpdump (built with libcrypto) cannot check without -M.
                if !c.payload_captured {
                    b.extend_from_slice(b"snaplen too short, ");
                } else {
                    b.extend_from_slice(b"shared secret not supplied with -M, ");
                }
                b.extend_from_slice(b"can't check - ");
                for i in 0..16 {
                    let _ = write!(b, "{:02x}", t[cp + i]);
                }
            }
            20 => {
                datalen = 2;
                lencheck!(2);
                let _ = write!(b, " cap {:02x} id {}", t[cp], t[cp + 1]);
            }
            29 => {
                datalen = len - 2;
                if datalen < 2 {
                    b.extend_from_slice(b" (invalid)");
                } else {
                    lencheck!(1);
                    let _ = write!(b, " keyid {}", t[cp]);
                    lencheck!(2);
                    let _ = write!(b, " rnextkeyid {}", t[cp + 1]);
                    if datalen > 2 {
                        b.extend_from_slice(b" mac 0x");
                        for i in 2..datalen {
                            lencheck!(i + 1);
                            let _ = write!(b, "{:02x}", t[cp + i as usize]);
                        }
                    }
                }
            }
            0 | 1 | 4 => {}
            28 => {
                datalen = 2;
                lencheck!(2);
                let v = u32::from(be16(cp).unwrap_or(0));
                let secs = if v & 1 != 0 { (v >> 1) * 60 } else { v >> 1 };
                let _ = write!(b, " 0x{v:x} {secs}");
            }
            30 => {
                datalen = len - 2;
                lencheck!(datalen);
                if !super::mptcp::print(b, &t[cp - 2..cp + datalen as usize], t[13]) {
                    return bad(b, sep);
                }
            }
            34 => {
                datalen = len - 2;
                lencheck!(datalen);
                b.push(b' ');
                fastopen(b, &t[cp..cp + datalen as usize], false);
            }
            254 => {
                datalen = len - 2;
                lencheck!(datalen);
                if datalen < 2 {
                    return bad(b, sep);
                }
                let magic = be16(cp).unwrap_or(0);
                b.push(b'-');
                if magic == 0xf989 {
                    fastopen(b, &t[cp + 2..cp + datalen as usize], true);
                } else {
                    let _ = write!(b, "{magic:04x}");
                }
            }
            _ => {
                datalen = len - 2;
                if datalen > 0 {
                    b.extend_from_slice(b" 0x");
                }
                for i in 0..datalen {
                    lencheck!(i + 1);
                    let _ = write!(b, "{:02x}", t[cp + i as usize]);
                }
            }
        }
        cp += datalen as usize;
        hlen = hlen.wrapping_sub(datalen);
        let mut seen = datalen + 1;
        if !zerolen {
            seen += 1;
        }
        if seen != len {
            let _ = write!(b, "[len {len}]");
        }
        sep = true;
        if opt == 0 {
            break;
        }
        // A wrapped `hlen` (tcpdump's unsigned arithmetic after an invalid
        // SACK) ends at the first uncaptured byte, as tcpdump's does.
    }
    b.push(b']');
    OptEnd::Done
}

fn fastopen(b: &mut Vec<u8>, data: &[u8], exp: bool) {
    if exp {
        b.extend_from_slice(b"tfo");
    }
    if data.is_empty() {
        b.extend_from_slice(b" cookiereq");
    } else if !data.len().is_multiple_of(2) || data.len() < 4 || data.len() > 16 {
        b.extend_from_slice(b" (invalid)");
    } else {
        b.extend_from_slice(b" cookie ");
        for x in data {
            let _ = write!(b, "{x:02x}");
        }
    }
}

/// tcpdump's HTTP printer without -v: `HTTP`, then `: <first line>` when
/// the payload starts with a known method or has a 3-digit status as its
/// second token.
fn http_line(b: &mut Vec<u8>, p: &[u8], len: u32) {
    b.extend_from_slice(b"HTTP");
    let len = len as usize;
    let mut print_this = false;
    let mut tok = [0u8; 129];
    let (idx, n) = fetch_token(p, 0, len, &mut tok);
    if idx != 0 {
        if HTTP_METHODS
            .iter()
            .any(|m| m.as_bytes().eq_ignore_ascii_case(&tok[..n]))
        {
            print_this = true;
        }
        let (idx2, n2) = fetch_token(p, idx, len, &mut tok);
        if idx2 != 0 && n2 == 3 && tok[..3].iter().all(u8::is_ascii_digit) {
            print_this = true;
        }
    }
    if !print_this {
        return;
    }
    // print_txt_line: up to CRLF or LF; binary or a lone CR prints nothing;
    // reading past the capture is truncation.
    let mut idx = 0;
    while idx < len {
        let Some(&c) = p.get(idx) else {
            b.extend_from_slice(b" [|http]");
            return;
        };
        if c == b'\n' {
            break;
        } else if c == b'\r' {
            if idx + 1 >= len {
                return;
            }
            match p.get(idx + 1) {
                None => {
                    b.extend_from_slice(b" [|http]");
                    return;
                }
                Some(b'\n') => break,
                Some(_) => return,
            }
        } else if !(c.is_ascii_graphic() || c == b' ') && c != b'\t' {
            return;
        }
        idx += 1;
    }
    b.extend_from_slice(b": ");
    b.extend_from_slice(&p[..idx]);
    if idx >= len {
        // All printable, no line end in the segment: tcpdump marks it truncated.
        b.extend_from_slice(b" [|http]");
    }
}

/// tcpdump's fetch_token: a token of printable ASCII up to whitespace, then
/// the spaces after it. Returns (next index, token length); 0 means none.
fn fetch_token(p: &[u8], mut idx: usize, len: usize, tok: &mut [u8; 129]) -> (usize, usize) {
    let mut n = 0;
    while idx < len {
        let Some(&c) = p.get(idx) else { return (0, 0) };
        if !c.is_ascii() {
            return (0, 0);
        }
        if matches!(c, b' ' | b'\t' | b'\r' | b'\n') {
            break;
        }
        if !(c.is_ascii_graphic() || c == b' ') {
            return (0, 0);
        }
        if n + 2 > tok.len() {
            return (0, 0);
        }
        tok[n] = c;
        n += 1;
        idx += 1;
    }
    if n == 0 {
        return (0, 0);
    }
    while idx < len {
        let Some(&c) = p.get(idx) else { break };
        if c == b'\r'
            || c == b'\n'
            || !(c.is_ascii_graphic() || c == b' ')
            || (c != b' ' && c != b'\t')
        {
            break;
        }
        idx += 1;
    }
    (idx, n)
}

const HTTP_METHODS: &[&str] = &[
    "GET",
    "PUT",
    "COPY",
    "HEAD",
    "LOCK",
    "MOVE",
    "POLL",
    "POST",
    "BCOPY",
    "BMOVE",
    "MKCOL",
    "TRACE",
    "LABEL",
    "MERGE",
    "DELETE",
    "SEARCH",
    "UNLOCK",
    "REPORT",
    "UPDATE",
    "NOTIFY",
    "BDELETE",
    "CONNECT",
    "OPTIONS",
    "CHECKIN",
    "PROPFIND",
    "CHECKOUT",
    "CHECKOUT",
    "SUBSCRIBE",
    "PROPPATCH",
    "BPROPFIND",
    "BPROPPATCH",
    "UNCHECKOUT",
    "MKACTIVITY",
    "MKWORKSPACE",
    "UNSUBSCRIBE",
    "RPC_IN_DATA",
    "RPC_OUT_DATA",
    "CCM_POST",
    "RPC_CONNECT",
];

/// Local wall-clock time as tcpdump prints it (`HH:MM:SS.uuuuuu `), with the
/// UTC offset cached per quarter hour (every zone's transitions fall on one).
#[derive(Default)]
struct LocalClock {
    bucket: i64,
    offset: i64,
    valid: bool,
}

impl LocalClock {
    fn offset_for(&mut self, secs: i64) -> i64 {
        use chrono::{Local, Offset, TimeZone};
        let bucket = secs.div_euclid(900);
        if !self.valid || bucket != self.bucket {
            self.offset = match Local.timestamp_opt(secs, 0) {
                chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => {
                    i64::from(t.offset().fix().local_minus_utc())
                }
                chrono::LocalResult::None => 0,
            };
            self.bucket = bucket;
            self.valid = true;
        }
        self.offset
    }

    fn write_time(&mut self, b: &mut Vec<u8>, ts: Timestamp) {
        let local = ts.secs + self.offset_for(ts.secs);
        let day = local.rem_euclid(86_400);
        let (h, m, s) = (day / 3600, day / 60 % 60, day % 60);
        let us = ts.nanos / 1000;
        push_dec_pad(b, h as u64, 2);
        b.push(b':');
        push_dec_pad(b, m as u64, 2);
        b.push(b':');
        push_dec_pad(b, s as u64, 2);
        b.push(b'.');
        push_dec_pad(b, u64::from(us), 6);
        b.push(b' ');
    }
}

/// Appends `v` in decimal, as `write!(b, "{v}")` does, without going
/// through `core::fmt` (the line renderer's hottest cost).
fn push_dec(b: &mut Vec<u8>, v: u64) {
    push_dec_pad(b, v, 1);
}

/// Appends `v` in decimal, zero-padded to at least `width` digits (at most
/// 20), as `write!(b, "{v:0width$}")` does.
fn push_dec_pad(b: &mut Vec<u8>, mut v: u64, width: usize) {
    let mut tmp = [b'0'; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    let start = i.min(tmp.len() - width.min(tmp.len()));
    b.extend_from_slice(&tmp[start..]);
}

/// Appends an address as `Display` prints it; IPv4 without `core::fmt`.
fn push_ip(b: &mut Vec<u8>, a: IpAddr) {
    match a {
        IpAddr::V4(a) => {
            let [w, x, y, z] = a.octets();
            push_dec(b, u64::from(w));
            b.push(b'.');
            push_dec(b, u64::from(x));
            b.push(b'.');
            push_dec(b, u64::from(y));
            b.push(b'.');
            push_dec(b, u64::from(z));
        }
        IpAddr::V6(a) => {
            let _ = write!(b, "{a}");
        }
    }
}

#[cfg(test)]
mod fmt_tests {
    use super::*;

    #[test]
    fn decimal_matches_core_fmt() {
        for v in [0u64, 1, 9, 10, 99, 100, 65535, 4_294_967_295, u64::MAX] {
            let mut b = Vec::new();
            push_dec(&mut b, v);
            assert_eq!(b, v.to_string().into_bytes());
            for w in [1usize, 2, 6, 20, 25] {
                let mut b = Vec::new();
                push_dec_pad(&mut b, v, w);
                let want = format!("{v:0w$}");
                // Widths past 20 digits are not used (and not supported).
                if w <= 20 {
                    assert_eq!(String::from_utf8(b).unwrap(), want, "{v} {w}");
                }
            }
        }
    }

    #[test]
    fn addresses_match_display() {
        for a in [
            "0.0.0.0",
            "10.1.0.2",
            "255.255.255.255",
            "192.168.100.7",
            "::1",
            "fe80::1:2",
        ] {
            let ip: IpAddr = a.parse().unwrap();
            let mut b = Vec::new();
            push_ip(&mut b, ip);
            assert_eq!(String::from_utf8(b).unwrap(), ip.to_string());
        }
    }
}
