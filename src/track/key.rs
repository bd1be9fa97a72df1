//! The connection key (a canonical 4-tuple) and the port rule that names the
//! server when a capture starts mid-connection.

use std::net::{IpAddr, SocketAddr};

/// Both socket addresses of a TCP 4-tuple, smaller first, so both directions of
/// a connection give the same key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowKey {
    pub lo: SocketAddr,
    pub hi: SocketAddr,
}

impl FlowKey {
    pub fn new(a: SocketAddr, b: SocketAddr) -> FlowKey {
        if a <= b {
            FlowKey { lo: a, hi: b }
        } else {
            FlowKey { lo: b, hi: a }
        }
    }
}

/// A canonical 4-tuple packed into the bytes its address family needs
/// (address then port, big-endian, smaller endpoint first): the connection
/// table's key. IPv4 takes 12 bytes instead of the 64 of two `SocketAddr`s,
/// which is what lets a SYN flood of millions of tuples fit in memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TupleKey {
    V4([u8; 12]),
    V6([u8; 36]),
}

fn pack6(a: SocketAddr, out: &mut [u8]) {
    let ip = match a.ip() {
        IpAddr::V4(v) => v.to_ipv6_mapped(),
        IpAddr::V6(v) => v,
    };
    out[..16].copy_from_slice(&ip.octets());
    out[16..18].copy_from_slice(&a.port().to_be_bytes());
}

impl TupleKey {
    /// The key of the connection between `a` and `b`, in either direction.
    /// (A v4/v6 mix cannot come from one packet; it is packed as v6, and
    /// `endpoints` then gives the v4 side back as a mapped v6 address.)
    #[inline]
    pub fn new(a: SocketAddr, b: SocketAddr) -> TupleKey {
        if let (SocketAddr::V4(a), SocketAddr::V4(b)) = (a, b) {
            // Address then port, as 48-bit numbers: their order is
            // `SocketAddr`'s. Written as two whole words, so the hash and the
            // comparisons that read the key at once do not wait on byte stores.
            let n =
                |v: std::net::SocketAddrV4| u64::from(v.ip().to_bits()) << 16 | u64::from(v.port());
            let (a, b) = (n(a), n(b));
            let (lo, hi) = (a.min(b), a.max(b));
            let mut k4 = [0u8; 12];
            k4[..8].copy_from_slice(&(lo << 16 | hi >> 32).to_be_bytes());
            k4[8..].copy_from_slice(&(hi as u32).to_be_bytes());
            return TupleKey::V4(k4);
        }
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        let mut k6 = [0u8; 36];
        pack6(lo, &mut k6[..18]);
        pack6(hi, &mut k6[18..]);
        TupleKey::V6(k6)
    }

    /// (client, server), given whether the client is the smaller endpoint.
    pub fn client_server(&self, client_is_lo: bool) -> (SocketAddr, SocketAddr) {
        let (lo, hi) = self.endpoints();
        if client_is_lo {
            (lo, hi)
        } else {
            (hi, lo)
        }
    }

    /// The smaller and the larger endpoint, as `FlowKey` orders them.
    pub fn endpoints(&self) -> (SocketAddr, SocketAddr) {
        let v4 = |b: &[u8]| {
            SocketAddr::from(([b[0], b[1], b[2], b[3]], u16::from_be_bytes([b[4], b[5]])))
        };
        let v6 = |b: &[u8]| {
            let ip: [u8; 16] = b[..16].try_into().unwrap_or([0; 16]);
            let ip = std::net::Ipv6Addr::from(ip);
            SocketAddr::from((ip, u16::from_be_bytes([b[16], b[17]])))
        };
        match self {
            TupleKey::V4(k) => (v4(&k[..6]), v4(&k[6..])),
            TupleKey::V6(k) => (v6(&k[..18]), v6(&k[18..])),
        }
    }
}

/// Whether `dst` is the server of a connection whose handshake was not seen:
/// the side on a well-known port (< 1024) if exactly one is, else the lower
/// port; equal ports make the first packet's destination the server.
pub fn dst_is_server(src: SocketAddr, dst: SocketAddr) -> bool {
    let (sp, dp) = (src.port(), dst.port());
    match (sp < 1024, dp < 1024) {
        (false, true) => true,
        (true, false) => false,
        _ => dp <= sp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn key_is_direction_free() {
        let (x, y) = (a("10.0.0.1:5000"), a("10.0.0.2:80"));
        assert_eq!(FlowKey::new(x, y), FlowKey::new(y, x));
    }

    #[test]
    fn tuple_key_round_trips_and_is_direction_free() {
        for (x, y) in [
            ("10.0.0.1:5000", "10.0.0.2:80"),
            ("127.0.0.1:65535", "127.0.0.1:0"),
            // The address decides before the port.
            ("10.0.0.2:1", "10.0.0.1:65535"),
            ("255.255.255.255:0", "0.0.0.0:65535"),
            ("[::1]:8080", "[fe80::1]:40000"),
            ("[2001:db8::1]:1", "[2001:db8::1]:2"),
        ] {
            let (x, y) = (a(x), a(y));
            let k = TupleKey::new(x, y);
            assert_eq!(k, TupleKey::new(y, x));
            let f = FlowKey::new(x, y);
            assert_eq!(k.endpoints(), (f.lo, f.hi));
        }
        assert!(matches!(
            TupleKey::new(a("10.0.0.1:1"), a("10.0.0.2:2")),
            TupleKey::V4(_)
        ));
        assert_ne!(
            TupleKey::new(a("10.0.0.1:1"), a("10.0.0.2:2")),
            TupleKey::new(a("10.0.0.1:1"), a("10.0.0.3:2"))
        );
    }

    #[test]
    fn server_by_port() {
        assert!(dst_is_server(a("10.0.0.1:54321"), a("10.0.0.2:8080")));
        assert!(!dst_is_server(a("10.0.0.2:8080"), a("10.0.0.1:54321")));
        // A well-known port beats a lower unprivileged one.
        assert!(dst_is_server(a("10.0.0.1:1024"), a("10.0.0.2:1023")));
        assert!(!dst_is_server(a("10.0.0.2:443"), a("10.0.0.1:2000")));
        // Equal ports: the first packet's destination.
        assert!(dst_is_server(a("10.0.0.1:7000"), a("10.0.0.2:7000")));
    }
}
