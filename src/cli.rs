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
    after_help = "Examples:\n  connscope read capture.pcap                 lines, flow table and diagnosis\n  connscope read -q --format json a.pcap      the JSON report only\n  sudo connscope live -i lo --port 8080       watch an application, Ctrl-C for the summary\n  connscope gen --scenario no-drain           reproduce a keep-alive mistake"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Analyse saved captures (pcap, pcapng)
    #[command(
        after_help = "Examples:\n  connscope read capture.pcap\n  connscope read --no-summary capture.pcap     lines identical to tcpdump -n\n  connscope read -q -p 8080 a.pcap b.pcapng   summary only, one report per file\n  connscope read --format json -q capture.pcap | jq .totals"
    )]
    Read(ReadArgs),
    /// Capture through libpcap until Ctrl-C, -c N or --duration, with the same analysis
    #[command(
        after_help = "Examples:\n  sudo connscope live -i lo --port 8080             watch, Ctrl-C prints the summary\n  sudo connscope live -i any -p 443 --duration 30 -q\n  sudo connscope live -i lo -p 8080 -w out.pcap     also save a pcap (readable by tcpdump)\n  sudo connscope live -i lo -p 8080 --format ndjson | jq .  one JSON object per finished connection\n\nWithout root: sudo setcap cap_net_raw,cap_net_admin=eip $(command -v connscope)"
    )]
    Live(LiveArgs),
    /// Run the bundled HTTP server and/or client scenarios (loopback only)
    #[command(
        after_help = "Scenarios:\n  no-drain      10 requests, response body never read: one connection each\n  drain         body read to the end: one connection for all\n  pool-small    10 workers, idle pool 2: churn\n  pool-large    10 workers, idle pool 10: 10 connections\n  client-close  requests say Connection: close\n  server-limit  server closes after N requests per connection\n  http10        HTTP/1.0 without keep-alive\n\nExamples:\n  connscope gen --scenario no-drain\n  connscope gen --scenario pool-small --port 8081\n  connscope gen --serve-only --port 8080            then point your own client at it\n  sudo connscope live -i lo --port 8080 &  connscope gen --scenario drain"
    )]
    Gen(crate::gen::GenArgs),
}

#[derive(Args, Debug, Clone)]
pub struct ReadArgs {
    /// Capture files to analyse; each gets its own report
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
    /// Most connections tracked at once; past it new connections are counted and skipped
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    pub max_connections: usize,
    /// Out-of-order bytes held per connection and direction; past it the first hole is skipped
    #[arg(long, value_name = "BYTES", default_value_t = 256 * 1024)]
    pub reasm_window: usize,
    /// Longest HTTP head (start line and headers) parsed; a longer one is skipped and reported
    #[arg(long, value_name = "BYTES", default_value_t = 64 * 1024)]
    pub max_header_bytes: usize,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Ndjson,
    Csv,
}
