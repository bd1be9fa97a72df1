//! Decode: link layer → IP → TCP, zero-copy.
//!
//! Owns the link-type table and the `Segment` view handed to later stages.
//! A `Segment` borrows the packet bytes; nothing here allocates. `Early` is
//! the same segment as plain values, made on the capture's reader thread
//! when no line is printed.

use crate::capture::Timestamp;
use std::net::SocketAddr;

/// The TCP flag byte (RFC 793 + RFC 3168 ECE/CWR).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;

    pub fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }
    pub fn syn(self) -> bool {
        self.has(Self::SYN)
    }
    pub fn ack(self) -> bool {
        self.has(Self::ACK)
    }
    pub fn fin(self) -> bool {
        self.has(Self::FIN)
    }
    pub fn rst(self) -> bool {
        self.has(Self::RST)
    }
}

/// One TCP segment as seen on the wire. Borrows the packet.
#[derive(Clone, Copy, Debug)]
pub struct Segment<'a> {
    pub ts: Timestamp,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub window: u16,
    /// Payload bytes present in the capture (shorter than `payload_len`
    /// when the snapshot length cut the packet).
    pub payload: &'a [u8],
    /// Payload length on the wire, from the IP length fields.
    pub payload_len: u32,
}

use crate::capture::{LinkType, Packet};
use etherparse::{Ipv4HeaderSlice, Ipv6HeaderSlice};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why a packet yields no TCP segment. Counted, never an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skip {
    /// Link layer carries something other than IPv4/IPv6 (ARP, LLC, …).
    NotIp,
    /// IP carrying another protocol (UDP, ICMP, …).
    NotTcp,
    /// A non-first IP fragment: no TCP header in it.
    Fragment,
    /// Cut before the IP header was complete.
    Truncated,
    /// Headers that contradict themselves (bad version, runaway extension chain).
    Malformed,
}

/// The LINUX_SLL2 fields tcpdump prints before every line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sll2Info {
    pub if_index: u32,
    pub pkttype: u8,
}

/// IPv6 extension headers tcpdump names on the line, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ext6 {
    HopByHop,
    DestOpts,
    Routing,
    /// Fragment header: offset in bytes, fragment payload length.
    Fragment {
        offset: u16,
        len: u32,
    },
}

/// IP-level oddities tcpdump reports instead of, or before, the TCP part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpNote {
    /// IPv4 header length field below 20 bytes.
    BadHlen(u32),
    /// IPv4 total length smaller than its own header (TSO/BIG TCP write 0).
    BadLen(u32),
    /// The IP header itself was cut by the snapshot length (`[|ip]`).
    Truncated,
}

const MAX_EXT6: usize = 8;

/// A decoded IP packet that carries (or claims to carry) TCP.
#[derive(Clone, Copy, Debug)]
pub struct Decoded<'a> {
    pub sll2: Option<Sll2Info>,
    pub v6: bool,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// Fatal IP-level problem: the line ends after it.
    pub note: Option<IpNote>,
    /// Bytes the IP length fields promise beyond what the wire length holds.
    pub missing: u32,
    pub ext6: [Option<Ext6>; MAX_EXT6],
    /// Transport bytes present in the capture.
    pub tcp: &'a [u8],
    /// Transport length on the wire, from the IP length fields.
    pub tcp_len: u32,
    /// Where the IP header starts in the packet's bytes.
    pub ip_at: usize,
}

/// Decodes link → IP for one packet; `Ok` only for TCP (or IP-level notes
/// on a TCP packet that tcpdump would print).
#[inline(always)]
pub fn decode<'a>(link: LinkType, pkt: &Packet<'a>) -> Result<Decoded<'a>, Skip> {
    let data = pkt.data;
    let wire = pkt.wire_len as usize;
    // A record claiming fewer bytes on the wire than it captured is broken
    // (tcpdump: `[Invalid header: len(N) < caplen(M)]`); below, the IP
    // lengths are clipped to `wire` and must not fall under the headers.
    if wire < data.len() || wire == 0 {
        return Err(Skip::Malformed);
    }
    let (sll2, ethertype, off) = match link {
        LinkType::Ethernet => {
            let (et, off) = ethernet(data)?;
            (None, et, off)
        }
        LinkType::LinuxSll => {
            // 16-byte cooked header; the protocol field (bytes 14-15) is an
            // ethertype for the packets we decode. etherparse's SLL slice
            // refuses hardware types libpcap writes (e.g. loopback 772).
            let proto = data.get(14..16).ok_or(Skip::Truncated)?;
            let (et, off) = vlan(data, u16::from_be_bytes([proto[0], proto[1]]), 16)?;
            (None, et, off)
        }
        LinkType::LinuxSll2 => {
            if data.len() < 20 {
                return Err(Skip::Truncated);
            }
            let info = Sll2Info {
                if_index: u32::from_be_bytes([data[4], data[5], data[6], data[7]]),
                pkttype: data[10],
            };
            let (et, off) = vlan(data, u16::from_be_bytes([data[0], data[1]]), 20)?;
            (Some(info), et, off)
        }
        LinkType::Null | LinkType::Loop => {
            let b: [u8; 4] = data
                .get(..4)
                .ok_or(Skip::Truncated)?
                .try_into()
                .map_err(|_| Skip::Truncated)?;
            let af = if link == LinkType::Loop || (b[0] == 0 && b[1] == 0) {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            };
            // AF_INET is 2 everywhere; AF_INET6 differs per OS (BSDs, macOS, Linux).
            let et = match af {
                2 => 0x0800,
                10 | 24 | 28 | 30 => 0x86dd,
                _ => return Err(Skip::NotIp),
            };
            (None, et, 4)
        }
        LinkType::Raw => {
            let et = match data.first().map(|b| b >> 4) {
                Some(4) => 0x0800,
                Some(6) => 0x86dd,
                Some(_) => return Err(Skip::NotIp),
                None => return Err(Skip::Truncated),
            };
            (None, et, 0)
        }
        LinkType::Ipv4 => (None, 0x0800, 0),
        LinkType::Ipv6 => (None, 0x86dd, 0),
        LinkType::Unknown(_) => return Err(Skip::NotIp),
    };
    let ip = data.get(off..).ok_or(Skip::Truncated)?;
    let ip_wire = wire.saturating_sub(off);
    let mut d = match ethertype {
        0x0800 => ipv4(ip, ip_wire)?,
        0x86dd => ipv6(ip, ip_wire)?,
        _ => return Err(Skip::NotIp),
    };
    d.sll2 = sll2;
    d.ip_at = off;
    Ok(d)
}

/// Ethernet II, then any 802.1Q/802.1ad tags.
fn ethernet(data: &[u8]) -> Result<(u16, usize), Skip> {
    let eth = etherparse::Ethernet2HeaderSlice::from_slice(data).map_err(|_| Skip::Truncated)?;
    vlan(data, eth.ether_type().0, 14)
}

/// Skips VLAN tags (802.1Q, 802.1ad, the old QinQ 0x9100) starting at `off`.
fn vlan(data: &[u8], mut et: u16, mut off: usize) -> Result<(u16, usize), Skip> {
    let mut tags = 0;
    while matches!(et, 0x8100 | 0x88a8 | 0x9100) {
        let tag = data.get(off..).ok_or(Skip::Truncated)?;
        let v = etherparse::SingleVlanHeaderSlice::from_slice(tag).map_err(|_| Skip::Truncated)?;
        et = v.ether_type().0;
        off += 4;
        tags += 1;
        if tags > 8 {
            return Err(Skip::Malformed);
        }
    }
    Ok((et, off))
}

fn empty<'a>(v6: bool, src: IpAddr, dst: IpAddr) -> Decoded<'a> {
    Decoded {
        sll2: None,
        v6,
        src,
        dst,
        note: None,
        missing: 0,
        ext6: [None; MAX_EXT6],
        tcp: &[],
        tcp_len: 0,
        ip_at: 0,
    }
}

/// IPv4 as tcpdump's ip_print sees it: the total-length field bounds the
/// payload; the wire length says how much of it really existed.
#[inline(always)]
fn ipv4(ip: &[u8], wire: usize) -> Result<Decoded<'_>, Skip> {
    use etherparse::err::ipv4::{HeaderError, HeaderSliceError};
    let h = match Ipv4HeaderSlice::from_slice(ip) {
        Ok(h) => h,
        Err(HeaderSliceError::Content(HeaderError::HeaderLengthSmallerThanHeader { ihl })) => {
            let mut d = empty(false, addr4(ip, 12), addr4(ip, 16));
            d.note = Some(IpNote::BadHlen(u32::from(ihl) * 4));
            return if ip[9] == 6 { Ok(d) } else { Err(Skip::NotTcp) };
        }
        // tcpdump's `tcp` filter needs the protocol byte; past it, a cut
        // header is still a TCP packet that tcpdump prints as `[|ip]`.
        Err(HeaderSliceError::Len(_)) if ip.len() >= 20 || ip.get(9) == Some(&6) => {
            let mut d = empty(false, addr4(ip, 12), addr4(ip, 16));
            d.note = Some(IpNote::Truncated);
            // Options cut short: tcpdump checks the total length against the
            // header length first (an IHL pointing past the packet is `bad-len`).
            if ip.len() >= 20 {
                let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
                if total < usize::from(ip[0] & 0x0f) * 4 {
                    d.note = Some(IpNote::BadLen(total as u32));
                    d.missing = total.saturating_sub(wire) as u32;
                }
            }
            return Ok(d);
        }
        Err(HeaderSliceError::Len(_)) => return Err(Skip::Truncated),
        Err(_) => return Err(Skip::Malformed),
    };
    if h.protocol() != etherparse::IpNumber::TCP {
        return Err(Skip::NotTcp);
    }
    let mut d = empty(
        false,
        IpAddr::V4(h.source_addr()),
        IpAddr::V4(h.destination_addr()),
    );
    let hlen = h.slice().len();
    let total = usize::from(h.total_len());
    if total < hlen {
        d.note = Some(IpNote::BadLen(total as u32));
        if total != 0 {
            return Ok(d);
        }
        // Total length 0: a TSO/BIG TCP super-packet, whose length is the
        // frame's. tcpdump prints `bad-len 0`; the segment is still tracked.
        let end = wire.min(ip.len()).max(hlen);
        d.tcp_len = (wire.max(hlen) - hlen) as u32;
        d.tcp = &ip[hlen..end];
        return Ok(d);
    }
    if h.fragments_offset().value() != 0 {
        return Err(Skip::Fragment);
    }
    let mut end = total;
    if wire < total {
        d.missing = (total - wire) as u32;
        end = wire;
    }
    d.tcp_len = (end - hlen) as u32;
    d.tcp = &ip[hlen..end.min(ip.len()).max(hlen)];
    Ok(d)
}

fn addr4(ip: &[u8], at: usize) -> IpAddr {
    let b: [u8; 4] = ip
        .get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .unwrap_or([0; 4]);
    IpAddr::from(b)
}

/// IPv6 and its extension-header chain (bounded: a chain that never ends is
/// malformed, not a hang).
fn ipv6(ip: &[u8], wire: usize) -> Result<Decoded<'_>, Skip> {
    let h = match Ipv6HeaderSlice::from_slice(ip) {
        Ok(h) => h,
        Err(etherparse::err::ipv6::HeaderSliceError::Len(_)) if ip.get(6) == Some(&6) => {
            let unspecified = IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED);
            let mut d = empty(true, unspecified, unspecified);
            d.note = Some(IpNote::Truncated);
            return Ok(d);
        }
        Err(etherparse::err::ipv6::HeaderSliceError::Len(_)) => return Err(Skip::Truncated),
        Err(_) => return Err(Skip::Malformed),
    };
    let mut d = empty(
        true,
        IpAddr::V6(h.source_addr()),
        IpAddr::V6(h.destination_addr()),
    );
    let plen = usize::from(h.payload_length());
    let mut total = 40 + plen;
    if wire < total {
        d.missing = (total - wire) as u32;
        total = wire;
    }
    let mut next = h.next_header().0;
    let mut off = 40;
    let mut n = 0;
    loop {
        match next {
            6 => break,
            // Hop-by-hop, routing, destination options: (next, len in 8-octet units - 1).
            0 | 43 | 60 => {
                let e = ip.get(off..off + 2).ok_or(Skip::Truncated)?;
                let len = (usize::from(e[1]) + 1) * 8;
                let kind = match next {
                    0 => Ext6::HopByHop,
                    43 => Ext6::Routing,
                    _ => Ext6::DestOpts,
                };
                *d.ext6.get_mut(n).ok_or(Skip::Malformed)? = Some(kind);
                next = e[0];
                off += len;
            }
            44 => {
                let e = ip.get(off..off + 8).ok_or(Skip::Truncated)?;
                let offlg = u16::from_be_bytes([e[2], e[3]]);
                let frag_off = offlg & 0xfff8;
                let len = (plen as u32).saturating_sub((off - 40) as u32 + 8);
                *d.ext6.get_mut(n).ok_or(Skip::Malformed)? = Some(Ext6::Fragment {
                    offset: frag_off,
                    len,
                });
                if frag_off != 0 {
                    return Err(Skip::Fragment);
                }
                next = e[0];
                off += 8;
            }
            _ => return Err(Skip::NotTcp),
        }
        n += 1;
        if off > total {
            return Err(Skip::Truncated);
        }
    }
    d.tcp_len = (total - off) as u32;
    d.tcp = ip.get(off..total.min(ip.len())).unwrap_or(&[]);
    Ok(d)
}

impl<'a> Decoded<'a> {
    /// The TCP segment, when the fixed header and its options were captured
    /// and the header is sane; `None` for what tcpdump prints as damaged.
    #[inline(always)]
    pub fn segment(&self, ts: Timestamp) -> Option<Segment<'a>> {
        if self.note.is_some() && self.note != Some(IpNote::BadLen(0)) {
            return None;
        }
        let t = self.tcp;
        if t.len() < 20 {
            return None;
        }
        let hlen = usize::from(t[12] >> 4) * 4;
        if hlen < 20 || hlen as u32 > self.tcp_len {
            return None;
        }
        let be16 = |i: usize| u16::from_be_bytes([t[i], t[i + 1]]);
        let be32 = |i: usize| u32::from_be_bytes([t[i], t[i + 1], t[i + 2], t[i + 3]]);
        Some(Segment {
            ts,
            src: SocketAddr::new(self.src, be16(0)),
            dst: SocketAddr::new(self.dst, be16(2)),
            seq: be32(4),
            ack: be32(8),
            flags: TcpFlags(t[13]),
            window: be16(14),
            payload: t.get(hlen..).unwrap_or(&[]),
            payload_len: self.tcp_len - hlen as u32,
        })
    }
}

/// What the per-packet loop needs of a packet when it prints no line,
/// worked out ahead on the capture's reader thread (`FileSource::open_with`):
/// the TCP segment, its payload a range of the packet's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Early {
    Skip(Skip),
    /// TCP whose header was cut or damaged (printed, not tracked).
    Damaged,
    Segment(EarlySegment),
}

/// A `Segment` without its borrow (see `Early`), packed: the analysis
/// thread reads one per packet from the reader's core, and every byte of it
/// crosses between the cores (two `SocketAddr`s were 64 of its 88 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EarlySegment {
    ips: Ips,
    /// Source and destination port.
    ports: [u16; 2],
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    window: u16,
    /// The captured payload: `data[payload.0..payload.1]` of the packet.
    payload: (u32, u32),
    payload_len: u32,
}

/// The segment's IP addresses: IPv4's inline; IPv6's read again from the
/// packet's bytes (source, then destination, from `at`), which travel with
/// the batch anyway.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ips {
    V4([u8; 8]),
    V6 { at: u32 },
}

impl Early {
    /// `decode`, then `Decoded::segment`, kept as plain values.
    pub fn of(link: LinkType, pkt: &Packet<'_>) -> Early {
        let d = match decode(link, pkt) {
            Ok(d) => d,
            Err(skip) => return Early::Skip(skip),
        };
        let Some(seg) = d.segment(pkt.ts) else {
            return Early::Damaged;
        };
        // The payload is a slice of the packet (or empty): its offset.
        let at = (seg.payload.as_ptr() as usize).wrapping_sub(pkt.data.as_ptr() as usize);
        let payload = match pkt.data.get(at..at.saturating_add(seg.payload.len())) {
            Some(p) if !p.is_empty() && p.as_ptr() == seg.payload.as_ptr() => {
                (at as u32, (at + p.len()) as u32)
            }
            _ => {
                debug_assert!(seg.payload.is_empty(), "a payload outside its packet");
                (0, 0)
            }
        };
        let ips = match (seg.src.ip(), seg.dst.ip()) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                let mut b = [0u8; 8];
                b[..4].copy_from_slice(&s.octets());
                b[4..].copy_from_slice(&d.octets());
                Ips::V4(b)
            }
            (src, dst) => {
                // IPv6 (one header: never mixed) puts the two addresses at
                // bytes 8..40 of its header.
                let at = d.ip_at + 8;
                debug_assert!(pkt.data.get(at..at + 32).is_some_and(|b| {
                    matches!((src, dst), (IpAddr::V6(s), IpAddr::V6(d))
                        if b[..16] == s.octets() && b[16..] == d.octets())
                }));
                Ips::V6 { at: at as u32 }
            }
        };
        Early::Segment(EarlySegment {
            ips,
            ports: [seg.src.port(), seg.dst.port()],
            seq: seg.seq,
            ack: seg.ack,
            flags: seg.flags,
            window: seg.window,
            payload,
            payload_len: seg.payload_len,
        })
    }
}

impl EarlySegment {
    /// The captured payload, a slice of the packet's bytes `data`.
    pub fn payload<'a>(&self, data: &'a [u8]) -> &'a [u8] {
        let (from, to) = (self.payload.0 as usize, self.payload.1 as usize);
        data.get(from..to).unwrap_or(&[])
    }

    /// The segment again, borrowing the packet's bytes `data`.
    #[inline]
    pub fn segment<'a>(&self, ts: Timestamp, data: &'a [u8]) -> Segment<'a> {
        let (src, dst): (IpAddr, IpAddr) = match self.ips {
            Ips::V4(b) => (
                Ipv4Addr::new(b[0], b[1], b[2], b[3]).into(),
                Ipv4Addr::new(b[4], b[5], b[6], b[7]).into(),
            ),
            Ips::V6 { at } => {
                let at = at as usize;
                let b: [u8; 32] = data
                    .get(at..at + 32)
                    .and_then(|b| b.try_into().ok())
                    .unwrap_or([0; 32]);
                let half = |i: usize| -> [u8; 16] { b[i..i + 16].try_into().unwrap_or_default() };
                (
                    Ipv6Addr::from(half(0)).into(),
                    Ipv6Addr::from(half(16)).into(),
                )
            }
        };
        Segment {
            ts,
            src: SocketAddr::new(src, self.ports[0]),
            dst: SocketAddr::new(dst, self.ports[1]),
            seq: self.seq,
            ack: self.ack,
            flags: self.flags,
            window: self.window,
            payload: self.payload(data),
            payload_len: self.payload_len,
        }
    }
}

#[cfg(test)]
mod fuzz_regressions {
    use super::*;

    /// fuzz/regressions/decode_render/caplen-gt-wire-len: a record whose
    /// caplen exceeds its original length made the IPv4 length arithmetic
    /// underflow (`total - wire`, then `end - hlen`).
    #[test]
    fn caplen_greater_than_wire_len() {
        let mut p = vec![0u8; 12];
        p.extend_from_slice(&[0x08, 0x00, 0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0]);
        p.extend_from_slice(&[127, 0, 0, 1, 127, 0, 0, 1]);
        p.extend_from_slice(&[
            0, 1, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 2, 0xff, 0xff, 0, 0, 0, 0,
        ]);
        for wire in [0, 10, 20, 40, 53] {
            let pkt = Packet {
                ts: Timestamp::default(),
                wire_len: wire,
                data: &p,
            };
            assert_eq!(
                decode(LinkType::Ethernet, &pkt).err(),
                Some(Skip::Malformed)
            );
        }
        let pkt = Packet {
            ts: Timestamp::default(),
            wire_len: p.len() as u32,
            data: &p,
        };
        assert!(decode(LinkType::Ethernet, &pkt).is_ok());
        // The same over bare IPv6 (its payload length is clipped the same way).
        let mut v6 = vec![0x60, 0, 0, 0, 0, 20, 6, 64];
        v6.extend_from_slice(&[0; 32]);
        v6.extend_from_slice(&p[34..]);
        let pkt = Packet {
            ts: Timestamp::default(),
            wire_len: 30,
            data: &v6,
        };
        assert_eq!(decode(LinkType::Raw, &pkt).err(), Some(Skip::Malformed));
    }
}
