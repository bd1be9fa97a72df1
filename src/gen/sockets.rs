//! The kernel's TCP socket table (`/proc/net/tcp` and `/proc/net/tcp6`),
//! read to count the TIME-WAIT sockets a run leaves behind.

use std::collections::HashSet;

/// Kernel TCP states (`include/net/tcp_states.h`) as they appear in the `st` column.
const TCP_TIME_WAIT: u8 = 0x06;
const TCP_CLOSE: u8 = 0x07;
const TCP_LISTEN: u8 = 0x0A;

/// One row of the socket table, reduced to what the generator needs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SocketRow {
    /// Local address as the kernel prints it (hex), with the port decoded.
    pub local_addr: String,
    pub local_port: u16,
    pub remote_addr: String,
    pub remote_port: u16,
    /// Kernel state number (`0x06` = TIME_WAIT).
    pub state: u8,
}

impl SocketRow {
    pub fn is_time_wait(&self) -> bool {
        self.state == TCP_TIME_WAIT
    }

    /// A socket still in the middle of a connection or its closing handshake
    /// (anything but TIME_WAIT, CLOSE and LISTEN).
    pub fn is_in_flight(&self) -> bool {
        !matches!(self.state, TCP_TIME_WAIT | TCP_CLOSE | TCP_LISTEN)
    }

    /// The server's end of a connection on `port` (local port == `port`), the
    /// client's end (remote port == `port`), or `None` for unrelated sockets.
    pub fn side(&self, port: u16) -> Option<Side> {
        if self.local_port == port {
            Some(Side::Server)
        } else if self.remote_port == port {
            Some(Side::Client)
        } else {
            None
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    Client,
    Server,
}

/// Parses one table (`/proc/net/tcp` or `/proc/net/tcp6` format); bad lines are skipped.
pub fn parse_table(text: &str) -> Vec<SocketRow> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let _sl = fields.next()?;
            let (local_addr, local_port) = split_endpoint(fields.next()?)?;
            let (remote_addr, remote_port) = split_endpoint(fields.next()?)?;
            let state = u8::from_str_radix(fields.next()?, 16).ok()?;
            Some(SocketRow {
                local_addr,
                local_port,
                remote_addr,
                remote_port,
                state,
            })
        })
        .collect()
}

fn split_endpoint(field: &str) -> Option<(String, u16)> {
    let (addr, port) = field.split_once(':')?;
    Some((addr.to_string(), u16::from_str_radix(port, 16).ok()?))
}

/// All TCP sockets (IPv4 and IPv6) the kernel lists; empty where `/proc` is unavailable.
pub fn read_sockets() -> Vec<SocketRow> {
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .flat_map(|text| parse_table(&text))
        .collect()
}

/// TIME-WAIT sockets of connections to or from `port`, split by side.
pub fn time_wait_rows(port: u16) -> HashSet<(SocketRow, Side)> {
    read_sockets()
        .into_iter()
        .filter(SocketRow::is_time_wait)
        .filter_map(|row| row.side(port).map(|side| (row, side)))
        .collect()
}

/// Counts (client side, server side) in a set from [`time_wait_rows`].
pub fn count_sides<'a>(rows: impl IntoIterator<Item = &'a (SocketRow, Side)>) -> (u64, u64) {
    rows.into_iter()
        .fold((0, 0), |(client, server), (_, side)| match side {
            Side::Client => (client + 1, server),
            Side::Server => (client, server + 1),
        })
}

/// Number of sockets on `port` still established or closing (not yet TIME-WAIT/closed).
pub fn in_flight(port: u16) -> usize {
    read_sockets()
        .iter()
        .filter(|row| row.is_in_flight() && row.side(port).is_some())
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:D431 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0000000000000000
   2: 0100007F:D432 0100007F:1F90 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0000000000000000
   3: 0100007F:D433 0100007F:1F91 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0000000000000000
   4: 0100007F:D434 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 7 1 0000000000000000
garbage line
";

    #[test]
    fn parses_and_classifies() {
        let rows = parse_table(SAMPLE);
        assert_eq!(rows.len(), 5);
        assert_eq!(rows[0].local_port, 8080);
        assert_eq!(rows[0].state, TCP_LISTEN);
        assert_eq!(rows[1].side(8080), Some(Side::Server));
        assert_eq!(rows[2].side(8080), Some(Side::Client));
        assert_eq!(rows[3].side(8080), None);
        let tw: Vec<_> = rows
            .iter()
            .filter(|r| r.is_time_wait())
            .filter_map(|r| r.side(8080).map(|s| (r.clone(), s)))
            .collect();
        assert_eq!(count_sides(&tw), (1, 1));
        assert!(rows[4].is_in_flight());
        assert!(!rows[0].is_in_flight());
    }
}
