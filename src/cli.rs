//! Command line: clap derive structs mirroring DESIGN.md's contract.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "connscope",
    version,
    about = "Are my HTTP requests reusing TCP connections, and if not, why?",
    long_about = "connscope reads packet captures (pcap, pcapng) or captures live through libpcap, \
follows every TCP connection through the TCP state machine on both endpoints, counts the HTTP/1.x \
requests each connection carried, and explains why connections were or were not reused.",
    after_help = "\
Examples:
  connscope read capture.pcap            packet lines, flow table, diagnosis
  connscope read -q capture.pcap         flow table and diagnosis only
  connscope read --format json x.pcap    the JSON report
  sudo connscope live -i lo -p 8080      watch an app; Ctrl-C: the summary
  sudo connscope demo                    every keep-alive mistake side by side
  connscope gen --scenario no-drain      reproduce one of them

`connscope help COMMAND` shows each command's examples; docs/guide.md has more."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Analyse saved captures (pcap, pcapng)
    #[command(after_help = "\
Examples:
  connscope read capture.pcap                  packet lines, then the summary
  connscope read -q capture.pcap               summary: table, headline, why
  connscope read --no-summary capture.pcap     lines identical to tcpdump -n -r
  connscope read -q -p 8080 a.pcap b.pcapng    port 8080, one report per file
  connscope read -q -f 'host 10.1.2.3' x.pcap  any pcap-filter(7) expression
  connscope read -q --ladder 3 capture.pcap    sequence diagram of connection 3
  connscope read -q --timeline capture.pcap    every connection over time
  connscope read --format json capture.pcap | jq .totals
  connscope read --format ndjson *.pcap | jq -c 'select(.id) | [.id, .close]'
  zcat big.pcap.gz | connscope read -q -        standard input (read to its end)")]
    Read(ReadArgs),
    /// Capture through libpcap until Ctrl-C, -c N or --duration, with the same analysis
    #[command(after_help = "\
Examples:
  sudo connscope live -i lo -p 8080              watch; Ctrl-C: the summary
  sudo connscope live -i lo -p 8080 -a           lines with connection and state
  sudo connscope live -i any -p 443 --duration 30 -q
  sudo connscope live -i lo -p 8080 -w out.pcap  also save a pcap for later
  sudo connscope live -i eth0 -c 10000 -q -f 'host 10.1.2.3 and tcp port 80'
  sudo connscope live -i lo -p 8080 --format ndjson | jq -c .

Without root (lets everyone who can run the binary capture raw traffic):
  sudo setcap cap_net_raw,cap_net_admin=eip \"$(command -v connscope)\"")]
    Live(LiveArgs),
    /// Run the bundled HTTP server and/or client scenarios (loopback only)
    #[command(after_help = "\
Scenarios:
  no-drain      10 requests, response body never read: one connection each
  drain         body read to the end: one connection for all
  pool-small    10 workers, idle pool 2: churn, TIME-WAIT on the client
  pool-large    10 workers, idle pool 10: 10 connections
  client-close  requests say Connection: close: TIME-WAIT on the server
  server-limit  server closes after N requests per connection
  http10        HTTP/1.0 without keep-alive

Examples:
  connscope gen --scenario no-drain
  connscope gen --scenario pool-small -p 8081
  connscope gen --scenario drain -n 50 -c 5     the same scenario, other numbers
  connscope gen --serve-only -p 8080            then point your own client at it
  connscope gen --target http://127.0.0.1:8080/ --no-drain   client only

Watch it: sudo connscope live -i lo -p 8080 -w gen.pcap   (in another terminal)")]
    Gen(crate::gen::GenArgs),
    /// Run every generator scenario while capturing on lo, and compare them side by side
    #[command(after_help = "\
Examples:
  sudo connscope demo                        all scenarios, on ports 8080..8086
  sudo connscope demo -p 28080 --scenario no-drain,drain

Without capture rights the table shows the server's own counts and says how to
rerun. To look inside one scenario, capture it and read it back:
  sudo connscope live -i lo -p 8080 -q -w drain.pcap --duration 5 &
  sleep 1; connscope gen --scenario drain
  connscope read -q --ladder 1 drain.pcap")]
    Demo(crate::demo::DemoArgs),
}

#[derive(Args, Debug, Clone)]
pub struct ReadArgs {
    /// Capture files to analyse; each gets its own report (- is standard input)
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub analysis: AnalysisArgs,
}

#[derive(Args, Debug, Clone)]
pub struct LiveArgs {
    /// Interface to capture on (default: libpcap's default device; `any` for all)
    #[arg(short, long, value_name = "IFACE")]
    pub interface: Option<String>,
    /// Stop after N packets
    #[arg(short = 'c', long, value_name = "N")]
    pub count: Option<u64>,
    /// Stop after SECS seconds
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// Also save the captured packets to FILE (pcap, readable by tcpdump and connscope read)
    #[arg(short, long, value_name = "FILE")]
    pub write: Option<PathBuf>,
    /// Snapshot length: bytes kept of each packet
    #[arg(short, long, value_name = "BYTES", default_value_t = 262_144)]
    pub snaplen: i32,
    #[command(flatten)]
    pub analysis: AnalysisArgs,
}

#[derive(Args, Debug, Clone)]
pub struct AnalysisArgs {
    /// Keep only TCP traffic to or from PORT (BPF `tcp port PORT`)
    #[arg(short, long, value_name = "PORT")]
    pub port: Option<u16>,
    /// A libpcap filter expression, and-ed with --port (see pcap-filter(7))
    #[arg(short, long, value_name = "EXPR")]
    pub filter: Option<String>,
    /// No per-packet lines
    #[arg(short, long)]
    pub quiet: bool,
    /// Per-packet lines only, no summary
    #[arg(long)]
    pub no_summary: bool,
    /// Append the connection number and state transitions to each line
    #[arg(short, long)]
    pub annotate: bool,
    /// Report format; the machine formats print no packet lines
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// 2MSL to assume for TIME-WAIT, in seconds (Linux: 60)
    #[arg(long, value_name = "SECS", default_value_t = 60.0)]
    pub time_wait: f64,
    /// Most connections tracked at once; past it a half-open one (a SYN and nothing else) is reported early to make room, else new connections are counted and skipped
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    pub max_connections: usize,
    /// Out-of-order bytes held per connection and direction; past it the first hole is skipped
    #[arg(long, value_name = "BYTES", default_value_t = 256 * 1024)]
    pub reasm_window: usize,
    /// Longest HTTP head (start line and headers) parsed; a longer one is skipped and reported
    #[arg(long, value_name = "BYTES", default_value_t = 64 * 1024)]
    pub max_header_bytes: usize,
    /// Sequence diagram of connection ID (a number from the table), or `all` for small captures
    #[arg(long, value_name = "ID|all")]
    pub ladder: Option<LadderSel>,
    /// All connections over time: requests, close, TIME-WAIT tail, and counts below
    #[arg(long)]
    pub timeline: bool,
    /// ASCII instead of Unicode box drawing in --ladder and --timeline
    #[arg(long)]
    pub ascii: bool,
    /// Also write a self-contained HTML report (table, timeline, ladders, diagnosis) to FILE
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Colour in the human report: auto (on a terminal, unless NO_COLOR is set), always, never
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorChoice {
    /// On a terminal, unless NO_COLOR is set
    Auto,
    /// Always, even into a pipe (never for json, ndjson or csv)
    Always,
    /// Never
    Never,
}

impl Default for AnalysisArgs {
    /// The command line's defaults (for callers that build the options in code).
    fn default() -> Self {
        AnalysisArgs {
            port: None,
            filter: None,
            quiet: false,
            no_summary: false,
            annotate: false,
            format: Format::Table,
            time_wait: 60.0,
            max_connections: 1_000_000,
            reasm_window: 256 * 1024,
            max_header_bytes: 64 * 1024,
            ladder: None,
            timeline: false,
            ascii: false,
            html: None,
            color: ColorChoice::Auto,
        }
    }
}

impl AnalysisArgs {
    /// Whether the human report is coloured: never for machine formats or
    /// with NO_COLOR (any value); on `auto`, only when stdout is a terminal.
    pub fn use_color(&self) -> bool {
        use std::io::IsTerminal;
        if self.format != Format::Table {
            return false;
        }
        match self.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::io::stdout().is_terminal()
            }
        }
    }
}

/// Which connections get a ladder diagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LadderSel {
    One(u64),
    All,
}

impl std::str::FromStr for LadderSel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.eq_ignore_ascii_case("all") {
            return Ok(LadderSel::All);
        }
        s.parse::<u64>()
            .map(LadderSel::One)
            .map_err(|_| format!("'{s}' is not a connection id (a number from the table) or 'all'"))
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Packet lines, the flow table, the headline and the diagnosis
    Table,
    /// One JSON report per file (the field names are a stable interface)
    Json,
    /// One JSON object per connection as it ends, then a final totals line
    Ndjson,
    /// One row per connection, with a header row
    Csv,
}
