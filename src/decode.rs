//! Decode: link layer → IP → TCP, zero-copy.
//!
//! Owns the link-type table and the `Segment` view handed to later stages.
//! A `Segment` borrows the packet bytes; nothing here allocates.

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
