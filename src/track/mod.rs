//! Track: follow every TCP connection through the RFC 793 state machine on both endpoints.
//!
//! Input: decoded `Segment`s in capture order, with their packet timestamps.
//! Output: per segment, which connection it belongs to and which state changes it
//! caused (`Observed`); per connection, a compact `ConnRecord` (roles, handshake,
//! who closed, TIME-WAIT holder and deadline, counters). Pure: no clock, no I/O.
//!
//! - `seq`: wrap-around sequence numbers (`SeqNum`).
//! - `state`: the endpoint state enum and the one transition function `step`.
//! - `key`: the canonical 4-tuple and the server-by-port rule.
//! - `table`: the connection table (`Tracker`) and its records.

pub mod key;
pub mod seq;
pub mod state;
pub mod table;

pub use key::{FlowKey, TupleKey};
pub use seq::SeqNum;
pub use state::{step, Anomaly, EndpointState, Event};
pub use table::{
    Close, ConnId, ConnRecord, Handshake, Observed, Role, TimeWaitHolder, TrackConfig, TrackStats,
    Tracker, Transition, Transitions,
};
