//! Diagnosis: plain-language findings derived from the tracked facts, each
//! naming the connections and the evidence behind it. This module decides
//! what to say; `report` only prints it.

use crate::capture::Timestamp;
use crate::report::model::{ConnReport, Summary};
use crate::track::{Close, Role};

/// Linux's default ephemeral port range (net.ipv4.ip_local_port_range).
const EPHEMERAL_PORTS: f64 = (60999 - 32768 + 1) as f64;

/// Why connections were (not) reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    BodyNotRead,
    ClientConnectionClose,
    ServerConnectionClose,
    KeepAliveLimit,
    Http10,
    PoolChurn,
    IdleTimeout,
    Healthy,
    Refused,
    SynRetries,
    TimeWait,
    NoHttp,
    PayloadCut,
    Capped,
}

/// One finding: a few words for tables, and the full sentence with evidence.
#[derive(Clone, Debug)]
pub struct Finding {
    pub cause: Cause,
    pub short: String,
    pub detail: String,
}

/// What the diagnosis reads of one connection: a few words instead of a
/// whole report and its request list, so a sample of many connections
/// stays small (issue 8: kept reports were churn's largest fresh memory).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Facts {
    pub id: u64,
    pub start: Timestamp,
    pub end: Timestamp,
    pub http_requests: u64,
    pub syn_retransmits: u32,
    pub close: Close,
    pub client_asked_close: bool,
    pub server_said_close: bool,
    pub http10: bool,
    /// Every kept request was HTTP/1.0.
    pub only_http10: bool,
    /// A response to an HTTP/1.1 request closed the connection.
    pub closed_by_http11_response: bool,
    /// The server's FIN came at least a second after the last request.
    pub server_fin_after_idle: bool,
}

impl Facts {
    pub fn of(c: &ConnReport) -> Facts {
        let r = &c.record;
        Facts {
            id: r.id.0,
            start: r.start,
            end: r.end,
            http_requests: c.http_requests,
            syn_retransmits: r.syn_retransmits,
            close: r.close,
            client_asked_close: c.client_asked_close,
            server_said_close: c.server_said_close,
            http10: c.http10,
            only_http10: c.requests.iter().all(|q| q.version == 0),
            closed_by_http11_response: c
                .requests
                .iter()
                .any(|q| q.response_close && q.version == 1),
            server_fin_after_idle: c
                .requests
                .last()
                .zip(r.first_fin)
                .is_some_and(|(q, (who, t))| who == Role::Server && t.seconds_since(q.time) >= 1.0),
        }
    }
}

/// Positions in `items` in increasing id order (ids are unique). The
/// sample is in the order connections ended, and its ids are dense: placing
/// each at its offset from the lowest id costs less than sorting 50,000.
fn id_order<T>(items: &[T], id: impl Fn(&T) -> u64) -> Vec<u32> {
    let (Some(lo), Some(hi)) = (items.iter().map(&id).min(), items.iter().map(&id).max()) else {
        return Vec::new();
    };
    let span = hi - lo;
    if span >= 4 * items.len() as u64 || u32::try_from(items.len()).is_err() {
        let mut pos: Vec<u32> = (0..items.len() as u32).collect();
        pos.sort_unstable_by_key(|&p| id(&items[p as usize]));
        return pos;
    }
    // Position + 1 at each id's offset, 0 where no id is; then the zeros
    // go, in place.
    let mut at = vec![0u32; span as usize + 1];
    for (p, item) in items.iter().enumerate() {
        let slot = &mut at[(id(item) - lo) as usize];
        debug_assert_eq!(*slot, 0, "two connections with one id");
        *slot = p as u32 + 1;
    }
    at.retain(|&p| p > 0);
    at.iter_mut().for_each(|p| *p -= 1);
    at
}

/// `#1–#3, #7` style list of connection ids.
fn ids(conns: &[&Facts]) -> String {
    let v: Vec<u64> = id_order(conns, |c| c.id)
        .into_iter()
        .map(|p| conns[p as usize].id)
        .collect();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < v.len() {
        let mut j = i;
        while j + 1 < v.len() && v[j + 1] == v[j] + 1 {
            j += 1;
        }
        parts.push(if j > i {
            format!("#{}–#{}", v[i], v[j])
        } else {
            format!("#{}", v[i])
        });
        i = j + 1;
    }
    if parts.len() > 8 {
        let n = parts.len();
        parts.truncate(8);
        parts.push(format!("… ({n} ranges)"));
    }
    parts.join(", ")
}

/// Most connections open at the same moment (from first to last packet).
/// A connection that ends at the instant another starts does not overlap it.
/// The sample comes in the order connections ended, and ids follow first
/// packets: the ends, and the starts taken in id order, are nearly always
/// in time order already and are swept where they are; otherwise they are
/// copied and sorted first.
fn peak_open(conns: &[Facts]) -> usize {
    let order = id_order(conns, |c| c.id);
    let starts = || order.iter().map(|&p| conns[p as usize].start);
    let ends = || conns.iter().map(|c| c.end);
    if starts().is_sorted() && ends().is_sorted() {
        return sweep(starts(), ends());
    }
    let mut starts: Vec<Timestamp> = starts().collect();
    let mut ends: Vec<Timestamp> = ends().collect();
    starts.sort_unstable();
    ends.sort_unstable();
    sweep(starts.into_iter(), ends.into_iter())
}

/// `peak_open` over starts and ends each in time order.
fn sweep(starts: impl Iterator<Item = Timestamp>, ends: impl Iterator<Item = Timestamp>) -> usize {
    let mut ends = ends.peekable();
    // Signed, as the sweep it replaces: a connection that starts and ends
    // at one instant closes before it opens, and adds nothing.
    let (mut open, mut peak) = (0i64, 0i64);
    for s in starts {
        // Ends at or before this start close first.
        while ends.next_if(|e| *e <= s).is_some() {
            open -= 1;
        }
        open += 1;
        peak = peak.max(open);
    }
    peak as usize
}

fn ordinal(n: u64) -> String {
    let suffix = match (n % 10, n % 100) {
        (1, x) if x != 11 => "st",
        (2, x) if x != 12 => "nd",
        (3, x) if x != 13 => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The findings for one source, most important first.
pub fn findings(s: &Summary, conns: &[Facts]) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::new();
    macro_rules! add {
        ($cause:expr, $short:expr, $detail:expr $(,)?) => {
            out.push(Finding {
                cause: $cause,
                short: $short,
                detail: $detail,
            })
        };
    }
    if s.payload_cut > 0 {
        add!(
            Cause::PayloadCut,
            "payload cut by snaplen".into(),
            format!("{} TCP packets had their payload cut by the capture's snapshot length: requests in the missing bytes cannot be counted; capture with a larger snaplen (tcpdump -s 0)", s.payload_cut),
        );
    }
    // Bounds reached: the counts may be incomplete (said even when no HTTP
    // was seen, which is what a flood or a runaway head looks like).
    if s.capped {
        add!(
            Cause::Capped,
            "connection cap reached".into(),
            cap_detail(&s.track),
        );
    }
    if s.header_capped > 0 {
        add!(
            Cause::Capped,
            "HTTP head over the limit".into(),
            format!("{} sent an HTTP head longer than --max-header-bytes: it was skipped, so requests may be missing from the counts", plural(s.header_capped as usize, "connection", "connections")),
        );
    }
    if s.window_capped > 0 {
        add!(
            Cause::Capped,
            "reassembly window overflow".into(),
            format!("{} had more out-of-order data than --reasm-window holds: a hole was skipped, so requests may be missing from the counts", plural(s.window_capped as usize, "connection", "connections")),
        );
    }
    let http: Vec<&Facts> = conns.iter().filter(|c| c.http_requests > 0).collect();
    if http.is_empty() && s.connections > 0 && s.payload_cut == 0 {
        add!(
            Cause::NoHttp,
            "no HTTP/1.x".into(),
            format!(
                "no HTTP/1.x requests seen in {}",
                plural(s.connections as usize, "TCP connection", "TCP connections")
            )
        );
    }
    if !http.is_empty() {
        let mut found = Vec::new();
        reuse_findings(&http, conns, &mut |cause, short, detail| {
            found.push(Finding {
                cause,
                short,
                detail,
            })
        });
        out.extend(found);
    }
    let refused: Vec<&Facts> = conns.iter().filter(|c| c.close == Close::Refused).collect();
    if !refused.is_empty() {
        add!(
            Cause::Refused,
            format!("{} refused", refused.len()),
            format!(
                "{} refused (SYN answered by RST: nothing listening on that port): {}",
                plural(
                    refused.len(),
                    "connection attempt was",
                    "connection attempts were"
                ),
                ids(&refused)
            ),
        );
    }
    let retried: Vec<&Facts> = conns.iter().filter(|c| c.syn_retransmits > 0).collect();
    if !retried.is_empty() {
        let n: u32 = retried.iter().map(|c| c.syn_retransmits).sum();
        add!(
            Cause::SynRetries,
            format!("{n} SYN retries"),
            format!("{n} retransmitted SYN/SYN-ACK on {}: the handshake had to be retried (a full listen backlog, loss, or a firewall): {}", plural(retried.len(), "connection", "connections"), ids(&retried)),
        );
    }
    let tw = s.track.time_wait_entered;
    if tw[0] + tw[1] > 0 {
        let span = conns
            .iter()
            .map(|c| c.end)
            .max()
            .zip(conns.iter().map(|c| c.start).min())
            .map(|(e, b)| e.seconds_since(b))
            .unwrap_or(0.0);
        let holder = if tw[0] >= tw[1] { "client" } else { "server" };
        let mut detail = format!(
            "{} TIME-WAIT ({} client, {} server; peak {} at once, {} still in TIME-WAIT at the end): the {holder} side closed first, so it holds the TIME-WAIT sockets",
            plural((tw[0] + tw[1]) as usize, "endpoint entered", "endpoints entered"),
            tw[0],
            tw[1],
            s.track.time_wait_peak,
            s.track.time_wait_at_end
        );
        // Only for churn: a rate projected from a few reused connections says nothing.
        let churn = out.iter().any(|f| {
            matches!(
                f.cause,
                Cause::BodyNotRead
                    | Cause::PoolChurn
                    | Cause::ClientConnectionClose
                    | Cause::Http10
                    | Cause::ServerConnectionClose
            )
        });
        if churn && tw[0] > 0 && span > 0.0 && s.connections > 1 {
            let rate = s.connections as f64 / span;
            let steady = rate * 60.0;
            detail.push_str(&format!(
                "; if this rate ({rate:.1} new connections/s) were sustained, a client would hold about {steady:.0} sockets in TIME-WAIT toward one server port; Linux's {EPHEMERAL_PORTS:.0} ephemeral ports run out above {:.0} new connections/s",
                EPHEMERAL_PORTS / 60.0
            ));
        }
        add!(
            Cause::TimeWait,
            format!("TIME-WAIT {} client, {} server", tw[0], tw[1]),
            detail
        );
    }
    out
}

/// Why the HTTP connections were, or were not, reused.
fn reuse_findings(http: &[&Facts], all: &[Facts], add: &mut impl FnMut(Cause, String, String)) {
    let total: u64 = http.iter().map(|c| c.http_requests).sum();
    let single: Vec<&Facts> = http
        .iter()
        .copied()
        .filter(|c| c.http_requests == 1)
        .collect();
    let by = |f: &dyn Fn(&Facts) -> bool| -> Vec<&Facts> {
        http.iter().copied().filter(|c| f(c)).collect()
    };
    let mut explained = false;

    let http10 = by(&|c| c.http10 && c.only_http10);
    if !http10.is_empty() {
        explained = true;
        add(
            Cause::Http10,
            "HTTP/1.0 without keep-alive".into(),
            format!("{} carried HTTP/1.0 requests without keep-alive, which end the connection after each response: {}", plural(http10.len(), "connection", "connections"), ids(&http10)),
        );
    }
    let asked = by(&|c| c.client_asked_close);
    if !asked.is_empty() {
        explained = true;
        add(
            Cause::ClientConnectionClose,
            "client sent Connection: close".into(),
            format!("the client sent `Connection: close` on {}, asking the server to end each connection after its response: {}", plural(asked.len(), "connection", "connections"), ids(&asked)),
        );
    }
    // The server said close on its own (the request did not ask for it).
    let server_close = by(&|c| !c.client_asked_close && !c.http10 && c.closed_by_http11_response);
    if !server_close.is_empty() {
        explained = true;
        let counts: Vec<u64> = server_close.iter().map(|c| c.http_requests).collect();
        let n = counts[0];
        if n > 1 && counts.iter().all(|&k| k == n) {
            add(
                Cause::KeepAliveLimit,
                format!("server closes after {n} requests"),
                format!("the server answered the {} request on each connection with `Connection: close` and closed it: a keep-alive request limit of {n} ({}: {})", ordinal(n), plural(server_close.len(), "connection", "connections"), ids(&server_close)),
            );
        } else {
            add(
                Cause::ServerConnectionClose,
                "server sent Connection: close".into(),
                format!(
                    "the server sent `Connection: close` on {} without being asked: {}",
                    plural(server_close.len(), "connection", "connections"),
                    ids(&server_close)
                ),
            );
        }
    }
    let reset = by(&|c| c.close == Close::ResetByClient && c.http_requests == 1);
    if !explained && !reset.is_empty() && reset.len() * 2 >= single.len().max(1) {
        explained = true;
        add(
            Cause::BodyNotRead,
            "response body not read".into(),
            format!(
                "{} carried one request and was reset by the client right after the response: the response body was not read to the end, so the client could not reuse the connection: {}",
                if reset.len() == 1 { "the connection".to_string() } else { format!("each of {} connections", reset.len()) },
                ids(&reset)
            ),
        );
    }
    let idle = by(&|c| {
        c.close == Close::Server && !c.server_said_close && !c.http10 && c.server_fin_after_idle
    });
    if !explained && !idle.is_empty() {
        explained = true;
        add(
            Cause::IdleTimeout,
            "server closed idle connections".into(),
            format!("the server closed {} after it sat idle (its FIN came ≥ 1 s after the last request, without `Connection: close`): an idle timeout: {}", plural(idle.len(), "connection", "connections"), ids(&idle)),
        );
    }
    let peak = peak_open(all);
    let client_closed = by(&|c| c.close == Close::Client);
    if !explained
        && http.len() as f64 > peak as f64 * 1.5
        && client_closed.len() * 2 >= http.len()
        && peak > 1
    {
        explained = true;
        add(
            Cause::PoolChurn,
            "idle pool smaller than concurrency".into(),
            format!(
                "{} connections for at most {peak} requests in flight at once, {} of them closed by the client while others were opening: the client's idle pool is smaller than its concurrency, so it keeps closing and reopening connections (churn): {}",
                http.len(),
                client_closed.len(),
                ids(&client_closed)
            ),
        );
    }
    if !explained && !single.is_empty() && single.len() == http.len() && http.len() > 1 {
        explained = true;
        add(
            Cause::ClientConnectionClose,
            "one request per connection".into(),
            format!("every connection carried a single request ({}) and no header asked for it: the client opens a new connection per request", ids(&single)),
        );
    }
    if !explained && total == 1 {
        explained = true;
        add(
            Cause::Healthy,
            "single request".into(),
            format!(
                "one request on one connection ({}): nothing to reuse",
                ids(http)
            ),
        );
    }
    if !explained {
        let per = total as f64 / http.len() as f64;
        add(
            Cause::Healthy,
            "keep-alive works".into(),
            format!(
                "keep-alive works: {} over {} ({per:.1} per connection, at most {peak} open at once); connections were reused",
                plural(total as usize, "request", "requests"),
                plural(http.len(), "connection", "connections")
            ),
        );
    }
}

impl Cause {
    /// The stable name in JSON (`findings[].cause`).
    pub fn name(self) -> &'static str {
        match self {
            Cause::BodyNotRead => "body-not-read",
            Cause::ClientConnectionClose => "client-connection-close",
            Cause::ServerConnectionClose => "server-connection-close",
            Cause::KeepAliveLimit => "keep-alive-limit",
            Cause::Http10 => "http10",
            Cause::PoolChurn => "pool-churn",
            Cause::IdleTimeout => "idle-timeout",
            Cause::Healthy => "healthy-reuse",
            Cause::Refused => "refused",
            Cause::SynRetries => "syn-retries",
            Cause::TimeWait => "time-wait",
            Cause::NoHttp => "no-http",
            Cause::PayloadCut => "payload-cut",
            Cause::Capped => "capped",
        }
    }

    /// Causes that explain reuse (or its absence), as opposed to side facts.
    pub fn is_reuse_cause(self) -> bool {
        matches!(
            self,
            Cause::BodyNotRead
                | Cause::ClientConnectionClose
                | Cause::ServerConnectionClose
                | Cause::KeepAliveLimit
                | Cause::Http10
                | Cause::PoolChurn
                | Cause::IdleTimeout
                | Cause::Healthy
        )
    }
}

/// What reaching `--max-connections` cost: early reports, untracked segments.
fn cap_detail(t: &crate::track::TrackStats) -> String {
    let mut parts = Vec::new();
    if t.evicted > 0 {
        parts.push(format!(
            "{} half-open (a SYN and nothing else) reported early to make room (an answer arriving later counts as a new connection)",
            plural(t.evicted as usize, "connection was", "connections were")
        ));
    }
    if t.dropped_at_cap > 0 {
        parts.push(format!(
            "{} segments that would have opened new connections were not tracked",
            t.dropped_at_cap
        ));
    }
    format!(
        "the --max-connections cap was reached: {}",
        parts.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(id: u64, start: (i64, u32), end: (i64, u32)) -> Facts {
        Facts {
            id,
            start: Timestamp::new(start.0, start.1),
            end: Timestamp::new(end.0, end.1),
            http_requests: 0,
            syn_retransmits: 0,
            close: Close::Open,
            client_asked_close: false,
            server_said_close: false,
            http10: false,
            only_http10: false,
            closed_by_http11_response: false,
            server_fin_after_idle: false,
        }
    }

    /// The definition: every start +1 and end −1 in time order, ends first
    /// at equal times; the highest running sum.
    fn peak_by_events(conns: &[Facts]) -> usize {
        let mut ev: Vec<(Timestamp, i32)> = Vec::new();
        for c in conns {
            ev.push((c.start, 1));
            ev.push((c.end, -1));
        }
        ev.sort();
        let (mut cur, mut peak) = (0i32, 0i32);
        for (_, d) in ev {
            cur += d;
            peak = peak.max(cur);
        }
        peak.max(0) as usize
    }

    /// A connection's (start, end), each as (seconds, nanoseconds).
    type Span = ((i64, u32), (i64, u32));

    #[test]
    fn peak_open_cases() {
        let cases: &[(&[Span], usize)] = &[
            (&[], 0),
            // Zero-length: closes before it opens.
            (&[((5, 0), (5, 0))], 0),
            (&[((1, 0), (2, 0))], 1),
            // Touching: the first ends as the second starts.
            (&[((1, 0), (2, 0)), ((2, 0), (3, 0))], 1),
            (&[((1, 0), (3, 0)), ((2, 0), (4, 0)), ((2, 5), (2, 6))], 3),
            // Out of id order, nanoseconds deciding.
            (&[((2, 9), (4, 0)), ((1, 0), (2, 10))], 2),
        ];
        for (i, (spans, want)) in cases.iter().enumerate() {
            let fs: Vec<Facts> = spans
                .iter()
                .enumerate()
                .map(|(k, &(s, e))| facts(k as u64 + 1, s, e))
                .collect();
            assert_eq!(peak_open(&fs), *want, "case {i}");
            assert_eq!(peak_by_events(&fs), *want, "case {i} (definition)");
        }
    }

    #[test]
    fn id_order_sorts_dense_and_sparse_ids() {
        let cases: &[&[u64]] = &[
            &[],
            &[7],
            &[3, 1, 2],
            &[10, 12, 11, 14],
            // Sparse: sorted by comparison instead.
            &[1_000_000, 5, u64::MAX, 0],
            &[u64::MAX, u64::MAX - 2],
        ];
        for ids in cases {
            let mut want = ids.to_vec();
            want.sort_unstable();
            let got: Vec<u64> = id_order(ids, |&i| i)
                .iter()
                .map(|&p| ids[p as usize])
                .collect();
            assert_eq!(got, want, "{ids:?}");
        }
        let f = |id| facts(id, (0, 0), (0, 0));
        let (a, b, c, d) = (f(4), f(2), f(3), f(9));
        assert_eq!(ids(&[&a, &b, &c, &d]), "#2–#4, #9");
    }

    #[test]
    fn peak_open_matches_the_event_sweep() {
        // Small times so that equal instants are common.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |m: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % m
        };
        for round in 0..200 {
            let n = next(40) as usize;
            let fs: Vec<Facts> = (0..n)
                .map(|k| {
                    let s = (next(8) as i64, next(3) as u32);
                    let len = next(4) as i64;
                    let e = if len == 0 {
                        s
                    } else {
                        (s.0 + len, next(3) as u32)
                    };
                    // Ids in any order, dense or sparse.
                    let id = if round % 2 == 0 {
                        next(64) * 1000 + k as u64
                    } else {
                        k as u64 + 1
                    };
                    facts(id, s, e)
                })
                .collect();
            assert_eq!(peak_open(&fs), peak_by_events(&fs), "round {round}");
            // As a capture gives them (the fast path): starts in id order,
            // ends in sample order.
            let mut fs = fs;
            let mut starts: Vec<Timestamp> = fs.iter().map(|c| c.start).collect();
            let mut ends: Vec<Timestamp> = fs.iter().map(|c| c.end).collect();
            starts.sort_unstable();
            ends.sort_unstable();
            let order = id_order(&fs, |c| c.id);
            for (&p, s) in order.iter().zip(starts) {
                fs[p as usize].start = s;
            }
            for (c, e) in fs.iter_mut().zip(ends) {
                c.end = e;
            }
            assert_eq!(peak_open(&fs), peak_by_events(&fs), "round {round}, sorted");
        }
    }
}
