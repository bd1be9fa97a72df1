//! Small text helpers shared by the ladder, the timeline and the HTML report:
//! fitting text into columns, tcpdump flag letters, durations, glyph sets.

use crate::decode::TcpFlags;

/// Glyphs for the terminal drawings: Unicode box drawing or plain ASCII.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Glyphs {
    pub line: char,
    pub lifeline: char,
    pub tee_right: char,
    pub tee_left: char,
    pub top: char,
    pub bottom: char,
    pub head_right: char,
    pub head_left: char,
    pub ellipsis: char,
    pub open: char,
    pub request: char,
    pub fin: char,
    pub reset: char,
    pub still_open: char,
    pub time_wait: char,
    pub zero: char,
    pub axis: char,
    pub axis_left: char,
    pub axis_right: char,
    /// Levels of a bar chart cell, lowest first (blank for zero not included).
    pub levels: &'static [char],
}

pub(crate) const UNICODE: Glyphs = Glyphs {
    line: '─',
    lifeline: '│',
    tee_right: '├',
    tee_left: '┤',
    top: '┬',
    bottom: '╵',
    head_right: '▶',
    head_left: '◀',
    ellipsis: '…',
    open: '━',
    request: '•',
    fin: '┤',
    reset: '×',
    still_open: '▸',
    time_wait: '░',
    zero: '·',
    axis: '─',
    axis_left: '└',
    axis_right: '┘',
    levels: &['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'],
};

pub(crate) const ASCII: Glyphs = Glyphs {
    line: '-',
    lifeline: '|',
    tee_right: '|',
    tee_left: '|',
    top: '+',
    bottom: '\'',
    head_right: '>',
    head_left: '<',
    ellipsis: '~',
    open: '=',
    request: '*',
    fin: '|',
    reset: 'x',
    still_open: '>',
    time_wait: '.',
    zero: '.',
    axis: '-',
    axis_left: '+',
    axis_right: '+',
    levels: &[':', '-', '=', '+', '*', '#', '%', '@'],
};

pub(crate) fn glyphs(ascii: bool) -> &'static Glyphs {
    if ascii {
        &ASCII
    } else {
        &UNICODE
    }
}

/// Width of `s` in terminal columns (every glyph used here is one column).
pub(crate) fn cols(s: &str) -> usize {
    s.chars().count()
}

/// Text from the capture made safe for a terminal line: control characters
/// become `?`, and with `ascii` so does anything outside printable ASCII.
pub(crate) fn clean(s: &str, ascii: bool) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() || (ascii && !(' '..='~').contains(&c)) {
                '?'
            } else {
                c
            }
        })
        .collect()
}

/// `s` cut to at most `n` columns, ending in `ellipsis` when cut.
pub(crate) fn fit(s: &str, n: usize, ellipsis: char) -> String {
    if cols(s) <= n {
        return s.to_string();
    }
    if n == 0 {
        return String::new();
    }
    let mut t: String = s.chars().take(n - 1).collect();
    t.push(ellipsis);
    t
}

/// `s` padded with spaces on the left to `n` columns (cut first if longer).
pub(crate) fn right(s: &str, n: usize, ellipsis: char) -> String {
    let s = fit(s, n, ellipsis);
    format!("{}{s}", " ".repeat(n - cols(&s)))
}

/// A line cut to `width` columns, trailing spaces removed.
pub(crate) fn line(s: &str, width: usize, ellipsis: char) -> String {
    fit(s.trim_end(), width, ellipsis).trim_end().to_string()
}

/// tcpdump's flag letters (`S`, `S.`, `P.`, `F.`, `R.`, `none`).
pub(crate) fn flag_text(f: TcpFlags) -> String {
    // tcpdump's table order: FIN SYN RST PSH ACK URG ECE CWR.
    const LETTERS: [char; 8] = ['F', 'S', 'R', 'P', '.', 'U', 'E', 'W'];
    if f.0 == 0 {
        return "none".to_string();
    }
    LETTERS
        .iter()
        .enumerate()
        .filter(|(i, _)| f.0 & (1 << i) != 0)
        .map(|(_, l)| *l)
        .collect()
}

/// A number of seconds without a useless fraction: `60`, `2.5`.
pub(crate) fn secs_short(s: f64) -> String {
    if (s - s.round()).abs() < 1e-9 {
        format!("{}", s.round() as i64)
    } else {
        let t = format!("{s:.3}");
        t.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// A duration for people: `0.494 ms`, `31.2 ms`, `2.35 s`, `125 s`.
pub(crate) fn duration(secs: f64) -> String {
    let secs = secs.max(0.0);
    let ms = secs * 1000.0;
    if ms < 10.0 {
        format!("{ms:.3} ms")
    } else if ms < 100.0 {
        format!("{ms:.2} ms")
    } else if ms < 1000.0 {
        format!("{ms:.1} ms")
    } else if secs < 10.0 {
        format!("{secs:.3} s")
    } else if secs < 100.0 {
        format!("{secs:.2} s")
    } else {
        format!("{secs:.0} s")
    }
}

/// Made-up connections for the renderers' unit tests.
#[cfg(test)]
pub(crate) mod sample {
    use crate::capture::Timestamp;
    use crate::decode::TcpFlags;
    use crate::http::{Protocol, Request};
    use crate::report::model::{ConnReport, Ladder, LadderEvent};
    use crate::track::{
        Close, ConnId, ConnRecord, EndpointState, Handshake, Role, TimeWaitHolder, Transition,
    };

    const T0: i64 = 1_700_000_000;

    pub fn ts(secs: f64) -> Timestamp {
        Timestamp::new(T0, 0).plus_secs(secs)
    }

    /// Connection `id` from `start` to `end` (seconds), one request, closed by
    /// the client, which then holds TIME-WAIT for 60 s.
    pub fn conn(id: u64, start: f64, end: f64) -> ConnReport {
        let port = 40000 + id as u16;
        ConnReport {
            record: ConnRecord {
                id: ConnId(id),
                client: format!("10.0.0.1:{port}").parse().unwrap(),
                server: "10.0.0.2:80".parse().unwrap(),
                start: ts(start),
                end: ts(end),
                handshake: Handshake::Complete,
                close: Close::Client,
                client_state: EndpointState::TimeWait,
                server_state: EndpointState::Closed,
                time_wait: TimeWaitHolder::Client,
                time_wait_until: Some(ts(end + 60.0)),
                time_wait_entered: [Some(ts(end)), None],
                packets: [5, 4],
                bytes: [40, 100],
                syn_retransmits: 0,
                anomalies: 0,
                first_fin: Some((Role::Client, ts(end))),
                first_rst: None,
                half_close: false,
                reused_tuple: false,
                replaced_while_open: false,
            },
            http_requests: 1,
            http_responses: 1,
            requests: vec![Request {
                time: ts((start + end) / 2.0),
                side: 0,
                method: "GET".into(),
                target: "/".into(),
                version: 1,
                status: Some(200),
                connection_close: false,
                response_close: false,
            }],
            protocol: Protocol::Http1,
            skipped_bytes: 0,
            client_asked_close: false,
            server_said_close: false,
            http10: false,
        }
    }

    /// A two-segment ladder for `c`: the client's SYN and the server's reply.
    pub fn ladder(c: &ConnReport) -> Ladder {
        let r = &c.record;
        let t = |role, from, to| Transition { role, from, to };
        Ladder {
            conn: c.clone(),
            events: vec![
                LadderEvent {
                    ts: r.start,
                    from: Role::Client,
                    flags: TcpFlags(TcpFlags::SYN),
                    rel_seq: 0,
                    rel_ack: None,
                    len: 0,
                    http: None,
                    transitions: vec![t(
                        Role::Client,
                        EndpointState::Closed,
                        EndpointState::SynSent,
                    )],
                },
                LadderEvent {
                    ts: r.end,
                    from: Role::Server,
                    flags: TcpFlags(TcpFlags::SYN | TcpFlags::ACK),
                    rel_seq: 0,
                    rel_ack: Some(1),
                    len: 0,
                    http: None,
                    transitions: vec![
                        t(
                            Role::Server,
                            EndpointState::Listen,
                            EndpointState::SynReceived,
                        ),
                        t(
                            Role::Client,
                            EndpointState::SynSent,
                            EndpointState::Established,
                        ),
                    ],
                },
            ],
            dropped_events: 0,
            time_wait_secs: 60.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_as_tcpdump_prints_them() {
        assert_eq!(flag_text(TcpFlags(TcpFlags::SYN)), "S");
        assert_eq!(flag_text(TcpFlags(TcpFlags::SYN | TcpFlags::ACK)), "S.");
        assert_eq!(flag_text(TcpFlags(TcpFlags::PSH | TcpFlags::ACK)), "P.");
        assert_eq!(flag_text(TcpFlags(TcpFlags::FIN | TcpFlags::ACK)), "F.");
        assert_eq!(flag_text(TcpFlags(TcpFlags::RST | TcpFlags::ACK)), "R.");
        assert_eq!(flag_text(TcpFlags(0)), "none");
    }

    #[test]
    fn fitting_never_exceeds_the_columns() {
        assert_eq!(fit("abcdef", 4, '…'), "abc…");
        assert_eq!(fit("abc", 4, '…'), "abc");
        assert_eq!(fit("abc", 0, '…'), "");
        assert_eq!(right("ab", 4, '~'), "  ab");
        assert_eq!(clean("a\u{1b}[31mé", true), "a?[31m?");
    }

    #[test]
    fn durations_and_seconds() {
        assert_eq!(secs_short(60.0), "60");
        assert_eq!(secs_short(2.5), "2.5");
        assert_eq!(duration(0.000494), "0.494 ms");
        assert_eq!(duration(0.0312), "31.20 ms");
        assert_eq!(duration(2.349), "2.349 s");
        assert_eq!(duration(125.0), "125 s");
    }
}
