//! One TCP endpoint's RFC 793 state and the pure transition function `step`.
//!
//! The tracker watches the wire, not a socket: a segment sent by endpoint A
//! moves A along a *send* arc and moves B along a *receive* arc (B is assumed to
//! receive what was seen on the wire). `Event` is built from the segment's flags
//! and a sequence-number comparison ("the ACK covers our FIN"), never from the
//! ACK flag alone.
//!
//! An arc of the RFC 793 diagram labelled `rcv X / snd Y` fires when X is seen,
//! with two exceptions chosen so the state only moves on wire evidence:
//! - LISTEN → SYN_RECEIVED fires on the SYN-ACK (`SendSynAck`): a SYN nobody
//!   answered leaves the server in LISTEN rather than inventing a half-open socket;
//! - FIN_WAIT_2 → TIME_WAIT fires when the active closer's ACK of the peer's FIN
//!   is seen (`SendAckOfFin`): issue #3 starts TIME-WAIT, and its 2MSL clock, at
//!   that ACK. A FIN+ACK received in FIN_WAIT_1 is therefore split into its two
//!   diagram arcs: "rcv ACK of FIN" (→ FIN_WAIT_2) now, "rcv FIN / snd ACK"
//!   (→ TIME_WAIT) when the ACK leaves.
//!
//! RST arcs come from RFC 793 §3.9 ("reset processing"); the diagram omits them.

/// An endpoint's connection state (RFC 793 §3.2, Figure 6).
///
/// The TIME-WAIT deadline lives beside the state in the tracker's endpoint data:
/// this enum stays `Copy` and data-free because it is also the public text form
/// every renderer prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EndpointState {
    Closed,
    Listen,
    SynSent,
    SynReceived,
    Established,
    FinWait1,
    FinWait2,
    CloseWait,
    Closing,
    LastAck,
    TimeWait,
}

impl EndpointState {
    /// Every state, in diagram order (for exhaustive tests and legends).
    pub const ALL: [EndpointState; 11] = [
        EndpointState::Closed,
        EndpointState::Listen,
        EndpointState::SynSent,
        EndpointState::SynReceived,
        EndpointState::Established,
        EndpointState::FinWait1,
        EndpointState::FinWait2,
        EndpointState::CloseWait,
        EndpointState::Closing,
        EndpointState::LastAck,
        EndpointState::TimeWait,
    ];

    /// The RFC 793 name (`TIME_WAIT`): the single text form all renderers use.
    pub fn name(self) -> &'static str {
        match self {
            EndpointState::Closed => "CLOSED",
            EndpointState::Listen => "LISTEN",
            EndpointState::SynSent => "SYN_SENT",
            EndpointState::SynReceived => "SYN_RECEIVED",
            EndpointState::Established => "ESTABLISHED",
            EndpointState::FinWait1 => "FIN_WAIT_1",
            EndpointState::FinWait2 => "FIN_WAIT_2",
            EndpointState::CloseWait => "CLOSE_WAIT",
            EndpointState::Closing => "CLOSING",
            EndpointState::LastAck => "LAST_ACK",
            EndpointState::TimeWait => "TIME_WAIT",
        }
    }

    /// No connection exists on this endpoint any more (or yet): CLOSED, or
    /// LISTEN (a listener holds no per-connection state).
    pub fn is_closed(self) -> bool {
        matches!(self, EndpointState::Closed | EndpointState::Listen)
    }

    /// The connection is over for this endpoint: closed, or lingering in TIME_WAIT.
    pub fn is_over(self) -> bool {
        self.is_closed() || self == EndpointState::TimeWait
    }
}

impl std::fmt::Display for EndpointState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl serde::Serialize for EndpointState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// What one segment means to one endpoint: `Send*` for its sender, `Recv*` for
/// its receiver. "OfFin" variants are decided by `SeqNum` comparison of the
/// acknowledgment number with the endpoint's own (or its peer's) FIN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Event {
    /// SYN without ACK leaves this endpoint.
    SendSyn,
    /// SYN+ACK leaves this endpoint.
    SendSynAck,
    /// A plain ACK (maybe with data) that does not cover a FIN of the peer.
    SendAck,
    /// An ACK whose acknowledgment number covers the peer's FIN.
    SendAckOfFin,
    /// A FIN; it acknowledges the peer's FIN if one was seen.
    SendFin,
    /// A FIN that does *not* acknowledge a FIN the peer already sent: the two
    /// FINs crossed on the wire (simultaneous close).
    SendFinCrossed,
    /// RST leaves this endpoint.
    SendRst,
    /// SYN without ACK arrives.
    RecvSyn,
    /// SYN+ACK arrives.
    RecvSynAck,
    /// An ACK (maybe with data) that does not cover our FIN.
    RecvAck,
    /// An ACK whose acknowledgment number covers our FIN.
    RecvAckOfFin,
    /// A FIN that does not acknowledge our FIN (or we sent none).
    RecvFin,
    /// A FIN whose acknowledgment number also covers our FIN.
    RecvFinAckOfFin,
    /// RST arrives.
    RecvRst,
    /// A flag combination no TCP sends: SYN+FIN, SYN+RST, FIN+RST, or none of
    /// SYN/ACK/RST (null and FIN scans).
    Bogus,
    /// The 2MSL timer ran out (evaluated against packet timestamps).
    TimeWaitTimeout,
}

impl Event {
    /// Every event (for exhaustive tests).
    pub const ALL: [Event; 16] = [
        Event::SendSyn,
        Event::SendSynAck,
        Event::SendAck,
        Event::SendAckOfFin,
        Event::SendFin,
        Event::SendFinCrossed,
        Event::SendRst,
        Event::RecvSyn,
        Event::RecvSynAck,
        Event::RecvAck,
        Event::RecvAckOfFin,
        Event::RecvFin,
        Event::RecvFinAckOfFin,
        Event::RecvRst,
        Event::Bogus,
        Event::TimeWaitTimeout,
    ];
}

/// Something a real TCP would not do (or the capture missed a packet). Counted,
/// never fatal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Anomaly {
    /// No arc of the diagram takes this event in this state; the state is kept.
    Unexpected,
    /// The segment carries an impossible flag combination; the state is kept.
    Bogus,
}

/// One step of one endpoint: the RFC 793 diagram as seen from the wire.
///
/// Pure and total: every (state, event) pair returns, unknown pairs keep the
/// state and report `Anomaly::Unexpected`.
pub fn step(state: EndpointState, event: Event) -> (EndpointState, Option<Anomaly>) {
    use EndpointState::*;
    use Event::*;
    let to = match (state, event) {
        // ---- RST (RFC 793 §3.9 "reset processing"), first ----
        // LISTEN: "an incoming RST should be ignored".
        (Listen, RecvRst) => Listen,
        // TIME_WAIT: a RST ends TIME-WAIT early (RFC 1337 "TIME-WAIT assassination"; Linux honours it).
        (TimeWait, RecvRst) => Closed,
        // CLOSED: "an incoming segment containing a RST is discarded".
        (Closed, RecvRst) => Closed,
        // SYN_RECEIVED: RFC returns a passive open to LISTEN; this connection is gone, so CLOSED.
        // Synchronized states and SYN_SENT: "enter the CLOSED state, delete the TCB".
        (_, RecvRst) => Closed,
        // Any state: ABORT / reply to an unacceptable segment "snd RST", → CLOSED.
        (_, SendRst) => Closed,

        // ---- impossible flags ----
        // SYN+FIN and friends move nothing (reported as Bogus, not Unexpected).
        (s, Bogus) => return (s, Some(Anomaly::Bogus)),

        // ---- opening ----
        // CLOSED --active OPEN / snd SYN--> SYN_SENT.
        (Closed, SendSyn) => SynSent,
        // LISTEN --SEND / snd SYN--> SYN_SENT.
        (Listen, SendSyn) => SynSent,
        // SYN_SENT: the SYN is retransmitted.
        (SynSent, SendSyn) => SynSent,
        // LISTEN --rcv SYN--: the arc completes when our SYN-ACK is seen.
        (Listen, RecvSyn) => Listen,
        // LISTEN --rcv SYN / snd SYN,ACK--> SYN_RECEIVED.
        (Listen, SendSynAck) => SynReceived,
        // SYN_RECEIVED: the SYN-ACK is retransmitted.
        (SynReceived, SendSynAck) => SynReceived,
        // SYN_RECEIVED: a retransmitted SYN arrives (we answer with the SYN-ACK again).
        (SynReceived, RecvSyn) => SynReceived,
        // SYN_SENT --rcv SYN / snd ACK--> SYN_RECEIVED (simultaneous open).
        (SynSent, RecvSyn) => SynReceived,
        // SYN_SENT --rcv SYN,ACK / snd ACK--> ESTABLISHED.
        (SynSent, RecvSynAck) => Established,
        // SYN_RECEIVED --rcv ACK of SYN--> ESTABLISHED.
        (SynReceived, RecvAck) => Established,
        // SYN_RECEIVED --rcv SYN,ACK (ACK of SYN)--> ESTABLISHED (simultaneous open).
        (SynReceived, RecvSynAck) => Established,
        // ESTABLISHED: a retransmitted SYN-ACK arrives (our ACK was lost); we ACK again.
        (Established, RecvSynAck) => Established,

        // ---- data transfer ----
        // ESTABLISHED: data and ACKs flow both ways.
        (Established, SendAck | RecvAck) => Established,

        // ---- closing ----
        // ESTABLISHED --CLOSE / snd FIN--> FIN_WAIT_1.
        (Established, SendFin) => FinWait1,
        // SYN_RECEIVED --CLOSE / snd FIN--> FIN_WAIT_1.
        (SynReceived, SendFin) => FinWait1,
        // ESTABLISHED --rcv FIN / snd ACK--> CLOSE_WAIT.
        (Established, RecvFin) => CloseWait,
        // SYN_RECEIVED --rcv FIN--> CLOSE_WAIT (RFC 793 §3.9, FIN processing).
        (SynReceived, RecvFin) => CloseWait,
        // FIN_WAIT_1 --rcv ACK of FIN--> FIN_WAIT_2.
        (FinWait1, RecvAckOfFin) => FinWait2,
        // FIN_WAIT_1 --rcv ACK of FIN--> FIN_WAIT_2; the FIN it carries waits for our ACK.
        (FinWait1, RecvFinAckOfFin) => FinWait2,
        // FIN_WAIT_1 --rcv FIN / snd ACK--> CLOSING (simultaneous close).
        (FinWait1, RecvFin) => Closing,
        // FIN_WAIT_1: our FIN is retransmitted, or we ACK the peer's data (half-close).
        (FinWait1, SendFin | SendAck | RecvAck) => FinWait1,
        // FIN_WAIT_2 --rcv FIN--: the arc completes when our ACK of it is seen.
        (FinWait2, RecvFin | RecvFinAckOfFin) => FinWait2,
        // FIN_WAIT_2 --rcv FIN / snd ACK--> TIME_WAIT (2MSL starts at this ACK).
        (FinWait2, SendAckOfFin) => TimeWait,
        // FIN_WAIT_2: the peer keeps sending (half-close), we ACK it.
        (FinWait2, SendAck | RecvAck | RecvAckOfFin) => FinWait2,
        // CLOSE_WAIT --CLOSE / snd FIN--> LAST_ACK.
        (CloseWait, SendFin) => LastAck,
        // Our FIN left before the peer's arrived (ESTABLISHED → FIN_WAIT_1 → rcv FIN → CLOSING).
        (CloseWait, SendFinCrossed) => Closing,
        // CLOSE_WAIT: we keep sending (half-close), ACK the FIN again, or the peer retransmits it.
        (CloseWait, SendAck | SendAckOfFin | RecvAck | RecvFin) => CloseWait,
        // CLOSING --rcv ACK of FIN--> TIME_WAIT.
        (Closing, RecvAckOfFin | RecvFinAckOfFin) => TimeWait,
        // CLOSING: we ACK the peer's FIN, retransmit ours, or the peer retransmits its FIN.
        (Closing, SendAck | SendAckOfFin | SendFin | SendFinCrossed | RecvAck | RecvFin) => Closing,
        // LAST_ACK --rcv ACK of FIN--> CLOSED.
        (LastAck, RecvAckOfFin | RecvFinAckOfFin) => Closed,
        // LAST_ACK: our FIN is retransmitted, or the peer's FIN/ACKs of data arrive again.
        (LastAck, SendFin | SendAck | SendAckOfFin | RecvAck | RecvFin) => LastAck,
        // TIME_WAIT --rcv FIN / snd ACK--> TIME_WAIT (restart the 2MSL timeout).
        (TimeWait, RecvFin | RecvFinAckOfFin | SendAckOfFin | SendAck) => TimeWait,
        // TIME_WAIT: a duplicate ACK of our FIN (simultaneous close) changes nothing.
        (TimeWait, RecvAckOfFin) => TimeWait,
        // TIME_WAIT --Timeout=2MSL--> CLOSED (delete TCB).
        (TimeWait, TimeWaitTimeout) => Closed,
        // TIME_WAIT: a new SYN reopens the 4-tuple (RFC 1122 §4.2.2.13); this incarnation ends.
        (TimeWait, SendSyn | RecvSyn) => Closed,

        // Anything else: keep the state and say so.
        (s, _) => return (s, Some(Anomaly::Unexpected)),
    };
    (to, None)
}

#[cfg(test)]
mod tests {
    use super::EndpointState::*;
    use super::Event::*;
    use super::*;

    /// One row per arc of the RFC 793 diagram (Figure 6) plus the §3.9 RST rules,
    /// as (from, event, expected to, expected anomaly). Read it next to the figure.
    const ARCS: &[(EndpointState, Event, EndpointState, Option<Anomaly>)] = &[
        // CLOSED --active OPEN / snd SYN--> SYN_SENT
        (Closed, SendSyn, SynSent, None),
        // LISTEN --rcv SYN / snd SYN,ACK--> SYN_RCVD (fires on the SYN-ACK)
        (Listen, RecvSyn, Listen, None),
        (Listen, SendSynAck, SynReceived, None),
        // LISTEN --SEND / snd SYN--> SYN_SENT
        (Listen, SendSyn, SynSent, None),
        // SYN_SENT --rcv SYN / snd ACK--> SYN_RCVD (simultaneous open)
        (SynSent, RecvSyn, SynReceived, None),
        // SYN_SENT --rcv SYN,ACK / snd ACK--> ESTABLISHED
        (SynSent, RecvSynAck, Established, None),
        // SYN_RCVD --rcv ACK of SYN--> ESTABLISHED
        (SynReceived, RecvAck, Established, None),
        // SYN_RCVD --CLOSE / snd FIN--> FIN_WAIT_1
        (SynReceived, SendFin, FinWait1, None),
        // ESTABLISHED --CLOSE / snd FIN--> FIN_WAIT_1
        (Established, SendFin, FinWait1, None),
        // ESTABLISHED --rcv FIN / snd ACK--> CLOSE_WAIT
        (Established, RecvFin, CloseWait, None),
        // FIN_WAIT_1 --rcv ACK of FIN--> FIN_WAIT_2
        (FinWait1, RecvAckOfFin, FinWait2, None),
        // FIN_WAIT_1 --rcv FIN / snd ACK--> CLOSING
        (FinWait1, RecvFin, Closing, None),
        // FIN_WAIT_1 --rcv FIN+ACK of FIN--> FIN_WAIT_2, then TIME_WAIT on our ACK
        (FinWait1, RecvFinAckOfFin, FinWait2, None),
        // FIN_WAIT_2 --rcv FIN / snd ACK--> TIME_WAIT (fires on the ACK)
        (FinWait2, RecvFin, FinWait2, None),
        (FinWait2, SendAckOfFin, TimeWait, None),
        // CLOSE_WAIT --CLOSE / snd FIN--> LAST_ACK
        (CloseWait, SendFin, LastAck, None),
        // CLOSING --rcv ACK of FIN--> TIME_WAIT
        (Closing, RecvAckOfFin, TimeWait, None),
        // LAST_ACK --rcv ACK of FIN--> CLOSED
        (LastAck, RecvAckOfFin, Closed, None),
        // TIME_WAIT --Timeout=2MSL--> CLOSED
        (TimeWait, TimeWaitTimeout, Closed, None),
        // §3.9 RST: SYN_SENT, SYN_RCVD and synchronized states → CLOSED
        (SynSent, RecvRst, Closed, None),
        (SynReceived, RecvRst, Closed, None),
        (Established, RecvRst, Closed, None),
        (FinWait1, RecvRst, Closed, None),
        (FinWait2, RecvRst, Closed, None),
        (CloseWait, RecvRst, Closed, None),
        (Closing, RecvRst, Closed, None),
        (LastAck, RecvRst, Closed, None),
        // RST into TIME_WAIT ends it (RFC 1337)
        (TimeWait, RecvRst, Closed, None),
        // LISTEN ignores RST; CLOSED discards it
        (Listen, RecvRst, Listen, None),
        (Closed, RecvRst, Closed, None),
        // ABORT: snd RST from any state → CLOSED
        (Listen, SendRst, Closed, None),
        (SynSent, SendRst, Closed, None),
        (Established, SendRst, Closed, None),
        (CloseWait, SendRst, Closed, None),
        (TimeWait, SendRst, Closed, None),
        // Wire-observer additions: crossed FINs, reopen from TIME_WAIT (RFC 1122 4.2.2.13)
        (CloseWait, SendFinCrossed, Closing, None),
        (TimeWait, SendSyn, Closed, None),
        (TimeWait, RecvSyn, Closed, None),
        // Retransmissions keep the state
        (SynSent, SendSyn, SynSent, None),
        (SynReceived, SendSynAck, SynReceived, None),
        (FinWait1, SendFin, FinWait1, None),
        (LastAck, SendFin, LastAck, None),
        (TimeWait, RecvFin, TimeWait, None),
        // Bogus flags keep the state
        (Established, Bogus, Established, Some(Anomaly::Bogus)),
    ];

    #[test]
    fn rfc793_arcs() {
        for &(from, ev, to, anomaly) in ARCS {
            assert_eq!(
                step(from, ev),
                (to, anomaly),
                "{} + {ev:?} should give {} {anomaly:?}",
                from.name(),
                to.name()
            );
        }
    }

    /// Pairs that are `Unexpected` on purpose, by state: an event no TCP in that
    /// state produces (or one the capture can only show if it lost packets).
    fn unexpected_on_purpose(s: EndpointState) -> &'static [Event] {
        match s {
            Closed => &[
                SendSynAck,
                SendAck,
                SendAckOfFin,
                SendFin,
                SendFinCrossed,
                RecvSyn,
                RecvSynAck,
                RecvAck,
                RecvAckOfFin,
                RecvFin,
                RecvFinAckOfFin,
                TimeWaitTimeout,
            ],
            Listen => &[
                SendAck,
                SendAckOfFin,
                SendFin,
                SendFinCrossed,
                RecvSynAck,
                RecvAck,
                RecvAckOfFin,
                RecvFin,
                RecvFinAckOfFin,
                TimeWaitTimeout,
            ],
            SynSent => &[
                SendSynAck,
                SendAck,
                SendAckOfFin,
                SendFin,
                SendFinCrossed,
                RecvAck,
                RecvAckOfFin,
                RecvFin,
                RecvFinAckOfFin,
                TimeWaitTimeout,
            ],
            SynReceived => &[
                SendSyn,
                SendAck,
                SendAckOfFin,
                SendFinCrossed,
                RecvAckOfFin,
                RecvFinAckOfFin,
                TimeWaitTimeout,
            ],
            Established => &[
                SendSyn,
                SendSynAck,
                SendAckOfFin,
                SendFinCrossed,
                RecvSyn,
                RecvAckOfFin,
                RecvFinAckOfFin,
                TimeWaitTimeout,
            ],
            FinWait1 => &[
                SendSyn,
                SendSynAck,
                SendAckOfFin,
                SendFinCrossed,
                RecvSyn,
                RecvSynAck,
                TimeWaitTimeout,
            ],
            FinWait2 => &[
                SendSyn,
                SendSynAck,
                SendFin,
                SendFinCrossed,
                RecvSyn,
                RecvSynAck,
                TimeWaitTimeout,
            ],
            CloseWait => &[
                SendSyn,
                SendSynAck,
                RecvSyn,
                RecvSynAck,
                RecvAckOfFin,
                RecvFinAckOfFin,
                TimeWaitTimeout,
            ],
            Closing => &[SendSyn, SendSynAck, RecvSyn, RecvSynAck, TimeWaitTimeout],
            LastAck => &[
                SendSyn,
                SendSynAck,
                SendFinCrossed,
                RecvSyn,
                RecvSynAck,
                TimeWaitTimeout,
            ],
            TimeWait => &[SendSynAck, SendFin, SendFinCrossed, RecvSynAck, RecvAck],
        }
    }

    #[test]
    fn every_pair_is_handled_and_unexpected_ones_are_listed() {
        for s in EndpointState::ALL {
            for ev in Event::ALL {
                let (to, anomaly) = step(s, ev);
                let listed = unexpected_on_purpose(s).contains(&ev);
                match anomaly {
                    Some(Anomaly::Unexpected) => {
                        assert!(listed, "{} + {ev:?} is Unexpected but not listed", s.name());
                        assert_eq!(to, s, "an unexpected event must keep the state");
                    }
                    Some(Anomaly::Bogus) => {
                        assert_eq!(ev, Bogus);
                        assert_eq!(to, s);
                    }
                    None => assert!(!listed, "{} + {ev:?} is listed but handled", s.name()),
                }
            }
        }
    }

    #[test]
    fn names_are_rfc_793() {
        let names: Vec<&str> = EndpointState::ALL.iter().map(|s| s.name()).collect();
        assert_eq!(
            names,
            [
                "CLOSED",
                "LISTEN",
                "SYN_SENT",
                "SYN_RECEIVED",
                "ESTABLISHED",
                "FIN_WAIT_1",
                "FIN_WAIT_2",
                "CLOSE_WAIT",
                "CLOSING",
                "LAST_ACK",
                "TIME_WAIT"
            ]
        );
        assert_eq!(TimeWait.to_string(), "TIME_WAIT");
    }

    #[test]
    fn established_recv_rst_enters_closed() {
        assert_eq!(step(Established, RecvRst), (Closed, None));
    }

    #[test]
    fn fin_wait_1_recv_fin_enters_closing() {
        assert_eq!(step(FinWait1, RecvFin), (Closing, None));
    }
}
