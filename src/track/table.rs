//! The connection table: one entry per 4-tuple, each holding both endpoints'
//! RFC 793 states, moved by `state::step` as segments are seen.
//!
//! Inputs: `Segment`s in capture order (time = packet timestamps only, never the
//! system clock). Outputs: an `Observed` per segment and a `ConnRecord` per
//! connection.
//!
//! Rules (issue #3):
//! - The SYN sender is the client. A connection first seen at its SYN-ACK has the
//!   SYN-ACK's receiver as client (handshake `partial`). A connection first seen
//!   mid-stream takes the well-known/lower port side as server (`key::dst_is_server`)
//!   until `set_client` says otherwise, and its handshake is `missing`.
//! - A SYN or SYN-ACK with the ISN already seen is a retransmission (same
//!   connection). A SYN with another ISN starts a new connection on the 4-tuple
//!   (as tshark's `tcp.stream` does); if the old one was not over it is flagged
//!   `replaced_while_open`. A SYN answered by RST is `refused`.
//! - TIME-WAIT starts when the active closer ACKs the peer's FIN (or, after a
//!   simultaneous close, when CLOSING gets its FIN ACKed) and lasts
//!   `time_wait_secs`; a RST or a new SYN on the 4-tuple ends it early.
//! - Close: `refused` beats everything; a RST sent before both FINs were
//!   exchanged makes it `reset-by-*`; otherwise crossed FINs are `simultaneous`
//!   and the first FIN's sender is the closer, even if the peer never answered
//!   with its own FIN (a CLOSE_WAIT leak shows in the final states). `open` means
//!   no FIN and no RST at all.
//! - Memory: `drain_ended` hands out finished connections; each leaves a
//!   tombstone (a compact `Tomb`) so late packets and TIME-WAIT still attach
//!   to it, dropped `time_wait_secs` after its last packet and TIME-WAIT. A
//!   connection that has seen only its SYN is a compact `Embryo` (a SYN flood
//!   costs ~120 bytes per tuple). The cap (`max_connections`) counts
//!   connections not yet drained; reaching it, a half-open embryo is reported
//!   early (evicted) to make room, and only when there is none is the new
//!   connection refused.
//!
//! Invariants: `Clock::tw_now` equals the number of endpoints in TIME_WAIT across
//! the table; every ConnId is issued once, in order of first packet; a drained
//! connection is never returned again.

use super::key::{dst_is_server, TupleKey};
use super::seq::SeqNum;
use super::state::{step, Anomaly, EndpointState, Event};
use crate::capture::Timestamp;
use crate::decode::{Segment, TcpFlags};
use hashbrown::HashTable;
use rustc_hash::FxHasher;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;

/// A connection number: 1-based, in order of first packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Gives a field-less enum its contract text form: `name()`, `Display`, `Serialize`.
macro_rules! text_enum {
    ($t:ident { $($v:ident => $s:literal),* $(,)? }) => {
        impl $t {
            /// The text form used by every renderer (DESIGN.md JSON contract).
            pub fn name(self) -> &'static str {
                match self { $($t::$v => $s),* }
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }
    };
}

/// Which end of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    Client,
    Server,
}
text_enum!(Role { Client => "client", Server => "server" });

impl Role {
    /// The other end.
    pub fn peer(self) -> Role {
        match self {
            Role::Client => Role::Server,
            Role::Server => Role::Client,
        }
    }
    /// Index into `[client, server]` arrays.
    pub fn idx(self) -> usize {
        match self {
            Role::Client => 0,
            Role::Server => 1,
        }
    }
    const BOTH: [Role; 2] = [Role::Client, Role::Server];
}

/// How much of the three-way handshake the capture holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Handshake {
    /// SYN, SYN-ACK and the ACK of the SYN-ACK.
    Complete,
    /// The connection starts in the capture but the handshake did not finish
    /// (first seen at the SYN-ACK, unanswered SYN, refused ...).
    Partial,
    /// The capture starts mid-connection (Zeek's `OTH`).
    Missing,
}
text_enum!(Handshake { Complete => "complete", Partial => "partial", Missing => "missing" });

/// Who ended the connection, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Close {
    /// The client sent the first FIN (active closer).
    Client,
    /// The server sent the first FIN.
    Server,
    /// Both FINs crossed: each was sent before the other arrived.
    Simultaneous,
    /// The client sent a RST before both FINs were exchanged.
    ResetByClient,
    /// The server sent a RST before both FINs were exchanged.
    ResetByServer,
    /// No FIN and no RST in the capture.
    Open,
    /// The SYN was answered by RST.
    Refused,
}
text_enum!(Close {
    Client => "client",
    Server => "server",
    Simultaneous => "simultaneous",
    ResetByClient => "reset-by-client",
    ResetByServer => "reset-by-server",
    Open => "open",
    Refused => "refused",
});

/// Which endpoints entered TIME_WAIT (whether or not it has expired since).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimeWaitHolder {
    Client,
    Server,
    Both,
    None,
}
text_enum!(TimeWaitHolder { Client => "client", Server => "server", Both => "both", None => "none" });

/// Tracker settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrackConfig {
    /// 2MSL to assume, in seconds (Linux: 60).
    pub time_wait_secs: f64,
    /// Most connections held at once (not yet drained); beyond it new
    /// connections are ignored and counted in `TrackStats::dropped_at_cap`.
    pub max_connections: usize,
}

impl Default for TrackConfig {
    fn default() -> Self {
        TrackConfig {
            time_wait_secs: 60.0,
            max_connections: 1_000_000,
        }
    }
}

/// One endpoint's state change caused by a segment (for `--annotate`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    pub role: Role,
    pub from: EndpointState,
    pub to: EndpointState,
}

/// A segment's state changes: at most four (each endpoint's step, and a
/// FIN's late ACK), so kept inline — no allocation per packet.
pub type Transitions = smallvec::SmallVec<[Transition; 4]>;

/// What the tracker made of one segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    pub conn: ConnId,
    /// The sender's role.
    pub from: Role,
    /// This segment opened a new ConnId.
    pub new_connection: bool,
    /// State changes, sender's first (at most four: inline, never allocated).
    pub transitions: Transitions,
    /// The segment did something no arc of the diagram allows (or had bogus flags).
    pub anomaly: bool,
}

/// Compact record of one connection (also for closed ones).
#[derive(Clone, Debug, PartialEq)]
pub struct ConnRecord {
    pub id: ConnId,
    pub client: SocketAddr,
    pub server: SocketAddr,
    /// First and last packet.
    pub start: Timestamp,
    pub end: Timestamp,
    pub handshake: Handshake,
    pub close: Close,
    pub client_state: EndpointState,
    pub server_state: EndpointState,
    pub time_wait: TimeWaitHolder,
    /// When the (last) TIME-WAIT ends: entry + time_wait_secs, or the packet
    /// that ended it early (RST, new SYN on the 4-tuple).
    pub time_wait_until: Option<Timestamp>,
    /// When each endpoint entered TIME_WAIT, `[client, server]`.
    pub time_wait_entered: [Option<Timestamp>; 2],
    /// Segments sent by `[client, server]`.
    pub packets: [u64; 2],
    /// Payload bytes (on-wire length) sent by `[client, server]`.
    pub bytes: [u64; 2],
    /// Retransmitted SYNs and SYN-ACKs (same ISN).
    pub syn_retransmits: u32,
    /// Segments the state machine found unexpected or bogus.
    pub anomalies: u32,
    /// Who sent the first FIN, and when.
    pub first_fin: Option<(Role, Timestamp)>,
    /// Who sent the first RST, and when.
    pub first_rst: Option<(Role, Timestamp)>,
    /// Payload kept flowing towards an endpoint after it had sent its FIN.
    pub half_close: bool,
    /// This connection reuses the 4-tuple of an earlier one in the capture.
    pub reused_tuple: bool,
    /// A new SYN took over the 4-tuple before this connection was seen to end.
    pub replaced_while_open: bool,
}

/// Table-wide counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrackStats {
    /// ConnIds issued.
    pub connections: u64,
    /// Most endpoints in TIME_WAIT at once, by packet timestamps.
    pub time_wait_peak: u64,
    /// Endpoints in TIME_WAIT now; after `finish`, at the end of the capture.
    pub time_wait_at_end: u64,
    /// Segments ignored because they would have opened a connection while the
    /// table held `max_connections` and no half-open one could make room.
    pub dropped_at_cap: u64,
    /// Half-open connections (a SYN and nothing else) reported early to make
    /// room at the cap.
    pub evicted: u64,
    /// Connections whose SYN was answered by RST.
    pub refused: u64,
    /// Endpoints that entered TIME_WAIT, `[client, server]` (JSON `totals.time_wait`).
    pub time_wait_entered: [u64; 2],
    /// Connections held and not yet drained.
    pub tracked: u64,
    /// Segments seen (including dropped ones).
    pub segments: u64,
    /// Segments with an unexpected or bogus event.
    pub anomalies: u64,
    /// Connections that reopened a 4-tuple used earlier in the capture.
    pub reused_tuples: u64,
}

// ---------------------------------------------------------------------------
// Internals
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
struct Endpoint {
    state: EndpointState,
    /// Sequence number of its SYN (or SYN-ACK).
    isn: Option<SeqNum>,
    /// Sequence number its FIN occupies (seq + payload length of the FIN segment).
    fin: Option<SeqNum>,
    /// Highest acknowledgment number it has sent.
    ack_sent: Option<SeqNum>,
    tw_until: Option<Timestamp>,
    tw_entered: Option<Timestamp>,
    packets: u64,
    bytes: u64,
}

impl Endpoint {
    fn new(state: EndpointState) -> Endpoint {
        Endpoint {
            state,
            isn: None,
            fin: None,
            ack_sent: None,
            tw_until: None,
            tw_entered: None,
            packets: 0,
            bytes: 0,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum TimerKind {
    /// Some endpoint's TIME_WAIT may end now.
    TimeWait,
    /// A drained connection's tombstone may be dropped now.
    Purge,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Timer {
    at: Timestamp,
    conn: ConnId,
    /// The connection's slot in the table (checked against `conn`).
    slot: u32,
    kind: TimerKind,
}

/// Pending timers, earliest first (by `Timer`'s order: time, then
/// connection, slot, kind). Deadlines are packet times plus a constant, so
/// they nearly always arrive in order: those go to the back of a queue,
/// which touches only its tail, and only the rest to a heap (a heap of
/// hundreds of thousands reads a parent far from its end on every push, a
/// cache miss each). The earlier of the two fronts comes out first.
#[derive(Debug, Default)]
struct Timers {
    in_order: VecDeque<Timer>,
    out_of_order: BinaryHeap<Reverse<Timer>>,
}

impl Timers {
    fn push(&mut self, t: Timer) {
        if self.in_order.back().is_none_or(|last| *last <= t) {
            self.in_order.push_back(t);
        } else {
            self.out_of_order.push(Reverse(t));
        }
    }

    fn peek(&self) -> Option<Timer> {
        match (self.in_order.front(), self.out_of_order.peek()) {
            (Some(a), Some(Reverse(b))) => Some(*a.min(b)),
            (Some(a), None) => Some(*a),
            (None, Some(Reverse(b))) => Some(*b),
            (None, None) => None,
        }
    }

    fn pop(&mut self) -> Option<Timer> {
        let from_queue = match (self.in_order.front(), self.out_of_order.peek()) {
            (Some(a), Some(Reverse(b))) => a <= b,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if from_queue {
            self.in_order.pop_front()
        } else {
            self.out_of_order.pop().map(|Reverse(t)| t)
        }
    }

    /// Whether a timer is due at `now`: checked on every segment, so it
    /// compares times only (`peek` orders whole timers).
    #[inline]
    fn any_due(&self, now: Timestamp) -> bool {
        self.in_order.front().is_some_and(|t| t.at <= now)
            || self.out_of_order.peek().is_some_and(|t| t.0.at <= now)
    }

    #[cfg(debug_assertions)]
    fn is_empty(&self) -> bool {
        self.in_order.is_empty() && self.out_of_order.is_empty()
    }
}

/// Time-driven state shared by all connections. Timers are checked lazily: an
/// entry is acted on only if the connection still matches it.
#[derive(Debug)]
struct Clock {
    secs: f64,
    timers: Timers,
    tw_now: u64,
    tw_peak: u64,
    tw_entered: [u64; 2],
}

#[derive(Clone, Debug, PartialEq)]
struct Conn {
    id: ConnId,
    /// Where the table keeps it (for its timers).
    slot: u32,
    client: SocketAddr,
    server: SocketAddr,
    /// `[client, server]`.
    ep: [Endpoint; 2],
    start: Timestamp,
    end: Timestamp,
    saw_syn: bool,
    saw_synack: bool,
    handshake_done: bool,
    syn_retransmits: u32,
    anomalies: u32,
    first_fin: Option<(Role, Timestamp)>,
    first_rst: Option<(Role, Timestamp)>,
    reset_by: Option<Role>,
    refused: bool,
    simultaneous: bool,
    half_close: bool,
    reused_tuple: bool,
    replaced_while_open: bool,
    /// On the ended queue, or already drained.
    queued: bool,
    /// Returned by `drain_ended`; kept only as a tombstone for late packets.
    drained: bool,
    /// Drained in TIME-WAIT: its purge timer is pushed when the TIME-WAIT
    /// timer ends it, not at the drain (see `drain_ended_into`).
    purge_deferred: bool,
}

/// What an existing 4-tuple entry makes of a new segment.
enum Fit {
    Same { syn_retransmit: bool },
    NewIncarnation,
}

/// SYN+FIN, SYN+RST, FIN+RST, or none of SYN/ACK/RST: flags no TCP sends.
fn is_bogus(f: TcpFlags) -> bool {
    (f.syn() && (f.fin() || f.rst())) || (f.fin() && f.rst()) || !(f.syn() || f.ack() || f.rst())
}

/// The segment's acknowledgment number covers a FIN at `fin` (wrap-safe).
fn acks_fin(seg: &Segment, fin: Option<SeqNum>) -> bool {
    match fin {
        // The FIN occupies one sequence number: covered when ack >= fin + 1, i.e. ack > fin.
        Some(fin) => seg.flags.ack() && SeqNum(seg.ack) > fin,
        None => false,
    }
}

/// The segment as its sender's step; `peer_fin` is the receiver's FIN, if seen.
fn send_event(seg: &Segment, peer_fin: Option<SeqNum>) -> Event {
    let f = seg.flags;
    if is_bogus(f) {
        Event::Bogus
    } else if f.rst() {
        Event::SendRst
    } else if f.syn() {
        if f.ack() {
            Event::SendSynAck
        } else {
            Event::SendSyn
        }
    } else if f.fin() {
        if peer_fin.is_some() && !acks_fin(seg, peer_fin) {
            Event::SendFinCrossed
        } else {
            Event::SendFin
        }
    } else if acks_fin(seg, peer_fin) {
        Event::SendAckOfFin
    } else {
        Event::SendAck
    }
}

/// The segment as its receiver's step; `own_fin` is the receiver's FIN, if sent.
fn recv_event(seg: &Segment, own_fin: Option<SeqNum>) -> Event {
    let f = seg.flags;
    if is_bogus(f) {
        Event::Bogus
    } else if f.rst() {
        Event::RecvRst
    } else if f.syn() {
        if f.ack() {
            Event::RecvSynAck
        } else {
            Event::RecvSyn
        }
    } else if f.fin() {
        if acks_fin(seg, own_fin) {
            Event::RecvFinAckOfFin
        } else {
            Event::RecvFin
        }
    } else if acks_fin(seg, own_fin) {
        Event::RecvAckOfFin
    } else {
        Event::RecvAck
    }
}

impl Conn {
    /// A connection opened by `seg`, its first packet.
    fn new(id: ConnId, slot: u32, seg: &Segment) -> Conn {
        use EndpointState::*;
        let f = seg.flags;
        let clean = !is_bogus(f);
        let (client, server, cs, ss) = if clean && f.syn() && !f.ack() {
            // The SYN sender is the client; the server is assumed listening.
            (seg.src, seg.dst, Closed, Listen)
        } else if clean && f.syn() {
            // First seen at the SYN-ACK: its receiver sent the (unseen) SYN.
            (seg.dst, seg.src, SynSent, Listen)
        } else if dst_is_server(seg.src, seg.dst) {
            (seg.src, seg.dst, Established, Established)
        } else {
            (seg.dst, seg.src, Established, Established)
        };
        let mut ep = [Endpoint::new(cs), Endpoint::new(ss)];
        if clean && f.syn() && f.ack() {
            // The SYN-ACK acknowledges the client's ISN: a SYN that shows up
            // later in the file (reordered capture) is recognised as that one.
            ep[0].isn = Some(SeqNum(seg.ack.wrapping_sub(1)));
        }
        Conn::unseen(id, slot, (client, server), ep, seg.ts)
    }

    /// A connection between `client` and `server` with endpoints `ep`,
    /// first and last seen at `at`, and nothing else seen yet: the base of
    /// a new one and of the compact forms made whole.
    #[inline]
    fn unseen(
        id: ConnId,
        slot: u32,
        (client, server): (SocketAddr, SocketAddr),
        ep: [Endpoint; 2],
        at: Timestamp,
    ) -> Conn {
        Conn {
            id,
            slot,
            client,
            server,
            ep,
            start: at,
            end: at,
            saw_syn: false,
            saw_synack: false,
            handshake_done: false,
            syn_retransmits: 0,
            anomalies: 0,
            first_fin: None,
            first_rst: None,
            reset_by: None,
            refused: false,
            simultaneous: false,
            half_close: false,
            reused_tuple: false,
            replaced_while_open: false,
            queued: false,
            drained: false,
            purge_deferred: false,
        }
    }

    fn in_time_wait(&self) -> bool {
        self.ep.iter().any(|e| e.state == EndpointState::TimeWait)
    }

    fn role_of(&self, addr: SocketAddr) -> Option<Role> {
        if addr == self.client {
            Some(Role::Client)
        } else if addr == self.server {
            Some(Role::Server)
        } else {
            None
        }
    }

    /// Both endpoints closed, listening or in TIME_WAIT.
    fn is_over(&self) -> bool {
        self.ep.iter().all(|e| e.state.is_over())
    }

    /// Does `seg` continue this connection or open a new one on its 4-tuple?
    fn fit(&self, seg: &Segment) -> Fit {
        let f = seg.flags;
        if is_bogus(f) || !f.syn() {
            return Fit::Same {
                syn_retransmit: false,
            };
        }
        let isn = Some(SeqNum(seg.seq));
        let sender = self.role_of(seg.src);
        if !f.ack() {
            // A SYN: the same ISN from the same side is a retransmission.
            if sender == Some(Role::Client) && self.ep[0].isn == isn {
                return Fit::Same {
                    // Not a retransmission when the SYN-ACK came first in the file.
                    syn_retransmit: self.saw_syn,
                };
            }
            // Simultaneous open: the server side's own SYN while the client waits.
            if sender == Some(Role::Server)
                && self.ep[0].state == EndpointState::SynSent
                && (self.ep[1].isn.is_none() || self.ep[1].isn == isn)
            {
                return Fit::Same {
                    syn_retransmit: self.ep[1].isn == isn,
                };
            }
            return Fit::NewIncarnation;
        }
        // A SYN-ACK: same ISN is a retransmission; another ISN opens a new
        // connection only once this one is over.
        let own = sender.map(|r| self.ep[r.idx()].isn).unwrap_or(None);
        if own == isn {
            Fit::Same {
                syn_retransmit: true,
            }
        } else if self.is_over() {
            Fit::NewIncarnation
        } else {
            Fit::Same {
                syn_retransmit: false,
            }
        }
    }

    /// Move one endpoint with `step` and book-keep TIME-WAIT; the one place
    /// endpoint states change.
    fn apply(
        &mut self,
        role: Role,
        ev: Event,
        ts: Timestamp,
        clock: &mut Clock,
        out: &mut Transitions,
    ) -> Option<Anomaly> {
        use EndpointState::TimeWait;
        let id = self.id;
        let ep = &mut self.ep[role.idx()];
        let from = ep.state;
        let (to, anomaly) = step(from, ev);
        // Entering TIME_WAIT, or re-ACKing a retransmitted FIN in it, (re)starts 2MSL.
        if to == TimeWait && (from != TimeWait || ev == Event::SendAckOfFin) {
            let until = ts.plus_secs(clock.secs);
            ep.tw_until = Some(until);
            clock.timers.push(Timer {
                at: until,
                conn: id,
                slot: self.slot,
                kind: TimerKind::TimeWait,
            });
        }
        if from != to {
            ep.state = to;
            out.push(Transition { role, from, to });
            if from == TimeWait {
                clock.tw_now = clock.tw_now.saturating_sub(1);
                // Ended early (RST, new SYN) or on time: record the actual end.
                ep.tw_until = Some(ts);
            }
            if to == TimeWait {
                clock.tw_now += 1;
                clock.tw_peak = clock.tw_peak.max(clock.tw_now);
                if ep.tw_entered.is_none() {
                    ep.tw_entered = Some(ts);
                    clock.tw_entered[role.idx()] += 1;
                }
            }
        }
        anomaly
    }

    /// Feed one segment of this connection. Returns (sender, transitions, anomaly).
    fn on_segment(
        &mut self,
        seg: &Segment,
        clock: &mut Clock,
        syn_retransmit: bool,
    ) -> (Role, Transitions, bool) {
        // Most segments: data and ACKs with both ends ESTABLISHED and no FIN
        // sent. For them the general path takes ESTABLISHED → ESTABLISHED on
        // both ends and records only the ACK and the counters: so does this,
        // checked against the general path in debug builds (tests, fuzzing).
        let flags = seg.flags.0 & (TcpFlags::SYN | TcpFlags::FIN | TcpFlags::RST | TcpFlags::ACK);
        if flags == TcpFlags::ACK
            && !syn_retransmit
            && self.ep[0].state == EndpointState::Established
            && self.ep[1].state == EndpointState::Established
            && self.ep[0].fin.is_none()
            && self.ep[1].fin.is_none()
        {
            #[cfg(debug_assertions)]
            let twin = {
                let mut twin = self.clone();
                let mut scratch = Clock::new(clock.secs);
                let out = twin.on_segment_general(seg, &mut scratch, false);
                assert!(scratch.timers.is_empty() && scratch.tw_now == 0);
                (twin, out)
            };
            let sender = if seg.src == self.client {
                Role::Client
            } else {
                Role::Server
            };
            let ep = &mut self.ep[sender.idx()];
            let a = SeqNum(seg.ack);
            if ep.ack_sent.is_none_or(|prev| a > prev) {
                ep.ack_sent = Some(a);
            }
            ep.packets += 1;
            ep.bytes += u64::from(seg.payload_len);
            self.start = self.start.min(seg.ts);
            self.end = self.end.max(seg.ts);
            let out = (sender, Transitions::new(), false);
            #[cfg(debug_assertions)]
            assert_eq!((&twin.0, &twin.1), (&*self, &out));
            return out;
        }
        self.on_segment_general(seg, clock, syn_retransmit)
    }

    fn on_segment_general(
        &mut self,
        seg: &Segment,
        clock: &mut Clock,
        syn_retransmit: bool,
    ) -> (Role, Transitions, bool) {
        let f = seg.flags;
        let ts = seg.ts;
        let sender = if seg.src == self.client {
            Role::Client
        } else {
            Role::Server
        };
        let receiver = sender.peer();
        let (si, ri) = (sender.idx(), receiver.idx());
        let (mut send_ev, mut recv_ev) = (
            send_event(seg, self.ep[ri].fin),
            recv_event(seg, self.ep[ri].fin),
        );
        // RFC 793 §3.9 (SYN-SENT): a RST is acceptable only if it acknowledges
        // the SYN; any other (e.g. an injected one) is dropped, so it moves nobody.
        if f.rst()
            && self.ep[ri].state == EndpointState::SynSent
            && !(f.ack() && self.ep[ri].isn.is_some_and(|i| SeqNum(seg.ack) == i + 1))
        {
            (send_ev, recv_ev) = (Event::Bogus, Event::Bogus);
        }
        let client_before = self.ep[0].state;

        let mut out = Transitions::new();
        let a1 = self.apply(sender, send_ev, ts, clock, &mut out);
        let a2 = self.apply(receiver, recv_ev, ts, clock, &mut out);
        let anomaly = a1.is_some() || a2.is_some();

        if send_ev != Event::Bogus {
            if f.syn() {
                if self.ep[si].isn.is_none() {
                    self.ep[si].isn = Some(SeqNum(seg.seq));
                }
                if f.ack() {
                    self.saw_synack = true;
                } else {
                    self.saw_syn = true;
                }
            }
            if f.fin() {
                if self.ep[si].fin.is_none() {
                    self.ep[si].fin = Some(SeqNum(seg.seq) + seg.payload_len);
                }
                if self.first_fin.is_none() {
                    self.first_fin = Some((sender, ts));
                }
                // Reordered capture (seen on loaded multi-core loopback): the
                // receiver's ACK of this FIN was captured before the FIN. It
                // has acknowledged it, so it takes that step now.
                let fin = self.ep[si].fin;
                if self.ep[ri]
                    .ack_sent
                    .is_some_and(|a| fin.is_some_and(|f| a > f))
                {
                    let late = self.apply(receiver, Event::SendAckOfFin, ts, clock, &mut out);
                    // ... and the FIN's sender received that ACK.
                    let late2 = self.apply(sender, Event::RecvAckOfFin, ts, clock, &mut out);
                    if late.is_some() || late2.is_some() {
                        self.anomalies += 1;
                    }
                }
            }
            if f.ack() {
                let a = SeqNum(seg.ack);
                if self.ep[si].ack_sent.is_none_or(|prev| a > prev) {
                    self.ep[si].ack_sent = Some(a);
                }
            }
            if f.rst() {
                if self.first_rst.is_none() {
                    self.first_rst = Some((sender, ts));
                }
                if sender == Role::Server && client_before == EndpointState::SynSent {
                    // RFC 793 §3.4: a SYN answered by RST (no listener).
                    self.refused = true;
                } else if self.reset_by.is_none()
                    && !self.refused
                    && !(self.ep[0].fin.is_some() && self.ep[1].fin.is_some())
                {
                    // A RST before both FINs were exchanged is how this connection ended.
                    self.reset_by = Some(sender);
                }
            }
            if seg.payload_len > 0 && self.ep[ri].fin.is_some() {
                self.half_close = true;
            }
        }
        for t in &out {
            if t.from == EndpointState::SynReceived
                && t.to == EndpointState::Established
                && t.role == Role::Server
            {
                self.handshake_done = true;
            }
            if t.to == EndpointState::Closing {
                self.simultaneous = true;
            }
        }
        if syn_retransmit {
            self.syn_retransmits += 1;
        }
        if anomaly {
            self.anomalies += 1;
        }
        self.ep[si].packets += 1;
        self.ep[si].bytes += u64::from(seg.payload_len);
        self.start = self.start.min(ts);
        self.end = self.end.max(ts);
        (sender, out, anomaly)
    }

    fn handshake(&self) -> Handshake {
        if self.saw_syn && self.saw_synack && self.handshake_done {
            Handshake::Complete
        } else if self.saw_syn || self.saw_synack {
            Handshake::Partial
        } else {
            Handshake::Missing
        }
    }

    fn close(&self) -> Close {
        let by = |r: Role, client: Close, server: Close| match r {
            Role::Client => client,
            Role::Server => server,
        };
        if self.refused {
            Close::Refused
        } else if let Some(r) = self.reset_by {
            by(r, Close::ResetByClient, Close::ResetByServer)
        } else if self.simultaneous {
            Close::Simultaneous
        } else if let Some((r, _)) = self.first_fin {
            by(r, Close::Client, Close::Server)
        } else {
            Close::Open
        }
    }

    fn record(&self) -> ConnRecord {
        let [c, s] = &self.ep;
        let time_wait = match (c.tw_entered.is_some(), s.tw_entered.is_some()) {
            (true, true) => TimeWaitHolder::Both,
            (true, false) => TimeWaitHolder::Client,
            (false, true) => TimeWaitHolder::Server,
            (false, false) => TimeWaitHolder::None,
        };
        let time_wait_until = self
            .ep
            .iter()
            .filter(|e| e.tw_entered.is_some())
            .filter_map(|e| e.tw_until)
            .max();
        ConnRecord {
            id: self.id,
            client: self.client,
            server: self.server,
            start: self.start,
            end: self.end,
            handshake: self.handshake(),
            close: self.close(),
            client_state: c.state,
            server_state: s.state,
            time_wait,
            time_wait_until,
            time_wait_entered: [c.tw_entered, s.tw_entered],
            packets: [c.packets, s.packets],
            bytes: [c.bytes, s.bytes],
            syn_retransmits: self.syn_retransmits,
            anomalies: self.anomalies,
            first_fin: self.first_fin,
            first_rst: self.first_rst,
            half_close: self.half_close,
            reused_tuple: self.reused_tuple,
            replaced_while_open: self.replaced_while_open,
        }
    }

    /// Exchange client and server (a mid-stream guess corrected by HTTP).
    fn swap_roles(&mut self, clock: &mut Clock) {
        for r in Role::BOTH {
            if self.ep[r.idx()].tw_entered.is_some() {
                clock.tw_entered[r.idx()] = clock.tw_entered[r.idx()].saturating_sub(1);
                clock.tw_entered[r.peer().idx()] += 1;
            }
        }
        std::mem::swap(&mut self.client, &mut self.server);
        self.ep.swap(0, 1);
        let flip = |o: Option<(Role, Timestamp)>| o.map(|(r, t)| (r.peer(), t));
        self.first_fin = flip(self.first_fin);
        self.first_rst = flip(self.first_rst);
        self.reset_by = self.reset_by.map(Role::peer);
    }
}

/// A connection that has seen nothing but its client's SYN and copies of it,
/// which is all a SYN flood leaves: 32 bytes instead of a boxed `Conn`.
/// `Conn::compact` makes one only when `expand` gives the very same `Conn`
/// back, so the compact form can never change what is reported.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Embryo {
    /// First and last SYN, in nanoseconds since the epoch.
    start: i64,
    end: i64,
    isn: u32,
    /// SYNs seen (the first and its retransmissions).
    syns: u32,
    /// The client is the smaller endpoint of the key.
    client_is_lo: bool,
    reused: bool,
}

/// Nanoseconds since the epoch, only when converting back gives the same
/// timestamp (the compact forms store times this way).
fn exact_nanos(t: Timestamp) -> Option<i64> {
    let n = t
        .secs
        .checked_mul(1_000_000_000)?
        .checked_add(i64::from(t.nanos))?;
    (from_nanos(n) == t).then_some(n)
}

fn from_nanos(n: i64) -> Timestamp {
    Timestamp::new(
        n.div_euclid(1_000_000_000),
        n.rem_euclid(1_000_000_000) as u32,
    )
}

impl Embryo {
    /// The embryo a plain SYN opening a connection makes, read off the
    /// segment: what `Conn::compact` gives for that connection (asserted in
    /// debug builds), without making a second `Conn` to compare against.
    fn of_syn(seg: &Segment, key: &TupleKey, reused: bool) -> Option<Embryo> {
        let state_flags = TcpFlags::SYN | TcpFlags::ACK | TcpFlags::FIN | TcpFlags::RST;
        if seg.flags.0 & state_flags != TcpFlags::SYN || seg.payload_len != 0 {
            return None;
        }
        let client_is_lo = seg.src <= seg.dst;
        // An IPv4 key gives its addresses back exactly; an IPv6 one drops
        // flow labels and scope ids, so check it.
        if !matches!(key, TupleKey::V4(_)) && key.client_server(client_is_lo) != (seg.src, seg.dst)
        {
            return None;
        }
        let t = exact_nanos(seg.ts)?;
        Some(Embryo {
            start: t,
            end: t,
            isn: seg.seq,
            syns: 1,
            client_is_lo,
            reused,
        })
    }

    /// The full connection: what its SYNs made of a new one (the client in
    /// SYN_SENT, the server still LISTEN), written out directly; debug builds
    /// check it against the SYNs replayed through the state machine.
    #[inline]
    fn expand(&self, id: ConnId, slot: u32, key: &TupleKey) -> Conn {
        let mut ep = [
            Endpoint::new(EndpointState::SynSent),
            Endpoint::new(EndpointState::Listen),
        ];
        ep[0].isn = Some(SeqNum(self.isn));
        ep[0].packets = u64::from(self.syns);
        // As the replay: the first SYN's time, widened by the last one's.
        let (first, mut last) = (from_nanos(self.start), from_nanos(self.start));
        if self.syns > 1 {
            last = from_nanos(self.end);
        }
        let c = Conn {
            end: first.max(last),
            saw_syn: true,
            syn_retransmits: self.syns.saturating_sub(1),
            reused_tuple: self.reused,
            ..Conn::unseen(
                id,
                slot,
                key.client_server(self.client_is_lo),
                ep,
                first.min(last),
            )
        };
        debug_assert_eq!(c, self.replayed(id, slot, key));
        c
    }

    /// The full connection: its SYNs replayed through the state machine.
    fn replayed(&self, id: ConnId, slot: u32, key: &TupleKey) -> Conn {
        let (client, server) = key.client_server(self.client_is_lo);
        let mut syn = Segment {
            ts: from_nanos(self.start),
            src: client,
            dst: server,
            seq: self.isn,
            ack: 0,
            flags: TcpFlags(TcpFlags::SYN),
            window: 0,
            payload: &[],
            payload_len: 0,
        };
        let mut c = Conn::new(id, slot, &syn);
        c.reused_tuple = self.reused;
        // SYNs start no timer and touch no TIME-WAIT count: a scratch clock.
        let mut clock = Clock::new(0.0);
        c.on_segment(&syn, &mut clock, false);
        if self.syns > 1 {
            syn.ts = from_nanos(self.end);
            c.on_segment(&syn, &mut clock, true);
            c.syn_retransmits = self.syns - 1;
            c.ep[0].packets = u64::from(self.syns);
        }
        c
    }
}

impl Conn {
    /// The cheap half of `compact`: most connections fail it at once (a
    /// server packet, no SYN, a SYN-ACK, or ended).
    #[inline]
    fn may_compact(&self) -> bool {
        self.ep[1].packets == 0 && self.saw_syn && !self.saw_synack && !self.queued
    }

    /// This connection as an `Embryo`, if it is one (see there).
    fn compact(&self, key: &TupleKey) -> Option<Embryo> {
        if !self.may_compact() {
            return None;
        }
        let e = Embryo {
            start: exact_nanos(self.start)?,
            end: exact_nanos(self.end)?,
            isn: self.ep[0].isn?.get(),
            syns: u32::try_from(self.ep[0].packets).ok()?,
            client_is_lo: self.client <= self.server,
            reused: self.reused_tuple,
        };
        (e.expand(self.id, self.slot, key) == *self).then_some(e)
    }
}

/// One endpoint of a `Tomb`: what the state machine reads, packed.
#[derive(Clone, Copy, Debug)]
struct TombEnd {
    state: EndpointState,
    /// Which of isn, fin, ack_sent, tw_until, tw_entered are set (bits 0..4).
    set: u8,
    isn: u32,
    fin: u32,
    ack_sent: u32,
    /// Nanoseconds since the epoch.
    tw_until: i64,
}

/// A drained connection: its record is out, so it keeps only what its late
/// packets need to be recognised and moved through the state machine (roles,
/// states, sequence marks, TIME-WAIT) — 64 bytes instead of a `Conn`.
/// Counters and close details, which only the record read, are gone.
#[derive(Clone, Copy, Debug)]
struct Tomb {
    ep: [TombEnd; 2],
    end: i64,
    client_is_lo: bool,
    saw_syn: bool,
    saw_synack: bool,
    handshake_done: bool,
    refused: bool,
    purge_deferred: bool,
}

impl Tomb {
    fn of(c: &Conn) -> Option<Tomb> {
        let end = |e: &Endpoint| -> Option<TombEnd> {
            let bit = |b: bool, n: u8| u8::from(b) << n;
            Some(TombEnd {
                state: e.state,
                set: bit(e.isn.is_some(), 0)
                    | bit(e.fin.is_some(), 1)
                    | bit(e.ack_sent.is_some(), 2)
                    | bit(e.tw_until.is_some(), 3)
                    | bit(e.tw_entered.is_some(), 4),
                isn: e.isn.map_or(0, SeqNum::get),
                fin: e.fin.map_or(0, SeqNum::get),
                ack_sent: e.ack_sent.map_or(0, SeqNum::get),
                tw_until: match e.tw_until {
                    Some(t) => exact_nanos(t)?,
                    None => 0,
                },
            })
        };
        Some(Tomb {
            ep: [end(&c.ep[0])?, end(&c.ep[1])?],
            end: exact_nanos(c.end)?,
            client_is_lo: c.client <= c.server,
            saw_syn: c.saw_syn,
            saw_synack: c.saw_synack,
            handshake_done: c.handshake_done,
            refused: c.refused,
            purge_deferred: c.purge_deferred,
        })
    }

    /// A `Conn` that moves through late packets as the drained one would.
    fn expand(&self, id: ConnId, slot: u32, key: &TupleKey) -> Conn {
        let ep = |t: &TombEnd| {
            let has = |n: u8| t.set & (1 << n) != 0;
            Endpoint {
                state: t.state,
                isn: has(0).then_some(SeqNum(t.isn)),
                fin: has(1).then_some(SeqNum(t.fin)),
                ack_sent: has(2).then_some(SeqNum(t.ack_sent)),
                tw_until: has(3).then(|| from_nanos(t.tw_until)),
                // Only whether it is set matters from here on.
                tw_entered: has(4).then(|| from_nanos(self.end)),
                packets: 0,
                bytes: 0,
            }
        };
        Conn {
            saw_syn: self.saw_syn,
            saw_synack: self.saw_synack,
            handshake_done: self.handshake_done,
            refused: self.refused,
            purge_deferred: self.purge_deferred,
            queued: true,
            drained: true,
            ..Conn::unseen(
                id,
                slot,
                key.client_server(self.client_is_lo),
                [ep(&self.ep[0]), ep(&self.ep[1])],
                from_nanos(self.end),
            )
        }
    }
}

#[derive(Debug)]
enum Body {
    Free,
    Embryo(Embryo),
    Full(Box<Conn>),
    /// Its index in `Spare::tombs`.
    Tomb(u32),
}

/// One entry of the table: a 4-tuple and its current connection.
#[derive(Debug)]
struct Slot {
    key: TupleKey,
    id: ConnId,
    body: Body,
}

impl Slot {
    /// A compact connection (embryo, tomb) made whole; `None` for the others.
    fn unpacked(&self, i: u32, spare: &Spare) -> Option<Conn> {
        match &self.body {
            Body::Embryo(e) => Some(e.expand(self.id, i, &self.key)),
            Body::Tomb(t) => Some(spare.tombs.get(*t as usize)?.expand(self.id, i, &self.key)),
            Body::Free | Body::Full(_) => None,
        }
    }
}

/// The key's hash: its bytes as whole words (two multiply steps for IPv4,
/// where the derived `Hash` took four).
#[inline]
fn hash_of(k: &TupleKey) -> u64 {
    let mut h = FxHasher::default();
    match k {
        TupleKey::V4(b) => {
            let (lo, hi) = b.split_at(8);
            h.write_u64(u64::from_le_bytes(lo.try_into().unwrap_or_default()));
            h.write_u32(u32::from_le_bytes(hi.try_into().unwrap_or_default()));
        }
        TupleKey::V6(b) => {
            h.write(b);
            h.write_u8(6);
        }
    }
    h.finish()
}

/// Storage for slot bodies that outlive the slot's own bytes.
/// - `boxes`: boxes of connections that became tombs or embryos, kept for
///   the next ones: a capture of short connections allocates no box per `Conn`.
/// - `tombs`: every tomb, packed in one vector with a free list: a capture of
///   short connections keeps all of them for `--time-wait` seconds, and an
///   allocation each (with its header) cost more than the tomb itself.
#[derive(Debug, Default)]
struct Spare {
    #[allow(clippy::vec_box)] // the boxes move to and from slots without copying
    boxes: Vec<Box<Conn>>,
    tombs: Vec<Tomb>,
    free_tombs: Vec<u32>,
}

impl Spare {
    const MAX: usize = 64;

    /// Stores a tomb; the slot keeps the index.
    fn tomb(&mut self, t: Tomb) -> Option<Body> {
        if let Some(i) = self.free_tombs.pop() {
            self.tombs[i as usize] = t;
            return Some(Body::Tomb(i));
        }
        let i = u32::try_from(self.tombs.len()).ok()?;
        self.tombs.push(t);
        Some(Body::Tomb(i))
    }

    /// A box holding `make()`'s connection, built where it will live (a
    /// `Conn` passed by value is built on the stack and copied in).
    #[inline]
    fn boxed_with(&mut self, make: impl FnOnce() -> Conn) -> Box<Conn> {
        match self.boxes.pop() {
            Some(mut b) => {
                *b = make();
                b
            }
            None => Box::new(make()),
        }
    }

    /// A box holding `c` (already built elsewhere).
    fn boxed(&mut self, c: Conn) -> Box<Conn> {
        self.boxed_with(|| c)
    }

    /// Keeps the box, or frees the tomb, of a body that is being replaced.
    fn recycle(&mut self, old: Body) {
        match old {
            Body::Full(b) if self.boxes.len() < Self::MAX => self.boxes.push(b),
            Body::Tomb(i) => self.free_tombs.push(i),
            _ => {}
        }
    }
}

/// Slot `i`'s connection, an embryo first made whole (it is about to change).
/// Most packets find it whole: that check is inlined, the making whole is
/// kept out of the packet path.
#[inline]
fn expand_slot<'a>(
    slots: &'a mut [Slot],
    i: u32,
    embryos: &mut usize,
    spare: &mut Spare,
) -> Option<&'a mut Conn> {
    let slot = slots.get_mut(i as usize)?;
    // Whole already (most packets): no `Conn`-sized value to return empty.
    if !matches!(slot.body, Body::Full(_)) {
        make_whole(slot, i, embryos, spare)?;
    }
    match &mut slot.body {
        Body::Full(c) => Some(c),
        _ => None,
    }
}

/// `expand_slot`'s work: the compact connection in `slot` (index `i`) made
/// a whole `Conn`; `None` for a free slot.
#[inline(never)]
fn make_whole(slot: &mut Slot, i: u32, embryos: &mut usize, spare: &mut Spare) -> Option<()> {
    let full = match &slot.body {
        Body::Embryo(e) => {
            *embryos -= 1;
            let (e, id, key) = (*e, slot.id, slot.key);
            spare.boxed_with(|| e.expand(id, i, &key))
        }
        _ => {
            let c = slot.unpacked(i, spare)?;
            spare.boxed(c)
        }
    };
    let old = std::mem::replace(&mut slot.body, Body::Full(full));
    spare.recycle(old);
    Some(())
}

impl Clock {
    fn new(secs: f64) -> Clock {
        Clock {
            secs,
            timers: Timers::default(),
            tw_now: 0,
            tw_peak: 0,
            tw_entered: [0, 0],
        }
    }
}

/// The connection table. See the module docs for the rules.
///
/// Layout (issue 8: memory per tracked connection): connections live in
/// `slots`, a vector reused through `free`; `index` maps a 4-tuple to its slot
/// with 4 bytes per entry (the hash is recomputed from the slot's packed key).
/// A half-open connection is an inline `Embryo`, a drained one a `Tomb` in
/// `Spare::tombs`; any other is boxed.
#[derive(Debug)]
pub struct Tracker {
    cfg: TrackConfig,
    /// The current connection of each 4-tuple (live, ended, or a drained tombstone).
    slots: Vec<Slot>,
    free: Vec<u32>,
    index: HashTable<u32>,
    /// Slots holding an `Embryo`.
    embryos: usize,
    /// Where the search for a half-open connection to evict resumes.
    hand: usize,
    /// Connections that left the table (replaced on their 4-tuple, evicted),
    /// not yet drained.
    retired: Vec<ConnRecord>,
    /// Connections in the table that ended since the last drain.
    ended: Vec<(ConnId, u32)>,
    /// `ended`, sorted by descending id, being drained in batches.
    pending: Vec<(ConnId, u32)>,
    clock: Clock,
    next_id: u64,
    /// Connections in the table not yet drained.
    live: usize,
    /// The connection of the latest segment (for `set_client`, `syn_seqs`).
    last: (ConnId, u32),
    /// Keep embryos and tombs compact (off only to test that it changes nothing).
    compaction: bool,
    /// Push every purge timer at the drain (the reference; see
    /// `without_compaction`).
    eager_purge: bool,
    /// Deferred purge timers pushed by a TIME-WAIT timer (tests check that
    /// they happen).
    #[cfg(test)]
    deferred_pushes: u64,
    spare: Spare,
    dropped_at_cap: u64,
    evicted: u64,
    refused: u64,
    segments: u64,
    anomalies: u64,
    reused_tuples: u64,
}

impl Tracker {
    pub fn new(cfg: TrackConfig) -> Self {
        let secs = if cfg.time_wait_secs.is_finite() {
            cfg.time_wait_secs.max(0.0)
        } else {
            0.0
        };
        Tracker {
            cfg,
            slots: Vec::new(),
            free: Vec::new(),
            index: HashTable::new(),
            embryos: 0,
            hand: 0,
            retired: Vec::new(),
            ended: Vec::new(),
            pending: Vec::new(),
            clock: Clock::new(secs),
            next_id: 1,
            live: 0,
            last: (ConnId(0), 0),
            compaction: true,
            eager_purge: false,
            #[cfg(test)]
            deferred_pushes: 0,
            spare: Spare::default(),
            dropped_at_cap: 0,
            evicted: 0,
            refused: 0,
            segments: 0,
            anomalies: 0,
            reused_tuples: 0,
        }
    }

    /// A tracker that keeps every connection whole and pushes each purge
    /// timer at the drain: the reference against which tests and the
    /// `track` fuzz target check that the compact forms (embryos, tombs)
    /// and deferred purge timers change no output. Not for use.
    #[doc(hidden)]
    pub fn without_compaction(mut self) -> Self {
        self.compaction = false;
        self.eager_purge = true;
        self
    }

    /// A full index rebuilt twice as large from the slots, in slot order.
    /// (Growing it in place rehashes in bucket order: each entry's key is
    /// read from a slot at random, a cache miss each once the slots are
    /// megabytes; read in order, the slots stream in.) Every slot that is
    /// not free is in the index (`alloc_slot` calls this before it adds the
    /// slot it hands out).
    #[cold]
    fn grow_index(&mut self) {
        let want = (self.index.len() * 2).max(64);
        let mut index = HashTable::with_capacity(want);
        let slots = &self.slots;
        for (i, slot) in slots.iter().enumerate() {
            if !matches!(slot.body, Body::Free) {
                index.insert_unique(hash_of(&slot.key), i as u32, |&j| {
                    hash_of(&slots[j as usize].key)
                });
            }
        }
        debug_assert_eq!(index.len(), self.index.len());
        if index.len() == self.index.len() {
            self.index = index;
        } else {
            // Not the slots the index holds: grow it in place instead.
            self.index.reserve(want - self.index.len(), |&j| {
                hash_of(&slots[j as usize].key)
            });
        }
    }

    #[inline]
    fn find(&self, key: &TupleKey, hash: u64) -> Option<u32> {
        let slots = &self.slots;
        self.index
            .find(hash, |&i| slots[i as usize].key == *key)
            .copied()
    }

    fn alloc_slot(&mut self, key: TupleKey, hash: u64) -> u32 {
        if self.index.len() == self.index.capacity() {
            self.grow_index();
        }
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize].key = key;
                i
            }
            None => {
                self.slots.push(Slot {
                    key,
                    id: ConnId(0),
                    body: Body::Free,
                });
                (self.slots.len() - 1) as u32
            }
        };
        let slots = &self.slots;
        self.index
            .insert_unique(hash, i, |&j| hash_of(&slots[j as usize].key));
        i
    }

    fn free_slot(&mut self, i: u32) {
        let slot = &mut self.slots[i as usize];
        if let Ok(e) = self.index.find_entry(hash_of(&slot.key), |&j| j == i) {
            e.remove();
        }
        if matches!(slot.body, Body::Embryo(_)) {
            self.embryos -= 1;
        }
        let old = std::mem::replace(&mut slot.body, Body::Free);
        self.spare.recycle(old);
        slot.id = ConnId(0);
        self.free.push(i);
    }

    /// Puts a connection that just changed back in its slot, compact if it
    /// can be (`embryo`: its compact form, when already known).
    fn store(&mut self, i: u32, conn: Conn, embryo: Option<Embryo>) {
        let slot = &mut self.slots[i as usize];
        if matches!(slot.body, Body::Embryo(_)) {
            self.embryos -= 1;
        }
        slot.id = conn.id;
        let e = if !self.compaction {
            None
        } else if embryo.is_some() {
            debug_assert_eq!(embryo, conn.compact(&slot.key));
            embryo
        } else {
            conn.compact(&slot.key)
        };
        let body = match e {
            Some(e) => {
                self.embryos += 1;
                Body::Embryo(e)
            }
            None => Body::Full(self.spare.boxed(conn)),
        };
        let old = std::mem::replace(&mut slot.body, body);
        self.spare.recycle(old);
    }

    /// Makes a connection that just changed compact again if it can be: an
    /// embryo while it is one, a tomb once drained. Most packets leave
    /// nothing to do: that check is inlined into the packet path, and the
    /// work is kept out of it (its code would crowd the instruction cache).
    #[inline]
    fn settle(&mut self, i: u32) {
        if !self.compaction {
            return;
        }
        if let Body::Full(c) = &self.slots[i as usize].body {
            if c.drained || c.may_compact() {
                self.settle_full(i);
            }
        }
    }

    #[inline(never)]
    fn settle_full(&mut self, i: u32) {
        let slot = &mut self.slots[i as usize];
        if let Body::Full(c) = &slot.body {
            let compact = if c.drained {
                Tomb::of(c).and_then(|t| self.spare.tomb(t))
            } else {
                c.compact(&slot.key).map(Body::Embryo)
            };
            if let Some(body) = compact {
                self.embryos += usize::from(matches!(body, Body::Embryo(_)));
                let old = std::mem::replace(&mut slot.body, body);
                self.spare.recycle(old);
            }
        }
    }

    /// The slot's connection, whole (an embryo is expanded into a copy).
    fn view(&self, i: u32) -> Option<std::borrow::Cow<'_, Conn>> {
        let slot = self.slots.get(i as usize)?;
        match &slot.body {
            Body::Full(c) => Some(std::borrow::Cow::Borrowed(c)),
            _ => slot.unpacked(i, &self.spare).map(std::borrow::Cow::Owned),
        }
    }

    /// The slot of connection `conn` if the table still holds it: the latest
    /// segment's at once, any other by a scan (tests only need that).
    fn slot_of(&self, conn: ConnId) -> Option<u32> {
        if self.last.0 == conn && self.slots.get(self.last.1 as usize)?.id == conn {
            return Some(self.last.1);
        }
        self.slots
            .iter()
            .position(|s| s.id == conn && !matches!(s.body, Body::Free))
            .map(|i| i as u32)
    }

    /// At the cap: hands the half-open connection the clock hand finds next
    /// (SYN seen, nothing else) to the drain early, as if the capture ended
    /// for it, so a new connection can be tracked. `keep` is not taken.
    fn evict_half_open(&mut self, keep: Option<u32>) -> bool {
        let n = self.slots.len();
        let reserved = usize::from(
            keep.is_some_and(|k| matches!(self.slots[k as usize].body, Body::Embryo(_))),
        );
        if self.embryos <= reserved || n == 0 {
            return false;
        }
        for _ in 0..n {
            self.hand = (self.hand + 1) % n;
            let i = self.hand as u32;
            if Some(i) == keep {
                continue;
            }
            let slot = &self.slots[i as usize];
            if let Body::Embryo(e) = slot.body {
                let rec = e.expand(slot.id, i, &slot.key).record();
                self.retired.push(rec);
                self.free_slot(i);
                self.live -= 1;
                self.evicted += 1;
                return true;
            }
        }
        false
    }

    /// Follow one segment. `None` only when it would open a connection while
    /// the table is full (`max_connections`) and no half-open one can make room.
    #[inline]
    pub fn on_segment(&mut self, seg: &Segment) -> Option<Observed> {
        self.segments += 1;
        if self.clock.timers.any_due(seg.ts) {
            self.run_timers(seg.ts);
        }
        let key = TupleKey::new(seg.src, seg.dst);
        let hash = hash_of(&key);
        let found = self.find(&key, hash);
        let fit = match found {
            Some(i) => expand_slot(&mut self.slots, i, &mut self.embryos, &mut self.spare)
                .map(|c| c.fit(seg)),
            None => None,
        };
        let mut syn_retransmit = false;
        let mut embryo = None;
        let (i, mut fresh) = match (found, fit) {
            (Some(i), Some(Fit::Same { syn_retransmit: r })) => {
                syn_retransmit = r;
                (i, None)
            }
            (found, _) => {
                if self.live >= self.cfg.max_connections && !self.evict_half_open(found) {
                    self.dropped_at_cap += 1;
                    if let Some(i) = found {
                        self.settle(i);
                    }
                    return None;
                }
                let reused = found.is_some();
                let i = match found {
                    Some(i) => {
                        self.retire(i, seg);
                        i
                    }
                    None => self.alloc_slot(key, hash),
                };
                let id = ConnId(self.next_id);
                self.next_id += 1;
                self.reused_tuples += u64::from(reused);
                self.live += 1;
                embryo = Embryo::of_syn(seg, &key, reused);
                if let Some(e) = embryo.filter(|_| self.compaction) {
                    return Some(self.open_embryo(i, id, e, seg));
                }
                let mut conn = Conn::new(id, i, seg);
                conn.reused_tuple = reused;
                (i, Some(conn))
            }
        };
        let new_connection = fresh.is_some();
        // A new connection is worked on the stack and stored once, compact
        // if it is a SYN (a SYN flood allocates nothing per connection).
        let conn: &mut Conn = match fresh.as_mut() {
            Some(c) => c,
            None => expand_slot(&mut self.slots, i, &mut self.embryos, &mut self.spare)?,
        };
        let was_refused = conn.refused;
        let (from, transitions, anomaly) = conn.on_segment(seg, &mut self.clock, syn_retransmit);
        let newly_refused = conn.refused && !was_refused;
        let id = conn.id;
        let ended = !conn.queued && conn.is_over();
        if ended {
            conn.queued = true;
        }
        match fresh {
            Some(c) => self.store(i, c, embryo),
            None => self.settle(i),
        }
        self.refused += u64::from(newly_refused);
        self.anomalies += u64::from(anomaly);
        if ended {
            self.ended.push((id, i));
        }
        self.last = (id, i);
        Some(Observed {
            conn: id,
            from,
            new_connection,
            transitions,
            anomaly,
        })
    }

    /// A connection opened by a plain SYN (most new connections): stored
    /// as the embryo `e` read off the segment, with the SYN's steps taken
    /// from the state table, instead of a whole `Conn` built, moved by the
    /// SYN and compacted. Debug builds check both give the same.
    #[inline]
    fn open_embryo(&mut self, i: u32, id: ConnId, e: Embryo, seg: &Segment) -> Observed {
        use EndpointState::{Closed, Listen};
        let mut transitions = Transitions::new();
        for (role, from, ev) in [
            (Role::Client, Closed, Event::SendSyn),
            (Role::Server, Listen, Event::RecvSyn),
        ] {
            let (to, _) = step(from, ev);
            if to != from {
                transitions.push(Transition { role, from, to });
            }
        }
        let observed = Observed {
            conn: id,
            from: Role::Client,
            new_connection: true,
            transitions,
            anomaly: false,
        };
        #[cfg(debug_assertions)]
        {
            let slot = &self.slots[i as usize];
            let mut conn = Conn::new(id, i, seg);
            conn.reused_tuple = e.reused;
            let mut scratch = Clock::new(self.clock.secs);
            let (from, tr, anomaly) = conn.on_segment(seg, &mut scratch, false);
            assert!(scratch.timers.is_empty() && scratch.tw_now == 0);
            assert!(!conn.refused && !conn.is_over());
            assert_eq!(conn.compact(&slot.key), Some(e));
            assert_eq!(
                (from, &tr, anomaly),
                (observed.from, &observed.transitions, observed.anomaly)
            );
        }
        #[cfg(not(debug_assertions))]
        let _ = seg;
        let slot = &mut self.slots[i as usize];
        slot.id = id;
        let old = std::mem::replace(&mut slot.body, Body::Embryo(e));
        self.spare.recycle(old);
        self.embryos += 1;
        self.last = (id, i);
        observed
    }

    /// A new SYN (or SYN-ACK) takes the 4-tuple of slot `i`: the old
    /// connection leaves the table (the slot is reused at once).
    fn retire(&mut self, i: u32, seg: &Segment) {
        if expand_slot(&mut self.slots, i, &mut self.embryos, &mut self.spare).is_none() {
            return;
        }
        let Body::Full(old) = std::mem::replace(&mut self.slots[i as usize].body, Body::Free)
        else {
            return;
        };
        let mut old = *old;
        // RFC 1122 §4.2.2.13: the new SYN ends the old incarnation's TIME-WAIT.
        let mut scratch = Transitions::new();
        for r in Role::BOTH {
            if old.ep[r.idx()].state == EndpointState::TimeWait {
                let ev = if old.role_of(seg.src) == Some(r) {
                    Event::SendSyn
                } else {
                    Event::RecvSyn
                };
                old.apply(r, ev, seg.ts, &mut self.clock, &mut scratch);
            }
        }
        if !old.is_over() {
            old.replaced_while_open = true;
            old.anomalies += 1;
        }
        if !old.drained {
            self.retired.push(old.record());
            self.live -= 1;
        }
    }

    /// Act on every timer due at `now`: TIME-WAIT expiry, tombstone purge.
    #[inline(never)]
    fn run_timers(&mut self, now: Timestamp) {
        while let Some(t) = self.clock.timers.peek() {
            if t.at > now {
                break;
            }
            self.clock.timers.pop();
            let Some(slot) = self.slots.get(t.slot as usize) else {
                continue;
            };
            // Only whole connections and tombs have timers (an embryo is
            // never in TIME_WAIT, nor drained).
            if slot.id != t.conn || !matches!(slot.body, Body::Full(_) | Body::Tomb(_)) {
                continue;
            }
            let Some(conn) =
                expand_slot(&mut self.slots, t.slot, &mut self.embryos, &mut self.spare)
            else {
                continue;
            };
            let mut purge = false;
            match t.kind {
                TimerKind::TimeWait => {
                    let mut scratch = Transitions::new();
                    for r in Role::BOTH {
                        let ep = &conn.ep[r.idx()];
                        if ep.state == EndpointState::TimeWait && ep.tw_until == Some(t.at) {
                            conn.apply(
                                r,
                                Event::TimeWaitTimeout,
                                t.at,
                                &mut self.clock,
                                &mut scratch,
                            );
                        }
                    }
                    // The purge timer the drain did not push, due where the
                    // drain's would have ended up (the end plus TIME-WAIT,
                    // moved by late packets as the purge handler moves it):
                    // never before now, as the end is at or after the
                    // TIME-WAIT began.
                    if conn.purge_deferred && conn.drained && !conn.in_time_wait() {
                        conn.purge_deferred = false;
                        let at = conn.end.plus_secs(self.clock.secs);
                        debug_assert!(at >= t.at, "a purge due before its TIME-WAIT ended");
                        #[cfg(test)]
                        {
                            self.deferred_pushes += 1;
                        }
                        self.clock.timers.push(Timer {
                            at,
                            kind: TimerKind::Purge,
                            ..t
                        });
                    }
                }
                TimerKind::Purge if conn.drained => {
                    let due = conn.end.plus_secs(self.clock.secs);
                    let tw_due = conn
                        .ep
                        .iter()
                        .filter(|e| e.state == EndpointState::TimeWait)
                        .filter_map(|e| e.tw_until)
                        .max();
                    let again = match tw_due {
                        Some(at) => Some(at.max(due)),
                        None if due > now => Some(due),
                        None => None,
                    };
                    match again {
                        Some(at) => self.clock.timers.push(Timer { at, ..t }),
                        None => purge = true,
                    }
                }
                TimerKind::Purge => {}
            }
            if purge {
                self.free_slot(t.slot);
            } else {
                self.settle(t.slot);
            }
        }
    }

    /// Hint from the http stage: `client` sent an HTTP request on `conn`. Swaps
    /// the roles of a connection whose handshake is `missing` if the port rule
    /// guessed wrong; a no-op otherwise.
    pub fn set_client(&mut self, conn: ConnId, client: SocketAddr) {
        let Some(i) = self.slot_of(conn) else {
            return;
        };
        // An embryo has seen its SYN: its roles are known.
        let Body::Full(c) = &mut self.slots[i as usize].body else {
            return;
        };
        if c.handshake() == Handshake::Missing && c.server == client && c.client != client {
            c.swap_roles(&mut self.clock);
        }
    }

    /// End of input at `end`: expire TIME-WAITs due by then; every connection not
    /// yet drained counts as ended (so `drain_ended` returns the open ones too).
    pub fn finish(&mut self, end: Timestamp) {
        self.run_timers(end);
        for (i, slot) in self.slots.iter_mut().enumerate() {
            match &mut slot.body {
                Body::Full(c) if !c.queued && !c.drained => {
                    c.queued = true;
                    self.ended.push((c.id, i as u32));
                }
                Body::Embryo(_) => self.ended.push((slot.id, i as u32)),
                _ => {}
            }
        }
    }

    /// Connections that ended since the last call (both ends CLOSED/TIME_WAIT,
    /// reset, refused, replaced on their 4-tuple; after `finish`, all), by id.
    /// A drained connection keeps only a tombstone to recognise late packets,
    /// dropped `time_wait_secs` after its last packet and TIME-WAIT.
    pub fn drain_ended(&mut self) -> Vec<ConnRecord> {
        self.drain_ended_max(usize::MAX)
    }

    /// `drain_ended` in batches of about `max` records (each batch by id), so
    /// that the end of a capture with millions of open connections does not
    /// build all their records at once.
    pub fn drain_ended_max(&mut self, max: usize) -> Vec<ConnRecord> {
        let mut out = Vec::new();
        self.drain_ended_into(max, &mut out);
        out
    }

    /// `drain_ended_max` into `out` (emptied first): the queues and `out`
    /// keep their buffers, so a capture of short connections does not
    /// allocate for every one that ends.
    pub fn drain_ended_into(&mut self, max: usize, out: &mut Vec<ConnRecord>) {
        out.clear();
        if self.pending.is_empty() && !self.ended.is_empty() {
            std::mem::swap(&mut self.pending, &mut self.ended);
            self.pending.sort_unstable_by_key(|&(id, _)| Reverse(id));
        }
        out.append(&mut self.retired);
        let mut taken = 0;
        while taken < max {
            let Some((id, i)) = self.pending.pop() else {
                break;
            };
            let Some(slot) = self.slots.get_mut(i as usize) else {
                continue;
            };
            if slot.id != id {
                continue;
            }
            match &mut slot.body {
                Body::Full(conn) if !conn.drained => {
                    out.push(conn.record());
                    conn.drained = true;
                    // In TIME-WAIT, its TIME-WAIT timer comes first and
                    // pushes this one (same time, same order) when it ends
                    // it: churn's connections all drain in TIME-WAIT, and a
                    // second 32-byte timer each was a sixth of their memory.
                    if !self.eager_purge && conn.in_time_wait() {
                        conn.purge_deferred = true;
                    } else {
                        self.clock.timers.push(Timer {
                            at: conn.end.plus_secs(self.clock.secs),
                            conn: id,
                            slot: i,
                            kind: TimerKind::Purge,
                        });
                    }
                    self.settle(i);
                }
                // Only `finish` ends an embryo: no tombstone is needed after it.
                Body::Embryo(e) => {
                    out.push(e.expand(id, i, &slot.key).record());
                    self.free_slot(i);
                }
                _ => continue,
            }
            taken += 1;
            self.live -= 1;
        }
        out.sort_by_key(|r| r.id);
    }

    /// Connections are waiting in `drain_ended`.
    #[inline]
    pub fn has_ended(&self) -> bool {
        !(self.retired.is_empty() && self.ended.is_empty() && self.pending.is_empty())
    }

    /// Every connection not yet drained, by id (after `finish`: final states).
    pub fn records(&self) -> Vec<ConnRecord> {
        let mut v = self.retired.clone();
        v.extend((0..self.slots.len() as u32).filter_map(|i| {
            // A tomb is drained: no need to make it whole to skip it.
            match &self.slots[i as usize].body {
                Body::Full(c) if !c.drained => Some(c.record()),
                Body::Embryo(_) => Some(self.view(i)?.record()),
                _ => None,
            }
        }));
        v.sort_by_key(|r| r.id);
        v
    }

    pub fn stats(&self) -> TrackStats {
        TrackStats {
            connections: self.next_id - 1,
            time_wait_peak: self.clock.tw_peak,
            time_wait_at_end: self.clock.tw_now,
            dropped_at_cap: self.dropped_at_cap,
            evicted: self.evicted,
            refused: self.refused,
            time_wait_entered: self.clock.tw_entered,
            tracked: self.live as u64,
            segments: self.segments,
            anomalies: self.anomalies,
            reused_tuples: self.reused_tuples,
        }
    }

    /// Each endpoint's address and the sequence number of its SYN, if seen
    /// (client first). Lets later stages start their state lazily.
    pub fn syn_seqs(&self, conn: ConnId) -> Option<[(SocketAddr, Option<u32>); 2]> {
        let c = self.view(self.slot_of(conn)?)?;
        Some([
            (c.client, c.ep[0].isn.map(SeqNum::get)),
            (c.server, c.ep[1].isn.map(SeqNum::get)),
        ])
    }

    /// The role of `addr` in connection `conn` (also for drained tombstones and
    /// connections replaced on their 4-tuple but not yet drained).
    pub fn role_of(&self, conn: ConnId, addr: SocketAddr) -> Option<Role> {
        if let Some(c) = self.slot_of(conn).and_then(|i| self.view(i)) {
            return c.role_of(addr);
        }
        let r = self.retired.iter().find(|r| r.id == conn)?;
        if addr == r.client {
            Some(Role::Client)
        } else if addr == r.server {
            Some(Role::Server)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::TcpFlags as F;
    use EndpointState::*;
    use Role::{Client as C, Server as S};

    const SYN: u8 = F::SYN;
    const SA: u8 = F::SYN | F::ACK;
    const A: u8 = F::ACK;
    const PA: u8 = F::PSH | F::ACK;
    const FA: u8 = F::FIN | F::ACK;
    const RA: u8 = F::RST | F::ACK;
    const R: u8 = F::RST;

    fn ts(t: f64) -> Timestamp {
        Timestamp::new(1_700_000_000, 0).plus_secs(t)
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[allow(clippy::too_many_arguments)]
    fn seg(
        src: SocketAddr,
        dst: SocketAddr,
        flags: u8,
        seq: u32,
        ack: u32,
        len: u32,
        t: f64,
    ) -> Segment<'static> {
        Segment {
            ts: ts(t),
            src,
            dst,
            seq,
            ack,
            flags: TcpFlags(flags),
            window: 65535,
            payload: &[],
            payload_len: len,
        }
    }

    fn tracker(tw: f64) -> Tracker {
        Tracker::new(TrackConfig {
            time_wait_secs: tw,
            ..TrackConfig::default()
        })
    }

    /// Two peers and their next sequence numbers. Each segment acknowledges all
    /// the peer has sent unless an explicit ack is given; the clock advances 1 ms.
    struct Wire {
        addr: [SocketAddr; 2],
        nxt: [u32; 2],
        t: f64,
    }

    impl Wire {
        fn new(c: &str, s: &str) -> Wire {
            Wire {
                addr: [addr(c), addr(s)],
                nxt: [1000, 5000],
                t: 0.0,
            }
        }
        fn isn(mut self, c: u32, s: u32) -> Wire {
            self.nxt = [c, s];
            self
        }
        fn at(&mut self, t: f64) -> &mut Wire {
            self.t = t;
            self
        }
        fn now(&self) -> Timestamp {
            ts(self.t)
        }
        fn build(&mut self, from: Role, flags: u8, len: u32, ack: Option<u32>) -> Segment<'static> {
            let (i, j) = (from.idx(), from.peer().idx());
            let seq = self.nxt[i];
            let ctl = u32::from(flags & (F::SYN | F::FIN) != 0);
            self.nxt[i] = seq.wrapping_add(len + ctl);
            self.t += 0.001;
            let ack = if flags & F::ACK != 0 {
                ack.unwrap_or(self.nxt[j])
            } else {
                0
            };
            seg(self.addr[i], self.addr[j], flags, seq, ack, len, self.t)
        }
        fn send(&mut self, tr: &mut Tracker, from: Role, flags: u8, len: u32) -> Observed {
            let s = self.build(from, flags, len, None);
            tr.on_segment(&s).expect("tracked")
        }
        fn send_ack(&mut self, tr: &mut Tracker, from: Role, flags: u8, ack: u32) -> Observed {
            let s = self.build(from, flags, 0, Some(ack));
            tr.on_segment(&s).expect("tracked")
        }
        fn handshake(&mut self, tr: &mut Tracker) {
            self.send(tr, C, SYN, 0);
            self.send(tr, S, SA, 0);
            self.send(tr, C, A, 0);
        }
        /// FIN from `closer`, ACK, FIN from the peer, final ACK.
        fn close_by(&mut self, tr: &mut Tracker, closer: Role) {
            self.send(tr, closer, FA, 0);
            self.send(tr, closer.peer(), A, 0);
            self.send(tr, closer.peer(), FA, 0);
            self.send(tr, closer, A, 0);
        }
    }

    fn t(role: Role, from: EndpointState, to: EndpointState) -> Transition {
        Transition { role, from, to }
    }

    fn only(tr: &Tracker) -> ConnRecord {
        let r = tr.records();
        assert_eq!(r.len(), 1, "{r:#?}");
        r[0].clone()
    }

    /// Invariant: the TIME-WAIT counter matches the endpoints in TIME_WAIT.
    fn check_tw_count(tr: &Tracker) {
        let n = (0..tr.slots.len() as u32)
            .filter_map(|i| tr.view(i))
            .flat_map(|c| c.ep)
            .filter(|e| e.state == TimeWait)
            .count() as u64;
        assert_eq!(tr.clock.tw_now, n);
        assert!(tr.clock.tw_peak >= n);
    }

    // ---- handshake ----

    #[test]
    fn handshake_moves_both_endpoints() {
        let mut tr = tracker(60.0);
        let mut w = Wire::new("10.0.0.1:40000", "10.0.0.2:80");
        let o = w.send(&mut tr, C, SYN, 0);
        assert_eq!(o.conn, ConnId(1));
        assert!(o.new_connection);
        assert_eq!(o.from, C);
        assert_eq!(o.transitions[..], [t(C, Closed, SynSent)]);
        let o = w.send(&mut tr, S, SA, 0);
        assert!(!o.new_connection);
        assert_eq!(o.from, S);
        assert_eq!(
            o.transitions[..],
            [t(S, Listen, SynReceived), t(C, SynSent, Established)]
        );
        let o = w.send(&mut tr, C, A, 0);
        assert_eq!(o.transitions[..], [t(S, SynReceived, Established)]);
        let r = only(&tr);
        assert_eq!(r.handshake, Handshake::Complete);
        assert_eq!(
            (r.client, r.server),
            (addr("10.0.0.1:40000"), addr("10.0.0.2:80"))
        );
        assert_eq!(r.close, Close::Open);
    }

    #[test]
    fn syn_ack_first_makes_its_receiver_the_client() {
        let mut tr = tracker(60.0);
        let mut w = Wire::new("10.0.0.1:40000", "10.0.0.2:80");
        w.nxt[0] += 1; // the client's SYN happened before the capture
        let o = w.send(&mut tr, S, SA, 0);
        assert!(o.new_connection);
        assert_eq!(o.from, S);
        w.send(&mut tr, C, A, 0);
        let r = only(&tr);
        assert_eq!(r.client, addr("10.0.0.1:40000"));
        assert_eq!(r.handshake, Handshake::Partial);
        assert_eq!((r.client_state, r.server_state), (Established, Established));
    }

    /// zeek's handshake-reorder.pcap: the SYN-ACK is written before the SYN.
    #[test]
    fn syn_after_its_syn_ack_in_the_file_is_the_same_connection() {
        let mut tr = tracker(60.0);
        let mut w = Wire::new("10.0.0.1:40000", "10.0.0.2:80");
        let syn = w.build(C, SYN, 0, None);
        w.send(&mut tr, S, SA, 0);
        let o = tr.on_segment(&syn).unwrap();
        assert_eq!((o.conn, o.new_connection), (ConnId(1), false));
        w.send(&mut tr, C, A, 0);
        assert_eq!(tr.stats().connections, 1);
        assert_eq!(only(&tr).syn_retransmits, 0);
    }

    /// zeek's rst-inject-rae.pcap: a RST whose ACK does not acknowledge the
    /// SYN is not acceptable in SYN-SENT (RFC 793 §3.9) and moves nobody.
    #[test]
    fn syn_sent_ignores_a_rst_that_does_not_ack_the_syn() {
        let mut tr = tracker(60.0);
        let mut w = Wire::new("10.0.0.1:40000", "10.0.0.2:80");
        w.send(&mut tr, C, SYN, 0);
        let bad = seg(w.addr[1], w.addr[0], RA, 0, 1000, 0, 0.5);
        let o = tr.on_segment(&bad).unwrap();
        assert!(o.transitions.is_empty());
        w.send(&mut tr, S, SA, 0);
        w.send(&mut tr, C, A, 0);
        let r = only(&tr);
        assert_eq!(tr.stats().connections, 1);
        assert_ne!(r.close, Close::Refused);
        assert_eq!((r.client_state, r.server_state), (Established, Established));
    }

    /// Loaded multi-core loopback can capture the closer's last ACK before
    /// the peer's FIN it acknowledges: the closer still ends in TIME_WAIT.
    #[test]
    fn final_ack_captured_before_the_fin_still_enters_time_wait() {
        let mut tr = tracker(60.0);
        let mut w = Wire::new("10.0.0.1:40000", "10.0.0.2:80");
        w.handshake(&mut tr);
        w.send(&mut tr, C, FA, 0);
        w.send(&mut tr, S, A, 0);
        let server_fin = w.build(S, FA, 0, None);
        let client_ack = w.build(C, A, 0, None);
        tr.on_segment(&client_ack).unwrap();
        tr.on_segment(&server_fin).unwrap();
        let r = only(&tr);
        assert_eq!((r.client_state, r.server_state), (TimeWait, Closed));
        assert_eq!(r.time_wait, TimeWaitHolder::Client);
        assert_eq!(r.close, Close::Client);
    }

    #[test]
    fn retransmitted_syn_is_the_same_connection() {
        let mut tr = tracker(60.0);
        let mut w = Wire::new("10.0.0.1:40000", "10.0.0.2:80");
        let first = w.build(C, SYN, 0, None);
        assert!(tr.on_segment(&first).unwrap().new_connection);
        let again = Segment {
            ts: ts(1.0),
            ..first
        };
        let o = tr.on_segment(&again).unwrap();
        assert_eq!((o.conn, o.new_connection), (ConnId(1), false));
        assert!(o.transitions.is_empty());
        w.at(1.0);
        w.send(&mut tr, S, SA, 0);
        // A retransmitted SYN-ACK (same ISN) is also the same connection.
        let sa_again = seg(w.addr[1], w.addr[0], SA, 5000, 1001, 0, 1.2);
        assert_eq!(tr.on_segment(&sa_again).unwrap().conn, ConnId(1));
        w.send(&mut tr, C, A, 0);
        let r = only(&tr);
        assert_eq!(r.syn_retransmits, 2);
        assert_eq!(r.handshake, Handshake::Complete);
        assert_eq!(tr.stats().connections, 1);
    }

    #[test]
    fn syn_without_syn_ack_then_data_does_not_panic() {
        let mut tr = tracker(60.0);
        let mut w = Wire::new("10.0.0.1:40000", "10.0.0.2:80");
        w.send(&mut tr, C, SYN, 0);
        let o = w.send(&mut tr, C, PA, 10);
        assert!(o.anomaly);
        w.send(&mut tr, S, PA, 10);
        w.send(&mut tr, C, FA, 0);
        tr.finish(w.now());
        let r = only(&tr);
        assert_eq!(r.handshake, Handshake::Partial);
        assert!(r.anomalies > 0);
    }

    #[test]
    fn syn_answered_by_rst_is_refused() {
        let mut tr = tracker(60.0);
        let mut w = Wire::new("10.0.0.1:40000", "10.0.0.2:81");
        w.send(&mut tr, C, SYN, 0);
        let o = w.send(&mut tr, S, RA, 0);
        assert_eq!(
            o.transitions[..],
            [t(S, Listen, Closed), t(C, SynSent, Closed)]
        );
        let r = only(&tr);
        assert_eq!(r.close, Close::Refused);
        assert_eq!(r.handshake, Handshake::Partial);
        assert_eq!((r.client_state, r.server_state), (Closed, Closed));
        assert_eq!(r.time_wait, TimeWaitHolder::None);
        assert_eq!(tr.stats().refused, 1);
        assert_eq!(
            tr.drain_ended().len(),
            1,
            "a refused attempt is over at once"
        );
    }

    // ---- close by either side ----

    #[test]
    fn client_close_leaves_client_in_time_wait() {
        let mut tr = tracker(60.0);
        let mut w = Wire::new("10.0.0.1:40000", "10.0.0.2:80");
        w.handshake(&mut tr);
        w.send(&mut tr, C, PA, 100);
        w.send(&mut tr, S, PA, 500);
        let o = w.send(&mut tr, C, FA, 0);
        assert_eq!(
            o.transitions[..],
            [t(C, Established, FinWait1), t(S, Established, CloseWait)]
        );
        let o = w.send(&mut tr, S, A, 0);
        assert_eq!(o.transitions[..], [t(C, FinWait1, FinWait2)]);
        let o = w.send(&mut tr, S, FA, 0);
        assert_eq!(o.transitions[..], [t(S, CloseWait, LastAck)]);
        let o = w.send(&mut tr, C, A, 0);
        assert_eq!(
            o.transitions[..],
            [t(C, FinWait2, TimeWait), t(S, LastAck, Closed)]
        );
        let r = only(&tr);
        assert_eq!(r.close, Close::Client);
        assert_eq!((r.client_state, r.server_state), (TimeWait, Closed));
        assert_eq!(r.time_wait, TimeWaitHolder::Client);
        assert_eq!(r.time_wait_entered, [Some(w.now()), None]);
        assert_eq!(r.time_wait_until, Some(w.now().plus_secs(60.0)));
        assert_eq!(r.packets, [5, 4]);
        assert_eq!(r.bytes, [100, 500]);
        assert_eq!(r.first_fin.map(|f| f.0), Some(C));
        assert!(!r.half_close);
        let st = tr.stats();
        assert_eq!((st.time_wait_peak, st.time_wait_at_end), (1, 1));
        assert_eq!(st.time_wait_entered, [1, 0]);
        check_tw_count(&tr);
    }

    #[test]
    fn fin_wait_1_recv_fin_ack_waits_for_our_ack_to_enter_time_wait() {
        let mut tr = tracker(60.0);
        let mut w = Wire::new("10.0.0.1:40000", "10.0.0.2:80");
        w.handshake(&mut tr);
        w.send(&mut tr, C, FA, 0);
        // The server ACKs the FIN with its own FIN (one segment).
        let o = w.send(&mut tr, S, FA, 0);
        assert_eq!(
            o.transitions[..],
            [t(S, CloseWait, LastAck), t(C, FinWait1, FinWait2)]
        );
        let o = w.send(&mut tr, C, A, 0);
        assert_eq!(
            o.transitions[..],
            [t(C, FinWait2, TimeWait), t(S, LastAck, Closed)]
        );
        assert_eq!(only(&tr).time_wait, TimeWaitHolder::Client);
    }

    #[test]
    fn server_close_leaves_server_in_time_wait() {
        let mut tr = tracker(60.0);
        let mut w = Wire::new("10.0.0.1:40000", "10.0.0.2:8080");
        w.handshake(&mut tr);
        w.send(&mut tr, C, PA, 80);
        w.send(&mut tr, S, PA, 200);
        w.close_by(&mut tr, S);
        let r = only(&tr);
        assert_eq!(r.close, Close::Server);
        assert_eq!((r.client_state, r.server_state), (Closed, TimeWait));
        assert_eq!(r.time_wait, TimeWaitHolder::Server);
        assert_eq!(tr.stats().time_wait_entered, [0, 1]);
    }

    #[test]
    fn close_wait_leak_shows_at_end() {
        let mut tr = tracker(60.0);
        let mut w = Wire::new("10.0.0.1:40000", "10.0.0.2:8080");
        w.handshake(&mut tr);
        w.send(&mut tr, S, FA, 0);
        w.send(&mut tr, C, A, 0);
        tr.finish(w.now());
        let r = only(&tr);
        assert_eq!(r.close, Close::Server);
        assert_eq!((r.client_state, r.server_state), (CloseWait, FinWait2));
    }

    #[test]
    fn simultaneous_close_puts_both_in_closing_then_time_wait() {
        let mut tr = tracker(60.0);
        let mut w = Wire::new("10.0.0.1:40000", "10.0.0.2:80");
        w.handshake(&mut tr);
        let client_fin = w.nxt[0];
        let server_fin = w.nxt[1];
        w.send(&mut tr, C, FA, 0);
        // The server's FIN left before the client's arrived: it does not ACK it.
        let o = w.send_ack(&mut tr, S, FA, client_fin);
        assert_eq!(
            o.transitions[..],
            [t(S, CloseWait, Closing), t(C, FinWait1, Closing)]
        );
        // Each ACKs the other's FIN.
        let o = w.send_ack(&mut tr, C, A, server_fin + 1);
        assert_eq!(o.transitions[..], [t(S, Closing, TimeWait)]);
        let o = w.send_ack(&mut tr, S, A, client_fin + 1);
        assert_eq!(o.transitions[..], [t(C, Closing, TimeWait)]);
        let r = only(&tr);
        assert_eq!(r.close, Close::Simultaneous);
        assert_eq!(r.time_wait, TimeWaitHolder::Both);
        assert_eq!((r.client_state, r.server_state), (TimeWait, TimeWait));
        assert_eq!(tr.stats().time_wait_peak, 2);
        check_tw_count(&tr);
    }

    #[test]
    fn half_close_keeps_data_flowing_after_the_first_fin() {
        let mut tr = tracker(60.0);
        let mut w = Wire::new("10.0.0.1:40000", "10.0.0.2:80");
        w.handshake(&mut tr);
        w.send(&mut tr, C, FA, 0);
        w.send(&mut tr, S, A, 0);
        let o = w.send(&mut tr, S, PA, 300);
        assert!(o.transitions.is_empty() && !o.anomaly);
        w.send(&mut tr, C, A, 0);
        w.send(&mut tr, S, FA, 0);
        w.send(&mut tr, C, A, 0);
        let r = only(&tr);
        assert!(r.half_close);
        assert_eq!(r.close, Close::Client);
        assert_eq!(r.client_state, TimeWait);
    }

    // ---- RST ----

    #[test]
    fn rst_abort_by_client_leaves_no_time_wait() {
        let mut tr = tracker(60.0);
        let mut w = Wire::new("10.0.0.1:40000", "10.0.0.2:80");
        w.handshake(&mut tr);
        w.send(&mut tr, C, PA, 50);
        w.send(&mut tr, S, PA, 5000);
        let o = w.send(&mut tr, C, RA, 0);
        assert_eq!(
            o.transitions[..],
            [t(C, Established, Closed), t(S, Established, Closed)]
        );
        let r = only(&tr);
        assert_eq!(r.close, Close::ResetByClient);
        assert_eq!(r.time_wait, TimeWaitHolder::None);
        assert_eq!(r.first_rst.map(|x| x.0), Some(C));
        assert_eq!(tr.stats().time_wait_peak, 0);
        let d = tr.drain_ended();
        assert_eq!(d.len(), 1);
        assert!(tr.records().is_empty());
    }

    #[test]
    fn rst_after_client_fin_is_reset_by_server() {
        let mut tr = tracker(60.0);
        let mut w = Wire::new("10.0.0.1:40000", "10.0.0.2:80");
        w.handshake(&mut tr);
        w.send(&mut tr, C, FA, 0);
        w.send(&mut tr, S, R, 0);
        let r = only(&tr);
        assert_eq!(r.close, Close::ResetByServer);
        assert_eq!(r.first_fin.map(|f| f.0), Some(C));
    }

    #[test]
    fn rst_into_time_wait_ends_it() {
        let mut tr = tracker(60.0);
        let mut w = Wire::new("10.0.0.1:40000", "10.0.0.2:80");
        w.handshake(&mut tr);
        w.close_by(&mut tr, C);
        assert_eq!(tr.stats().time_wait_at_end, 1);
        let o = w.send(&mut tr, S, R, 0);
        assert_eq!(o.transitions[..], [t(C, TimeWait, Closed)]);
        let r = only(&tr);
        assert_eq!(
            r.close,
            Close::Client,
            "both FINs were exchanged before the RST"
        );
        assert_eq!(r.time_wait, TimeWaitHolder::Client);
        assert_eq!(r.time_wait_until, Some(w.now()));
        assert_eq!(tr.stats().time_wait_at_end, 0);
        check_tw_count(&tr);
    }

    // ---- 4-tuple reuse ----

    #[test]
    fn new_syn_after_time_wait_is_a_new_connection() {
        let mut tr = tracker(60.0);
        let mut w = Wire::new("10.0.0.1:40000", "10.0.0.2:80");
        w.handshake(&mut tr);
        w.close_by(&mut tr, C);
        let mut w2 = Wire::new("10.0.0.1:40000", "10.0.0.2:80").isn(900_000, 700_000);
        w2.at(5.0);
        let o = w2.send(&mut tr, C, SYN, 0);
        assert_eq!((o.conn, o.new_connection), (ConnId(2), true));
        w2.send(&mut tr, S, SA, 0);
        w2.send(&mut tr, C, A, 0);
        let recs = tr.records();
        assert_eq!(recs.len(), 2);
        let (old, new) = (&recs[0], &recs[1]);
        assert_eq!(old.id, ConnId(1));
        assert_eq!(
            old.client_state, Closed,
            "the new SYN ended TIME-WAIT (RFC 1122 4.2.2.13)"
        );
        assert_eq!(old.time_wait, TimeWaitHolder::Client);
        assert!(!old.replaced_while_open);
        assert!(new.reused_tuple);
        assert_eq!(new.handshake, Handshake::Complete);
        let st = tr.stats();
        assert_eq!(
            (st.connections, st.reused_tuples, st.time_wait_at_end),
            (2, 1, 0)
        );
        check_tw_count(&tr);
        // The replaced connection is ended; the new one is not.
        let d = tr.drain_ended();
        assert_eq!(d.iter().map(|r| r.id).collect::<Vec<_>>(), [ConnId(1)]);
        assert_eq!(tr.role_of(ConnId(2), w2.addr[0]), Some(C));
    }

    #[test]
    fn new_syn_on_an_open_connection_replaces_it() {
        let mut tr = tracker(60.0);
        let mut w = Wire::new("10.0.0.1:40000", "10.0.0.2:80");
        w.handshake(&mut tr);
        let mut w2 = Wire::new("10.0.0.1:40000", "10.0.0.2:80").isn(77, 88);
        w2.at(1.0);
        assert_eq!(w2.send(&mut tr, C, SYN, 0).conn, ConnId(2));
        let recs = tr.records();
        assert!(recs[0].replaced_while_open);
        assert_eq!(recs[0].close, Close::Open);
        assert_eq!(tr.role_of(ConnId(1), w.addr[1]), Some(S));
    }

    // ---- mid-stream starts ----

    #[test]
    fn mid_stream_start_has_missing_handshake_and_server_by_port() {
        let mut tr = tracker(60.0);
        let s = seg(
            addr("10.0.0.2:8080"),
            addr("10.0.0.1:54321"),
            PA,
            1,
            1,
            200,
            0.0,
        );
        let o = tr.on_segment(&s).unwrap();
        assert!(o.new_connection);
        assert_eq!(o.from, S);
        let r = only(&tr);
        assert_eq!(r.server, addr("10.0.0.2:8080"));
        assert_eq!(r.handshake, Handshake::Missing);
        assert_eq!((r.client_state, r.server_state), (Established, Established));
        assert_eq!(r.bytes, [0, 200]);
        tr.finish(ts(1.0));
        assert_eq!(only(&tr).close, Close::Open);
    }

    #[test]
    fn set_client_swaps_a_wrong_port_guess() {
        let mut tr = tracker(60.0);
        // The real client uses port 3000, lower than the server's 8080.
        let (cl, sv) = (addr("10.0.0.1:3000"), addr("10.0.0.2:8080"));
        let o = tr.on_segment(&seg(cl, sv, PA, 1, 1, 90, 0.0)).unwrap();
        assert_eq!(o.from, S, "port rule guessed the lower port as server");
        tr.on_segment(&seg(sv, cl, FA, 1, 91, 0, 0.1)).unwrap();
        tr.set_client(o.conn, cl);
        assert_eq!(tr.role_of(o.conn, cl), Some(C));
        assert_eq!(tr.role_of(o.conn, sv), Some(S));
        assert_eq!(tr.role_of(o.conn, addr("10.0.0.9:1")), None);
        let r = only(&tr);
        assert_eq!((r.client, r.server), (cl, sv));
        assert_eq!(r.packets, [1, 1]);
        assert_eq!(r.bytes, [90, 0]);
        assert_eq!(r.close, Close::Server);
        assert_eq!((r.client_state, r.server_state), (CloseWait, FinWait1));
        // Later segments use the corrected roles.
        assert_eq!(
            tr.on_segment(&seg(cl, sv, A, 91, 2, 0, 0.2)).unwrap().from,
            C
        );
    }

    #[test]
    fn set_client_is_a_no_op_when_the_handshake_was_seen() {
        let mut tr = tracker(60.0);
        let mut w = Wire::new("10.0.0.2:8080", "10.0.0.1:3000");
        w.handshake(&mut tr);
        tr.set_client(ConnId(1), w.addr[1]);
        assert_eq!(only(&tr).client, w.addr[0]);
    }

    // ---- TIME-WAIT timing ----

    #[test]
    fn time_wait_expires_after_time_wait_secs() {
        let mut tr = tracker(2.0);
        let mut w = Wire::new("10.0.0.1:40000", "10.0.0.2:80");
        w.handshake(&mut tr);
        w.close_by(&mut tr, C);
        let entered = w.now();
        assert_eq!(only(&tr).time_wait_until, Some(entered.plus_secs(2.0)));
        // A packet of another connection 1.9 s later: still in TIME_WAIT.
        let other = seg(
            addr("10.0.0.3:1"),
            addr("10.0.0.2:80"),
            SYN,
            1,
            0,
            0,
            w.t + 1.9,
        );
        tr.on_segment(&other).unwrap();
        assert_eq!(tr.records()[0].client_state, TimeWait);
        // And 2.1 s later: expired.
        let other = Segment {
            ts: ts(w.t + 2.1),
            ..other
        };
        tr.on_segment(&other).unwrap();
        let r = tr.records()[0].clone();
        assert_eq!(r.client_state, Closed);
        assert_eq!(
            r.time_wait,
            TimeWaitHolder::Client,
            "the holder is who entered it"
        );
        assert_eq!(tr.stats().time_wait_at_end, 0);
        assert_eq!(tr.stats().time_wait_peak, 1);
        check_tw_count(&tr);
    }

    #[test]
    fn finish_expires_only_what_is_due() {
        for (end, left) in [(10.0, 1), (100.0, 0)] {
            let mut tr = tracker(60.0);
            let mut w = Wire::new("10.0.0.1:40000", "10.0.0.2:80");
            w.handshake(&mut tr);
            w.close_by(&mut tr, C);
            tr.finish(ts(end));
            assert_eq!(tr.stats().time_wait_at_end, left, "end {end}");
            let want = if left == 1 { TimeWait } else { Closed };
            assert_eq!(only(&tr).client_state, want);
        }
    }

    #[test]
    fn time_wait_peak_counts_overlapping_endpoints() {
        for (tw, peak) in [(10.0, 3), (1.5, 2), (0.5, 1)] {
            let mut tr = tracker(tw);
            for i in 0..3u16 {
                let mut w = Wire::new(&format!("10.0.0.1:{}", 40000 + i), "10.0.0.2:80");
                w.at(f64::from(i));
                w.handshake(&mut tr);
                w.close_by(&mut tr, C);
                check_tw_count(&tr);
            }
            assert_eq!(tr.stats().time_wait_peak, peak, "tw {tw}");
            assert_eq!(tr.stats().time_wait_entered, [3, 0]);
        }
    }

    #[test]
    fn retransmitted_fin_in_time_wait_restarts_2msl() {
        let mut tr = tracker(60.0);
        let mut w = Wire::new("10.0.0.1:40000", "10.0.0.2:80");
        w.handshake(&mut tr);
        w.send(&mut tr, C, FA, 0);
        w.send(&mut tr, S, A, 0);
        let server_fin = w.nxt[1];
        w.send(&mut tr, S, FA, 0);
        w.send(&mut tr, C, A, 0);
        // The final ACK was lost: the server retransmits its FIN 1 s later.
        let again = seg(w.addr[1], w.addr[0], FA, server_fin, w.nxt[0], 0, w.t + 1.0);
        tr.on_segment(&again).unwrap();
        w.at(w.t + 1.0);
        w.send(&mut tr, C, A, 0);
        let r = only(&tr);
        assert_eq!(r.client_state, TimeWait);
        assert_eq!(r.time_wait_until, Some(w.now().plus_secs(60.0)));
        check_tw_count(&tr);
    }

    #[test]
    fn ack_covers_fin_across_sequence_wrap() {
        let mut tr = tracker(60.0);
        // The client's FIN occupies sequence number 0xFFFF_FFFF; its ACK is 0.
        let mut w = Wire::new("10.0.0.1:40000", "10.0.0.2:80").isn(u32::MAX - 100, 5000);
        w.handshake(&mut tr);
        w.send(&mut tr, C, PA, 99);
        assert_eq!(w.nxt[0], u32::MAX);
        w.send(&mut tr, C, FA, 0);
        assert_eq!(w.nxt[0], 0);
        // An ACK one short of the FIN does not cover it ...
        let o = w.send_ack(&mut tr, S, A, u32::MAX);
        assert!(o.transitions.is_empty());
        // ... the wrapped ACK of 0 does.
        let o = w.send_ack(&mut tr, S, A, 0);
        assert_eq!(o.transitions[..], [t(C, FinWait1, FinWait2)]);
        w.send(&mut tr, S, FA, 0);
        w.send(&mut tr, C, A, 0);
        assert_eq!(only(&tr).client_state, TimeWait);
    }

    // ---- memory: drain, tombstones, cap ----

    #[test]
    fn drained_connection_keeps_late_packets_then_is_purged() {
        let mut tr = tracker(60.0);
        let mut w = Wire::new("10.0.0.1:40000", "10.0.0.2:80");
        w.handshake(&mut tr);
        w.close_by(&mut tr, C);
        assert!(tr.drain_ended().len() == 1);
        assert!(tr.drain_ended().is_empty());
        assert!(tr.records().is_empty());
        assert_eq!(tr.stats().tracked, 0);
        // A late duplicate ACK still belongs to connection 1.
        let late = seg(w.addr[0], w.addr[1], A, w.nxt[0], w.nxt[1], 0, w.t + 1.0);
        let o = tr.on_segment(&late).unwrap();
        assert_eq!((o.conn, o.new_connection), (ConnId(1), false));
        assert!(tr.drain_ended().is_empty());
        // Long after TIME-WAIT the tombstone is gone: the same tuple starts afresh.
        let much_later = Segment {
            ts: ts(w.t + 500.0),
            ..late
        };
        let o = tr.on_segment(&much_later).unwrap();
        assert_eq!((o.conn, o.new_connection), (ConnId(2), true));
        assert_eq!(tr.index.len(), 1);
        assert_eq!(tr.stats().time_wait_at_end, 0);
    }

    #[test]
    fn cap_drops_new_connections_until_one_is_drained() {
        let mut tr = Tracker::new(TrackConfig {
            time_wait_secs: 60.0,
            max_connections: 1,
        });
        let mut a = Wire::new("10.0.0.1:40000", "10.0.0.2:80");
        a.handshake(&mut tr);
        let b = seg(
            addr("10.0.0.1:40001"),
            addr("10.0.0.2:80"),
            SYN,
            1,
            0,
            0,
            0.01,
        );
        assert!(tr.on_segment(&b).is_none());
        assert_eq!(tr.stats().dropped_at_cap, 1);
        // Packets of the tracked connection still flow.
        assert!(a.send(&mut tr, C, PA, 10).conn == ConnId(1));
        a.send(&mut tr, C, RA, 0);
        assert_eq!(tr.drain_ended().len(), 1);
        let o = tr.on_segment(&Segment { ts: ts(1.0), ..b }).unwrap();
        assert_eq!(o.conn, ConnId(2));
    }

    /// A record from a tracker that never compacts: the reference for the
    /// embryo tests (built from the same segments through `Conn` directly).
    fn full_record(segs: &[Segment]) -> ConnRecord {
        let mut c = Conn::new(ConnId(1), 0, &segs[0]);
        let mut clock = Clock::new(60.0);
        let mut seen = false;
        for s in segs {
            let r = matches!(
                c.fit(s),
                Fit::Same {
                    syn_retransmit: true
                }
            );
            c.on_segment(s, &mut clock, r && seen);
            seen = true;
        }
        c.record()
    }

    #[test]
    fn a_syn_only_connection_is_compact_and_reports_the_same() {
        let (cl, sv) = (addr("10.0.0.1:40000"), addr("10.0.0.2:80"));
        let syn = |t: f64| seg(cl, sv, SYN, 777, 0, 0, t);
        let mut tr = tracker(60.0);
        tr.on_segment(&syn(0.0)).unwrap();
        assert_eq!(tr.embryos, 1, "a SYN alone is kept compact");
        assert_eq!(only(&tr), full_record(&[syn(0.0)]));
        // Retransmissions (even captured out of time order) stay compact.
        tr.on_segment(&syn(3.0)).unwrap();
        tr.on_segment(&syn(1.0)).unwrap();
        assert_eq!(tr.embryos, 1);
        let r = only(&tr);
        assert_eq!(r, full_record(&[syn(0.0), syn(3.0), syn(1.0)]));
        assert_eq!((r.syn_retransmits, r.packets[0]), (2, 3));
        assert_eq!(tr.syn_seqs(ConnId(1)).unwrap()[0], (cl, Some(777)));
        // The SYN-ACK makes it whole; the connection goes on as before.
        let sa = seg(sv, cl, SA, 9000, 778, 0, 3.5);
        let o = tr.on_segment(&sa).unwrap();
        assert_eq!((o.conn, o.new_connection), (ConnId(1), false));
        assert_eq!(tr.embryos, 0);
        assert_eq!(only(&tr), full_record(&[syn(0.0), syn(3.0), syn(1.0), sa]));
        // Also IPv6, and a SYN from the larger endpoint.
        let (c6, s6) = (addr("[2001:db8::9]:50000"), addr("[2001:db8::1]:443"));
        let mut tr = tracker(60.0);
        let syn6 = seg(c6, s6, SYN, 1, 0, 0, 0.0);
        tr.on_segment(&syn6).unwrap();
        assert_eq!(tr.embryos, 1);
        assert_eq!(only(&tr), full_record(&[syn6]));
        tr.finish(ts(10.0));
        assert_eq!(tr.drain_ended(), vec![full_record(&[syn6])]);
        assert_eq!((tr.embryos, tr.index.len(), tr.stats().tracked), (0, 0, 0));
    }

    /// Compact forms change nothing: random segment streams over a few
    /// tuples (SYN floods, handshakes, closes, late packets, reuse, time
    /// going back and forth) give the same outcomes, counters and records
    /// with and without them. (The `track` fuzz target does the same.)
    #[test]
    fn compact_forms_are_small() {
        // The SYN-flood budget (160 B per connection) holds the slot; a tomb
        // is kept per connection for `--time-wait` seconds.
        assert!(
            std::mem::size_of::<Slot>() <= 80,
            "{}",
            std::mem::size_of::<Slot>()
        );
        assert!(
            std::mem::size_of::<Tomb>() <= 64,
            "{}",
            std::mem::size_of::<Tomb>()
        );
    }

    /// A seeded xorshift: `rnd(n)` is in `0..n`, the same on every run.
    fn xorshift(seed: u64) -> impl FnMut(u64) -> u64 {
        let mut x = seed;
        move |n| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        }
    }

    #[test]
    fn timers_come_out_in_the_order_a_heap_gives() {
        // Mostly rising times with some out of order, equal times with
        // different connections and kinds, pops interleaved with pushes.
        let mut rnd = xorshift(0x2545_f491_4f6c_dd1d);
        let (mut ours, mut heap) = (Timers::default(), BinaryHeap::new());
        let mut t = 0i64;
        let (mut popped, mut late) = (0, 0);
        for _ in 0..20_000 {
            if rnd(3) == 0 {
                assert_eq!(ours.pop(), heap.pop().map(|Reverse(t)| t));
                popped += 1;
                continue;
            }
            t += rnd(3) as i64;
            let at = if rnd(10) == 0 {
                late += 1;
                t - rnd(5) as i64
            } else {
                t
            };
            let timer = Timer {
                at: Timestamp::new(at, rnd(2) as u32),
                conn: ConnId(rnd(4)),
                slot: rnd(3) as u32,
                kind: [TimerKind::TimeWait, TimerKind::Purge][rnd(2) as usize],
            };
            ours.push(timer);
            heap.push(Reverse(timer));
            assert_eq!(ours.peek(), heap.peek().map(|&Reverse(t)| t));
        }
        while let Some(Reverse(want)) = heap.pop() {
            assert_eq!(ours.pop(), Some(want));
        }
        assert_eq!(ours.pop(), None);
        assert!(popped > 1000 && late > 1000, "{popped} {late}");
        assert!(ours.out_of_order.capacity() > 0, "the heap part was used");
    }

    #[test]
    fn the_index_grows_with_slots_freed_and_reused() {
        // Thousands of 4-tuples (the index is rebuilt several times), a
        // third of them refused, drained and purged while the others open,
        // so that growth happens with free slots about.
        let server = addr("10.0.0.2:80");
        let client = |k: u32| addr(&format!("10.0.0.1:{}", 10_000 + k));
        let mut tr = tracker(0.5);
        let mut ids = Vec::new();
        for k in 0..3000u32 {
            let t = f64::from(k) * 0.001;
            let o = tr
                .on_segment(&seg(client(k), server, SYN, k, 0, 0, t))
                .unwrap();
            assert!(o.new_connection);
            ids.push(o.conn);
            if k % 3 == 0 {
                tr.on_segment(&seg(server, client(k), RA, 0, k + 1, 0, t))
                    .unwrap();
                tr.drain_ended();
            }
        }
        assert!(tr.index.capacity() >= 2000, "{}", tr.index.capacity());
        assert!(tr.slots.len() < 3000, "freed slots were reused");
        for k in (0..3000u32).filter(|k| k % 3 != 0) {
            let o = tr
                .on_segment(&seg(server, client(k), SA, 7, k + 1, 0, 3.0))
                .unwrap();
            assert_eq!((o.conn, o.new_connection), (ids[k as usize], false), "{k}");
        }
    }

    #[test]
    fn embryo_expands_as_its_syns_replayed() {
        let (c, s6) = (addr("10.0.0.1:40000"), addr("10.0.0.2:80"));
        let (c6, s66) = (addr("[::1]:5000"), addr("[::1]:80"));
        for (client, server) in [(c, s6), (s6, c), (c6, s66)] {
            let key = TupleKey::new(client, server);
            for (syns, start, end, reused) in [
                (1, 5_000_000_000, 5_000_000_000, false),
                (3, 5_000_000_000, 7_500_000_001, true),
                (2, -1, 0, false),
            ] {
                let e = Embryo {
                    start,
                    end,
                    isn: 0xffff_fff0,
                    syns,
                    client_is_lo: client <= server,
                    reused,
                };
                let id = ConnId(9);
                assert_eq!(e.expand(id, 3, &key), e.replayed(id, 3, &key), "{e:?}");
            }
        }
    }

    #[test]
    fn embryos_and_tombs_are_invisible() {
        let mut rnd = xorshift(0x9e37_79b9_7f4a_7c15);
        let flags = [SYN, SYN, SA, A, PA, FA, RA, R, F::FIN, SYN | F::FIN];
        let hosts = [
            "10.0.0.1:40000",
            "10.0.0.2:80",
            "10.0.0.1:40001",
            "[::1]:5000",
            "[::1]:80",
        ];
        // Embryo, tomb, and a tomb stored while freed ones wait for reuse.
        let mut seen_forms = [false; 3];
        for run in 0..300 {
            let tw = (run % 3) as f64;
            let (mut a, mut b) = (tracker(tw), tracker(tw).without_compaction());
            let mut t = 0.0;
            for _ in 0..200 {
                let (i, j) = (rnd(5) as usize, rnd(5) as usize);
                let (src, dst) = (addr(hosts[i]), addr(hosts[j]));
                if src.is_ipv4() != dst.is_ipv4() || src == dst {
                    continue;
                }
                t += rnd(1500) as f64 / 1000.0 - 0.2;
                let sg = seg(
                    src,
                    dst,
                    flags[rnd(flags.len() as u64) as usize],
                    [1000, 1001, 5000, 5001, rnd(1 << 32) as u32][rnd(5) as usize],
                    [1001, 1002, 5001, 5002, 0][rnd(5) as usize],
                    [0, 0, 10][rnd(3) as usize],
                    t,
                );
                feed_alike(&mut a, &mut b, &sg);
                for sl in &a.slots {
                    seen_forms[0] |= matches!(sl.body, Body::Embryo(_));
                    seen_forms[1] |= matches!(sl.body, Body::Tomb(_));
                }
                check_tombs(&a);
                seen_forms[2] |= a.spare.tombs.len() > a.spare.free_tombs.len()
                    && !a.spare.free_tombs.is_empty();
                if rnd(4) == 0 {
                    assert_eq!(a.records(), b.records());
                    assert_eq!(a.drain_ended(), b.drain_ended());
                }
            }
            finish_alike(&mut a, &mut b, ts(t + 1.0));
        }
        assert_eq!(
            seen_forms,
            [true, true, true],
            "both compact forms, and tomb reuse, were exercised"
        );
    }

    /// One segment into a tracker and its reference: the same outcome.
    fn feed_alike(a: &mut Tracker, b: &mut Tracker, sg: &Segment) {
        assert_eq!(a.on_segment(sg), b.on_segment(sg));
        assert_eq!(a.stats(), b.stats());
    }

    /// Both trackers finished: the same last records and counters.
    fn finish_alike(a: &mut Tracker, b: &mut Tracker, at: Timestamp) {
        a.finish(at);
        b.finish(at);
        assert_eq!(a.drain_ended(), b.drain_ended());
        assert_eq!(a.stats(), b.stats());
    }

    /// Connections drained in TIME-WAIT get their purge timer from their
    /// TIME-WAIT timer instead of at the drain: the same purges at the same
    /// points, whatever comes late (retransmitted FINs, ACKs, RSTs, a new
    /// SYN on the tuple, time going back).
    #[test]
    fn deferred_purge_timers_are_invisible() {
        let mut rnd = xorshift(0x2545_f491_4f6c_dd1d);
        let mut pushes = 0;
        for run in 0..300 {
            let tw = [0.5, 1.0, 2.0][run % 3];
            let (mut a, mut b) = (tracker(tw), tracker(tw).without_compaction());
            let mut wires: Vec<Wire> = (0..4)
                .map(|k| Wire::new(&format!("10.0.0.1:{}", 40000 + k), "10.0.0.2:80"))
                .collect();
            let mut t = 0.0f64;
            for _ in 0..120 {
                // Steps of up to a TIME-WAIT, a few back in time.
                t += match rnd(10) {
                    0 => -0.05,
                    _ => tw * rnd(100) as f64 / 200.0,
                };
                let w = &mut wires[rnd(2) as usize];
                w.at(t);
                let side = |r: u64| if r == 0 { C } else { S };
                let segs = match rnd(5) {
                    0 | 1 => {
                        // A whole exchange, closed by either side.
                        let closer = side(rnd(2));
                        let mut v = Vec::new();
                        for (from, flags, len) in
                            [(C, SYN, 0), (S, SA, 0), (C, A, 0), (C, PA, 10), (S, PA, 10)]
                        {
                            v.push(w.build(from, flags, len, None));
                        }
                        for (from, flags) in [
                            (closer, FA),
                            (closer.peer(), A),
                            (closer.peer(), FA),
                            (closer, A),
                        ] {
                            v.push(w.build(from, flags, 0, None));
                        }
                        v
                    }
                    2 => {
                        // A FIN again (its sequence number reused).
                        let r = side(rnd(2));
                        w.nxt[r.idx()] = w.nxt[r.idx()].wrapping_sub(1);
                        vec![w.build(r, FA, 0, None)]
                    }
                    3 => vec![w.build(side(rnd(2)), A, 0, None)],
                    _ => vec![w.build(side(rnd(2)), R, 0, None)],
                };
                for sg in segs {
                    feed_alike(&mut a, &mut b, &sg);
                    assert_eq!(a.drain_ended(), b.drain_ended());
                }
            }
            finish_alike(&mut a, &mut b, ts(t + 1.0));
            pushes += a.deferred_pushes;
        }
        assert!(pushes > 1000, "deferred pushes: {pushes}");
    }

    /// Every stored tomb belongs to exactly one slot or to the free list.
    fn check_tombs(tr: &Tracker) {
        let mut owner = vec![0u8; tr.spare.tombs.len()];
        for sl in &tr.slots {
            if let Body::Tomb(i) = sl.body {
                owner[i as usize] += 1;
            }
        }
        for &i in &tr.spare.free_tombs {
            owner[i as usize] += 2;
        }
        assert!(owner.iter().all(|&n| n == 1 || n == 2), "{owner:?}");
    }

    #[test]
    fn at_the_cap_a_half_open_connection_makes_room() {
        let mut tr = Tracker::new(TrackConfig {
            time_wait_secs: 60.0,
            max_connections: 2,
        });
        let syn = |port: u16, t: f64| {
            seg(
                SocketAddr::from(([10, 0, 0, 1], port)),
                addr("10.0.0.2:80"),
                SYN,
                u32::from(port),
                0,
                0,
                t,
            )
        };
        let mut a = Wire::new("10.0.0.1:30000", "10.0.0.2:80");
        a.handshake(&mut tr);
        tr.on_segment(&syn(40001, 1.0)).unwrap();
        // Full: the half-open #2 goes (reported as it stands), #3 is tracked.
        let o = tr.on_segment(&syn(40002, 2.0)).unwrap();
        assert_eq!(o.conn, ConnId(3));
        let st = tr.stats();
        assert_eq!((st.evicted, st.dropped_at_cap, st.tracked), (1, 0, 2));
        let d = tr.drain_ended();
        assert_eq!(d.len(), 1);
        assert_eq!((d[0].id, d[0].client_state), (ConnId(2), SynSent));
        // #3 goes for #4; when only established connections are left, new
        // ones are dropped.
        tr.on_segment(&syn(40003, 3.0)).unwrap();
        let mut b = Wire::new("10.0.0.1:40003", "10.0.0.2:80").isn(40003, 1);
        b.at(3.0);
        let sa = b.build(S, SA, 0, Some(40004));
        tr.on_segment(&sa).unwrap();
        assert!(tr.on_segment(&syn(40004, 4.0)).is_none());
        let st = tr.stats();
        assert_eq!((st.evicted, st.dropped_at_cap, st.tracked), (2, 1, 2));
        // A packet of the evicted #2 now opens a new connection.
        let late = seg(
            addr("10.0.0.2:80"),
            addr("10.0.0.1:40001"),
            SA,
            7,
            40002,
            0,
            5.0,
        );
        assert!(tr.on_segment(&late).is_none(), "still at the cap");
        a.send(&mut tr, C, RA, 0);
        tr.drain_ended();
        assert_eq!(tr.on_segment(&late).unwrap().conn, ConnId(5));
    }

    #[test]
    fn finish_ends_open_connections_for_draining() {
        let mut tr = tracker(60.0);
        let mut a = Wire::new("10.0.0.1:40000", "10.0.0.2:80");
        a.handshake(&mut tr);
        let mut b = Wire::new("10.0.0.1:40001", "10.0.0.2:80");
        b.handshake(&mut tr);
        b.close_by(&mut tr, S);
        assert_eq!(
            tr.drain_ended().iter().map(|r| r.id).collect::<Vec<_>>(),
            [ConnId(2)]
        );
        tr.finish(b.now());
        let d = tr.drain_ended();
        assert_eq!(d.len(), 1);
        assert_eq!((d[0].id, d[0].close), (ConnId(1), Close::Open));
        assert_eq!(d[0].client_state, Established);
    }

    #[test]
    fn bogus_flags_are_counted_not_followed() {
        let mut tr = tracker(60.0);
        let mut w = Wire::new("10.0.0.1:40000", "10.0.0.2:80");
        w.handshake(&mut tr);
        let o = w.send(&mut tr, C, F::SYN | F::FIN, 0);
        assert!(o.anomaly && o.transitions.is_empty());
        assert_eq!(o.conn, ConnId(1));
        assert_eq!(only(&tr).anomalies, 1);
        assert_eq!(tr.stats().anomalies, 1);
    }

    #[test]
    fn same_socket_on_both_ends_does_not_panic() {
        let mut tr = tracker(60.0);
        let a = addr("127.0.0.1:5000");
        for (i, f) in [SYN, SA, A, FA, A, R].into_iter().enumerate() {
            tr.on_segment(&seg(a, a, f, 7, 8, 0, i as f64)).unwrap();
        }
        tr.finish(ts(10.0));
        assert_eq!(tr.records().len(), 1);
    }

    #[test]
    fn text_forms_match_the_json_contract() {
        let closes = [
            (Close::Client, "client"),
            (Close::Server, "server"),
            (Close::Simultaneous, "simultaneous"),
            (Close::ResetByClient, "reset-by-client"),
            (Close::ResetByServer, "reset-by-server"),
            (Close::Open, "open"),
            (Close::Refused, "refused"),
        ];
        for (c, text) in closes {
            assert_eq!(c.name(), text);
            assert_eq!(serde_json::to_string(&c).unwrap(), format!("\"{text}\""));
        }
        assert_eq!(Handshake::Missing.to_string(), "missing");
        assert_eq!(TimeWaitHolder::Both.name(), "both");
        assert_eq!(Role::Server.name(), "server");
        assert_eq!(serde_json::to_string(&FinWait2).unwrap(), "\"FIN_WAIT_2\"");
        assert_eq!(ConnId(7).to_string(), "7");
    }

    #[test]
    fn syn_ack_with_new_isn_on_a_closed_tuple_is_a_new_connection() {
        let mut tr = tracker(60.0);
        let mut w = Wire::new("10.0.0.1:40000", "10.0.0.2:80");
        w.handshake(&mut tr);
        w.send(&mut tr, C, RA, 0);
        let sa = seg(w.addr[1], w.addr[0], SA, 123_456, 999, 0, 3.0);
        let o = tr.on_segment(&sa).unwrap();
        assert_eq!((o.conn, o.new_connection, o.from), (ConnId(2), true, S));
        assert_eq!(tr.records()[1].handshake, Handshake::Partial);
    }

    /// Arbitrary segments on a handful of 4-tuples keep the table's invariants.
    #[test]
    fn random_segments_keep_invariants() {
        let mut rng: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let addrs = [
            addr("10.0.0.1:1000"),
            addr("10.0.0.2:80"),
            addr("[::1]:8080"),
            addr("10.0.0.1:1001"),
        ];
        let flags = [
            SYN,
            SA,
            A,
            PA,
            FA,
            RA,
            R,
            F::FIN,
            F::SYN | F::FIN,
            0,
            F::FIN | F::RST | F::ACK,
        ];
        for tw in [0.0, 0.01, 60.0] {
            let mut tr = Tracker::new(TrackConfig {
                time_wait_secs: tw,
                max_connections: 6,
            });
            let mut now = 0.0;
            let mut last_id = 0;
            for _ in 0..20_000 {
                let r = next();
                let src = addrs[(r % 4) as usize];
                let dst = addrs[((r >> 8) % 4) as usize];
                let f = flags[((r >> 16) % flags.len() as u64) as usize];
                // Small numbers, sometimes shifted next to the 2^32 wrap.
                let seq = (((r >> 24) % 8) as u32).wrapping_sub(((r >> 40) % 2) as u32 * 4);
                let ack = ((r >> 32) % 8) as u32;
                now += ((r >> 48) % 100) as f64 / 1000.0;
                if let Some(o) =
                    tr.on_segment(&seg(src, dst, f, seq, ack, ((r >> 56) % 3) as u32, now))
                {
                    assert!(o.conn.0 >= 1 && o.conn.0 <= tr.stats().connections);
                    if o.new_connection {
                        assert!(o.conn.0 > last_id);
                        last_id = o.conn.0;
                    }
                }
                check_tw_count(&tr);
                if r % 97 == 0 {
                    let d = tr.drain_ended();
                    assert!(d.windows(2).all(|p| p[0].id < p[1].id));
                }
                assert!(tr.stats().tracked <= 6);
            }
            tr.finish(ts(now + 1000.0));
            assert_eq!(tr.stats().time_wait_at_end, 0);
            tr.drain_ended();
            assert!(tr.records().is_empty());
        }
    }
}
