//! `connscope gen`: the bundled traffic generator.
//!
//! An HTTP/1.x server (hyper, behind our own accept loop so that every
//! accepted TCP connection is counted) and a pooling client (hyper-util's
//! legacy `Client`, HTTP/1 only) that reproduce the classic keep-alive
//! mistakes. Every run carries its own ground truth: the server's count of
//! connections and requests, and the TIME-WAIT sockets the kernel shows
//! afterwards on each side.
//!
//! [`run`] is the CLI entry point; [`run_plan`] is the in-process entry point
//! for `demo` (server and client on 127.0.0.1, returns a [`GenReport`]).
//! Both are synchronous: they drive a private tokio runtime (on a helper
//! thread when called from inside another runtime).

mod client;
mod server;
pub mod sockets;

use std::fmt::Write as _;
use std::future::Future;
use std::net::IpAddr;
use std::time::Duration;

use anyhow::{bail, Context};
use hyper::Uri;

pub use server::{Server, ServerConfig, ServerCounters};

/// Default number of requests, except for the pool scenarios.
pub const DEFAULT_REQUESTS: u64 = 10;
/// Default total number of requests of the pool scenarios (10 per worker).
pub const DEFAULT_POOL_REQUESTS: u64 = 100;
/// Default number of workers of the pool scenarios.
pub const DEFAULT_POOL_WORKERS: usize = 10;
/// Default response body size.
pub const DEFAULT_RESPONSE_BYTES: usize = 4096;
/// Response body size of the `no-drain` scenario: larger than what hyper
/// reads in one go, so the dropped body really is unread (hyper drains a body
/// that already sits whole in its buffer, and then reuses the connection).
pub const NO_DRAIN_RESPONSE_BYTES: usize = 64 * 1024;
/// Default pause between a worker's requests.
pub const DEFAULT_THINK_MS: u64 = 2;
/// Default `--server-max-requests` of the `server-limit` scenario.
pub const DEFAULT_SERVER_LIMIT: u64 = 3;

// Arguments of `connscope gen` (a plain comment: a doc comment here would
// become the `about` text of whichever command flattens these arguments).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct GenArgs {
    /// Scenario to reproduce; the knobs below override its settings one by one
    #[arg(long, value_enum)]
    pub scenario: Option<Scenario>,

    /// Server port on 127.0.0.1 (0 = any free port)
    #[arg(short, long, default_value_t = 8080)]
    pub port: u16,

    /// Total number of requests, across all workers [default: 10, or 100 for pool-small/pool-large]
    #[arg(short = 'n', long)]
    pub requests: Option<u64>,

    /// Concurrent client workers; each round, every worker sends one request [default: 1, or 10 for pool-small/pool-large]
    #[arg(short, long)]
    pub concurrency: Option<usize>,

    /// Idle connections the client keeps per host [default: the concurrency; 2 for pool-small]
    #[arg(long)]
    pub pool_idle: Option<usize>,

    /// Read every response body to the end (the default, except for no-drain)
    #[arg(long, overrides_with = "no_drain")]
    pub drain: bool,

    /// Drop every response body without reading it
    #[arg(long, overrides_with = "drain")]
    pub no_drain: bool,

    /// Let connections be reused (the default, except for client-close)
    #[arg(long, overrides_with = "close")]
    pub keep_alive: bool,

    /// Send `Connection: close` with every request
    #[arg(long, overrides_with = "keep_alive")]
    pub close: bool,

    /// The server answers the Nth request on a connection with `Connection: close` and closes it [default: none; 3 for server-limit]
    #[arg(long, value_name = "N")]
    pub server_max_requests: Option<u64>,

    /// Send HTTP/1.0 requests (no keep-alive)
    #[arg(long)]
    pub http10: bool,

    /// Size of each response body in bytes [default: 4096; 65536 for no-drain]
    #[arg(long, value_name = "BYTES")]
    pub response_bytes: Option<usize>,

    /// Pause of each worker after each request, in milliseconds [default: 2]
    #[arg(long, value_name = "MS")]
    pub think_ms: Option<u64>,

    /// Run only the server, until Ctrl-C
    #[arg(long, conflicts_with = "target")]
    pub serve_only: bool,

    /// Run only the client, against this server (loopback only: http://127.0.0.1:PORT/...)
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,
}

/// The classic keep-alive mistakes (and two controls).
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scenario {
    /// Sequential requests, response body never read: one connection per request
    NoDrain,
    /// Sequential requests, body read to the end: one connection in all
    Drain,
    /// 10 workers, idle pool of 2: connections churn
    PoolSmall,
    /// 10 workers, idle pool of 10: at most 10 connections
    PoolLarge,
    /// Every request says `Connection: close`: one connection per request
    ClientClose,
    /// The server closes after N requests per connection (default 3)
    ServerLimit,
    /// HTTP/1.0 without keep-alive: one connection per request
    Http10,
}

impl Scenario {
    /// Every scenario, in the order `demo` shows them.
    pub fn all() -> &'static [Scenario] {
        &[
            Scenario::NoDrain,
            Scenario::Drain,
            Scenario::PoolSmall,
            Scenario::PoolLarge,
            Scenario::ClientClose,
            Scenario::ServerLimit,
            Scenario::Http10,
        ]
    }

    /// The name used on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            Scenario::NoDrain => "no-drain",
            Scenario::Drain => "drain",
            Scenario::PoolSmall => "pool-small",
            Scenario::PoolLarge => "pool-large",
            Scenario::ClientClose => "client-close",
            Scenario::ServerLimit => "server-limit",
            Scenario::Http10 => "http10",
        }
    }

    /// One line: what the scenario does and what it costs in connections.
    pub fn explain(&self) -> &'static str {
        match self {
            Scenario::NoDrain => {
                "the response body is never read, so the client cannot put the connection back \
                 in its pool: every request opens a new TCP connection, and closing a socket with \
                 unread data resets it (RST, so no TIME-WAIT)"
            }
            Scenario::Drain => {
                "the response body is read to the end, so the connection goes back to the pool \
                 and every request reuses it: one TCP connection, closed by the client at exit"
            }
            Scenario::PoolSmall => {
                "10 workers share an idle pool of 2: after each burst the client closes all but \
                 2 connections and opens them again next time (churn, TIME-WAIT piles up on the client)"
            }
            Scenario::PoolLarge => {
                "10 workers with an idle pool of 10: each connection is kept and reused, at most \
                 one per worker"
            }
            Scenario::ClientClose => {
                "every request carries `Connection: close`, so the server closes the connection \
                 after its response: one TCP connection per request, TIME-WAIT on the server"
            }
            Scenario::ServerLimit => {
                "the server answers the Nth request on a connection with `Connection: close` and \
                 closes it: ceil(requests / N) TCP connections, TIME-WAIT on the server"
            }
            Scenario::Http10 => {
                "HTTP/1.0 requests without `Connection: keep-alive` are not persistent: the server \
                 closes after each response: one TCP connection per request, TIME-WAIT on the server"
            }
        }
    }

    /// The scenario's own settings, before any override.
    pub fn plan(&self) -> Plan {
        let mut plan = Plan {
            scenario: Some(*self),
            ..Plan::default()
        };
        match self {
            Scenario::NoDrain => {
                plan.drain = false;
                plan.response_bytes = NO_DRAIN_RESPONSE_BYTES;
            }
            Scenario::Drain => {}
            Scenario::PoolSmall | Scenario::PoolLarge => {
                plan.requests = DEFAULT_POOL_REQUESTS;
                plan.concurrency = DEFAULT_POOL_WORKERS;
                plan.pool_idle = if *self == Scenario::PoolSmall {
                    2
                } else {
                    DEFAULT_POOL_WORKERS
                };
            }
            Scenario::ClientClose => plan.keep_alive = false,
            Scenario::ServerLimit => plan.server_max_requests = Some(DEFAULT_SERVER_LIMIT),
            Scenario::Http10 => plan.http10 = true,
        }
        plan
    }
}

impl std::fmt::Display for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Resolved knobs of one run: a scenario's settings plus the overrides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The scenario these settings started from, if any.
    pub scenario: Option<Scenario>,
    /// Total requests, across all workers.
    pub requests: u64,
    /// Concurrent workers; they send in lock-step rounds of one request each.
    pub concurrency: usize,
    /// Idle connections the client pool keeps per host.
    pub pool_idle: usize,
    /// Read each response body to the end (else drop it unread).
    pub drain: bool,
    /// false: every request carries `Connection: close`.
    pub keep_alive: bool,
    /// Server: `Connection: close` on the Nth request of a connection.
    pub server_max_requests: Option<u64>,
    /// Send HTTP/1.0 requests.
    pub http10: bool,
    /// Response body size.
    pub response_bytes: usize,
    /// Pause of each worker after each request.
    pub think: Duration,
    /// Client only, against this (loopback) URL; no server is started.
    pub target: Option<String>,
}

impl Default for Plan {
    /// Plain keep-alive traffic: 10 sequential requests, bodies drained.
    fn default() -> Self {
        Plan {
            scenario: None,
            requests: DEFAULT_REQUESTS,
            concurrency: 1,
            pool_idle: 1,
            drain: true,
            keep_alive: true,
            server_max_requests: None,
            http10: false,
            response_bytes: DEFAULT_RESPONSE_BYTES,
            think: Duration::from_millis(DEFAULT_THINK_MS),
            target: None,
        }
    }
}

impl Plan {
    /// A scenario's settings with the command line's overrides applied.
    pub fn from_args(args: &GenArgs) -> anyhow::Result<Plan> {
        let mut plan = args.scenario.map(|s| s.plan()).unwrap_or_default();
        if let Some(n) = args.requests {
            plan.requests = n;
        }
        if let Some(c) = args.concurrency {
            if c == 0 {
                bail!("--concurrency must be at least 1");
            }
            plan.concurrency = c;
            if args.pool_idle.is_none() && !matches!(plan.scenario, Some(Scenario::PoolSmall)) {
                plan.pool_idle = c;
            }
        }
        if let Some(p) = args.pool_idle {
            plan.pool_idle = p;
        }
        if args.drain {
            plan.drain = true;
        }
        if args.no_drain {
            plan.drain = false;
        }
        if args.keep_alive {
            plan.keep_alive = true;
        }
        if args.close {
            plan.keep_alive = false;
        }
        if let Some(n) = args.server_max_requests {
            if n == 0 {
                bail!("--server-max-requests must be at least 1");
            }
            plan.server_max_requests = Some(n);
        }
        if args.http10 {
            plan.http10 = true;
        }
        if let Some(b) = args.response_bytes {
            plan.response_bytes = b;
        }
        if let Some(ms) = args.think_ms {
            plan.think = Duration::from_millis(ms);
        }
        plan.target = args.target.clone();
        Ok(plan)
    }

    /// The scenario's explanation, or a description of the knobs.
    pub fn explanation(&self) -> String {
        if let Some(s) = self.scenario {
            return s.explain().to_string();
        }
        let mut causes = Vec::new();
        if !self.drain {
            causes.push(
                "bodies are dropped unread (no reuse, unless hyper finds them whole in its buffer)",
            );
        }
        if !self.keep_alive {
            causes.push("requests carry `Connection: close` (no reuse)");
        }
        if self.http10 {
            causes.push("HTTP/1.0 without keep-alive (no reuse)");
        }
        if self.server_max_requests.is_some() {
            causes.push("the server closes after N requests per connection");
        }
        if self.pool_idle < self.concurrency {
            causes.push("the idle pool is smaller than the concurrency (churn)");
        }
        if causes.is_empty() {
            "keep-alive traffic with bodies drained: connections are reused".to_string()
        } else {
            causes.join("; ")
        }
    }

    fn describe_client(&self) -> String {
        format!(
            "{} worker{}, idle pool {}, {}, {}, {}, {} B responses",
            self.concurrency,
            if self.concurrency == 1 { "" } else { "s" },
            self.pool_idle,
            if self.http10 { "HTTP/1.0" } else { "HTTP/1.1" },
            if self.keep_alive {
                "keep-alive"
            } else {
                "Connection: close"
            },
            if self.drain {
                "bodies drained"
            } else {
                "bodies not read"
            },
            self.response_bytes,
        )
    }
}

/// What a run did and what the server and the kernel saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenReport {
    pub scenario: Option<Scenario>,
    /// Requests the client sent.
    pub requests_sent: u64,
    /// Responses whose status line and headers came back (bodies read or not).
    pub responses_read: u64,
    /// Responses whose body was read to the end.
    pub bodies_read: u64,
    /// Requests that failed (connect, I/O or timeout).
    pub errors: u64,
    /// TCP connections the server accepted (None when the server is not ours).
    pub server_connections: Option<u64>,
    /// HTTP requests the server served (None when the server is not ours).
    pub server_requests: Option<u64>,
    /// Server connections that ended in an error, typically a reset by the
    /// client (None when the server is not ours).
    pub server_connection_errors: Option<u64>,
    /// TIME-WAIT sockets this run left on the client side (kernel socket table).
    pub time_wait_client: u64,
    /// TIME-WAIT sockets this run left on the server side (kernel socket table).
    pub time_wait_server: u64,
    /// The server's port.
    pub port: u16,
    pub explanation: String,
}

impl GenReport {
    /// The human summary `run` prints.
    pub fn summary(&self, plan: &Plan) -> String {
        let mut s = String::new();
        let name = self.scenario.map_or("custom", |s| s.name());
        let _ = writeln!(s, "scenario {name}: {}", self.explanation);
        let _ = writeln!(
            s,
            "client: {} requests sent, {} responses read, {} bodies read to the end, {} errors ({})",
            self.requests_sent,
            self.responses_read,
            self.bodies_read,
            self.errors,
            plan.describe_client()
        );
        match (self.server_connections, self.server_requests) {
            (Some(c), Some(r)) => {
                let limit = plan.server_max_requests.map_or(String::new(), |n| {
                    format!(", closing after {n} per connection")
                });
                let errors = match self.server_connection_errors {
                    Some(e) if e > 0 => {
                        format!(" ({e} ended in an error, e.g. reset by the client)")
                    }
                    _ => String::new(),
                };
                let _ = writeln!(
                    s,
                    "server: 127.0.0.1:{} accepted {c} TCP connection{} and served {r} request{}{limit}{errors}",
                    self.port,
                    if c == 1 { "" } else { "s" },
                    if r == 1 { "" } else { "s" },
                );
            }
            _ => {
                let _ = writeln!(
                    s,
                    "server: not ours (port {}), its counts are unknown",
                    self.port
                );
            }
        }
        let _ = writeln!(
            s,
            "TIME-WAIT left by this run: {} client side, {} server side (kernel socket table)",
            self.time_wait_client, self.time_wait_server
        );
        if !plan.drain && plan.response_bytes < NO_DRAIN_RESPONSE_BYTES / 2 {
            let _ = writeln!(
                s,
                "note: with bodies this small, hyper finishes reading a dropped body that is already \
                 in its buffer and reuses the connection; use --response-bytes {NO_DRAIN_RESPONSE_BYTES} \
                 to see the mistake"
            );
        }
        s
    }
}

/// `connscope gen`: runs the server and the client (or one of them) and
/// prints a human summary to `out`.
pub fn run(args: &GenArgs, out: &mut dyn std::io::Write) -> anyhow::Result<GenReport> {
    let plan = Plan::from_args(args)?;
    if args.serve_only {
        return serve_only(&plan, args.port, out);
    }
    let report = run_plan(&plan, args.port)?;
    out.write_all(report.summary(&plan).as_bytes())?;
    Ok(report)
}

/// Runs a plan in-process: the server on 127.0.0.1:`port` (0 = ephemeral)
/// and the client against it, or only the client when `plan.target` is set.
/// Waits for the connections to close, then counts the TIME-WAIT sockets
/// that appeared during the run.
pub fn run_plan(plan: &Plan, port: u16) -> anyhow::Result<GenReport> {
    run_plan_observed(plan, port, &mut |_| {})
}

/// [`run_plan`], calling `on_listening(port)` once the server listens (with
/// the real port when `port` is 0) and before the client sends anything;
/// `demo` can start its capture there.
pub fn run_plan_observed(
    plan: &Plan,
    port: u16,
    on_listening: &mut (dyn FnMut(u16) + Send),
) -> anyhow::Result<GenReport> {
    if plan.concurrency == 0 {
        bail!("concurrency must be at least 1");
    }
    let target = plan.target.as_deref().map(loopback_target).transpose()?;
    block_on(async move {
        let (server, uri) = match target {
            Some(uri) => (None, uri),
            None => {
                let server = Server::start(ServerConfig {
                    port,
                    response_bytes: plan.response_bytes,
                    max_requests_per_conn: plan.server_max_requests,
                })
                .await?;
                let uri: Uri = format!("http://127.0.0.1:{}/", server.addr.port()).parse()?;
                (Some(server), uri)
            }
        };
        let port = uri.port_u16().unwrap_or(80);
        on_listening(port);
        let time_wait_before = sockets::time_wait_rows(port);
        let in_flight_before = sockets::in_flight(port);

        let counters = client::run(client::ClientConfig {
            target: uri,
            requests: plan.requests,
            concurrency: plan.concurrency,
            pool_idle: plan.pool_idle,
            drain: plan.drain,
            keep_alive: plan.keep_alive,
            http10: plan.http10,
            think: plan.think,
            request_timeout: Duration::from_secs(10),
        })
        .await;

        let (server_connections, server_requests, server_connection_errors) = match server {
            Some(server) => {
                let counters = server.counters.clone();
                server.shutdown(Duration::from_secs(2)).await;
                (
                    Some(
                        counters
                            .connections
                            .load(std::sync::atomic::Ordering::SeqCst),
                    ),
                    Some(counters.requests.load(std::sync::atomic::Ordering::SeqCst)),
                    Some(
                        counters
                            .connection_errors
                            .load(std::sync::atomic::Ordering::SeqCst),
                    ),
                )
            }
            None => (None, None, None),
        };
        // Let the closing handshakes finish so that TIME-WAIT is where it will stay.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        while sockets::in_flight(port) > in_flight_before && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let time_wait_after = sockets::time_wait_rows(port);
        let (time_wait_client, time_wait_server) =
            sockets::count_sides(time_wait_after.difference(&time_wait_before));

        use std::sync::atomic::Ordering::SeqCst;
        Ok(GenReport {
            scenario: plan.scenario,
            requests_sent: counters.requests_sent.load(SeqCst),
            responses_read: counters.responses_read.load(SeqCst),
            bodies_read: counters.bodies_read.load(SeqCst),
            errors: counters.errors.load(SeqCst),
            server_connections,
            server_requests,
            server_connection_errors,
            time_wait_client,
            time_wait_server,
            port,
            explanation: plan.explanation(),
        })
    })?
}

/// TIME-WAIT sockets of connections on `port` right now, from the kernel's
/// socket table (`/proc/net/tcp` and `/proc/net/tcp6`): (client side, server
/// side). A socket whose local port is `port` is the server's end; one whose
/// remote port is `port` is the client's end. (0, 0) where `/proc` is missing.
pub fn time_wait_counts(port: u16) -> (u64, u64) {
    sockets::count_sides(&sockets::time_wait_rows(port))
}

/// Parses `--target` and refuses anything but plain HTTP to a loopback address.
pub fn loopback_target(url: &str) -> anyhow::Result<Uri> {
    let uri: Uri = url
        .parse()
        .with_context(|| format!("--target {url:?} is not a URL"))?;
    if uri.scheme_str() != Some("http") {
        bail!(
            "--target {url}: only http:// URLs are supported (the generator speaks plain HTTP/1.x)"
        );
    }
    let host = uri.host().unwrap_or_default();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = bare.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        bail!(
            "--target {url}: the generator only sends traffic to loopback addresses \
             (127.0.0.0/8, [::1] or localhost), not to {host}"
        );
    }
    if uri.path_and_query().is_none() {
        return Ok(format!("{url}/").parse()?);
    }
    Ok(uri)
}

fn serve_only(plan: &Plan, port: u16, out: &mut dyn std::io::Write) -> anyhow::Result<GenReport> {
    let runtime = runtime()?;
    let server = runtime.block_on(Server::start(ServerConfig {
        port,
        response_bytes: plan.response_bytes,
        max_requests_per_conn: plan.server_max_requests,
    }))?;
    let port = server.addr.port();
    writeln!(
        out,
        "serving on http://127.0.0.1:{port}/ ({} B responses{}), Ctrl-C to stop",
        plan.response_bytes,
        plan.server_max_requests.map_or(String::new(), |n| format!(
            ", closing after {n} requests per connection"
        ))
    )?;
    out.flush()?;
    runtime
        .block_on(tokio::signal::ctrl_c())
        .context("waiting for Ctrl-C")?;
    let counters = server.counters.clone();
    runtime.block_on(server.shutdown(Duration::from_millis(200)));
    use std::sync::atomic::Ordering::SeqCst;
    let connections = counters.connections.load(SeqCst);
    let requests = counters.requests.load(SeqCst);
    let (time_wait_client, time_wait_server) = time_wait_counts(port);
    let report = GenReport {
        scenario: None,
        requests_sent: 0,
        responses_read: 0,
        bodies_read: 0,
        errors: 0,
        server_connections: Some(connections),
        server_requests: Some(requests),
        server_connection_errors: Some(counters.connection_errors.load(SeqCst)),
        time_wait_client,
        time_wait_server,
        port,
        explanation: "server only".to_string(),
    };
    writeln!(
        out,
        "server: 127.0.0.1:{port} accepted {connections} TCP connections and served {requests} requests\n\
         TIME-WAIT on port {port}: {time_wait_client} client side, {time_wait_server} server side (kernel socket table)"
    )?;
    Ok(report)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")
}

/// Drives `future` on a private runtime; on a helper thread when the caller
/// is itself inside a tokio runtime (where blocking in place would panic).
fn block_on<F>(future: F) -> anyhow::Result<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    if tokio::runtime::Handle::try_current().is_err() {
        return Ok(runtime()?.block_on(future));
    }
    std::thread::scope(|scope| {
        scope
            .spawn(|| Ok(runtime()?.block_on(future)))
            .join()
            .unwrap_or_else(|_| bail!("the generator thread panicked"))
    })
}
