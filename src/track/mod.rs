//! Track: follow every TCP connection through the RFC 793 state machine on both endpoints.
//!
//! Input: decoded `Segment`s in capture order, with their packet timestamps.
//! Output: per segment, which connection it belongs to and which state changes it
//! caused (`Observed`); per connection, a compact `ConnRecord` (roles, handshake,
//! who closed, TIME-WAIT holder and deadline, counters). Pure: no clock, no I/O.

pub mod seq;
pub mod state;

pub use seq::SeqNum;
pub use state::{step, Anomaly, EndpointState, Event};
