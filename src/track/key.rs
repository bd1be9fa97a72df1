//! The connection key (a canonical 4-tuple) and the port rule that names the
//! server when a capture starts mid-connection.

use std::net::SocketAddr;

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
