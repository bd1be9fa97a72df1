//! The driver: wires capture → decode → track → http → report for one
//! source. It owns no analysis rules of its own; it only moves data between
//! the stages and collects what `report` renders.

use crate::capture::{CaptureError, FileSource, Packet};
use crate::cli::{AnalysisArgs, Format};
use crate::decode::{self, Skip};
use crate::report::line::LineRenderer;
use std::io::Write;
use std::path::Path;

/// Packet counts for one source.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PacketCounts {
    pub total: u64,
    pub tcp: u64,
    pub skipped: u64,
    pub not_ip: u64,
    pub not_tcp: u64,
    pub fragments: u64,
    pub truncated: u64,
    pub malformed: u64,
}

/// What one run over a source produced.
#[derive(Debug, Default)]
pub struct Outcome {
    pub packets: PacketCounts,
    pub link_type: String,
}

/// One source's analysis state, fed packet by packet.
pub struct Analyzer<'o> {
    args: &'o AnalysisArgs,
    lines: Option<LineRenderer>,
    pub outcome: Outcome,
}

impl<'o> Analyzer<'o> {
    pub fn new(args: &'o AnalysisArgs, link_type: &str) -> Self {
        let lines = (!args.quiet && args.format == Format::Table).then(LineRenderer::new);
        Analyzer {
            args,
            lines,
            outcome: Outcome {
                link_type: link_type.to_string(),
                ..Default::default()
            },
        }
    }

    pub fn on_packet(
        &mut self,
        link: crate::capture::LinkType,
        pkt: &Packet<'_>,
        out: &mut dyn Write,
    ) -> std::io::Result<()> {
        let c = &mut self.outcome.packets;
        c.total += 1;
        let d = match decode::decode(link, pkt) {
            Ok(d) => d,
            Err(skip) => {
                c.skipped += 1;
                match skip {
                    Skip::NotIp => c.not_ip += 1,
                    Skip::NotTcp => c.not_tcp += 1,
                    Skip::Fragment => c.fragments += 1,
                    Skip::Truncated => c.truncated += 1,
                    Skip::Malformed => c.malformed += 1,
                }
                return Ok(());
            }
        };
        c.tcp += 1;
        if let Some(r) = &mut self.lines {
            r.write_line(out, pkt.ts, &d)?;
        }
        let _ = self.args;
        Ok(())
    }

    pub fn finish(&mut self, out: &mut dyn Write) -> std::io::Result<()> {
        if self.args.no_summary {
            return Ok(());
        }
        let c = &self.outcome.packets;
        if self.args.format == Format::Table {
            writeln!(
                out,
                "{} packets, {} TCP, {} skipped (not TCP or undecodable)",
                c.total, c.tcp, c.skipped
            )?;
        }
        Ok(())
    }
}

/// Error of a run: either the capture broke (the report so far was printed)
/// or writing the output failed.
#[derive(Debug)]
pub enum RunError {
    Capture(CaptureError),
    Io(std::io::Error),
}

impl From<std::io::Error> for RunError {
    fn from(e: std::io::Error) -> Self {
        RunError::Io(e)
    }
}

/// Analyses one saved capture, writing lines and the report to `out` and
/// tcpdump's status line to `status`.
pub fn read_file(
    path: &Path,
    args: &AnalysisArgs,
    out: &mut dyn Write,
    status: &mut dyn Write,
) -> Result<Outcome, RunError> {
    let filter = crate::capture::filter_expression(args.port, args.filter.as_deref());
    let mut src = FileSource::open(path, filter.as_deref()).map_err(RunError::Capture)?;
    writeln!(status, "{}", src.status_line())?;
    if src.link == crate::capture::LinkType::LinuxSll2 {
        writeln!(status, "Warning: interface names might be incorrect")?;
    }
    let link = src.link;
    let mut an = Analyzer::new(args, src.link_name());
    let broken = loop {
        match src.next_with(|p| an.on_packet(link, &p, out)) {
            Ok(Some(r)) => r?,
            Ok(None) => break None,
            Err(e) => break Some(e),
        }
    };
    an.finish(out)?;
    match broken {
        Some(e) => Err(RunError::Capture(e)),
        None => Ok(an.outcome),
    }
}

/// Captures live until Ctrl-C/SIGTERM, `-c` or `--duration`, analysing
/// through the same `Analyzer` as `read`. Lines are flushed as they come.
pub fn live(args: &crate::cli::LiveArgs, out: &mut dyn Write, status: &mut dyn Write) -> Result<Outcome, RunError> {
    use crate::capture::{LiveCapture, LiveConfig, LiveEvent};
    let cfg = LiveConfig {
        interface: args.interface.clone(),
        filter: crate::capture::filter_expression(args.analysis.port, args.analysis.filter.as_deref()),
        snaplen: args.snaplen,
        count: args.count,
        duration: args.duration.map(|d| std::time::Duration::from_secs_f64(d.max(0.0))),
        write: args.write.clone(),
    };
    let cap = LiveCapture::start(&cfg).map_err(RunError::Capture)?;
    if args.interface.is_none() {
        writeln!(status, "connscope: capturing on {} (the default device; choose one with -i)", cap.interface)?;
    }
    writeln!(status, "{}", cap.status_line())?;
    let stop = cap.stop_handle();
    // Ctrl-C and SIGTERM end the capture, not the process: the summary follows.
    let _ = ctrlc::set_handler(move || stop.store(true, std::sync::atomic::Ordering::Relaxed));
    let mut an = Analyzer::new(&args.analysis, "");
    let mut end_error = None;
    let mut stats = Default::default();
    while let Some(ev) = cap.recv() {
        match ev {
            LiveEvent::Packet(p) => {
                an.on_packet(cap.link, &p.as_packet(), out)?;
                out.flush()?;
            }
            LiveEvent::Stopped { stats: s, error } => {
                stats = s;
                end_error = error;
                break;
            }
        }
    }
    an.finish(out)?;
    out.flush()?;
    let s: crate::capture::LiveStats = stats;
    writeln!(status, "{} packets captured", s.captured)?;
    writeln!(status, "{} packets received by filter", s.received)?;
    writeln!(status, "{} packets dropped by kernel", s.dropped)?;
    if s.if_dropped > 0 {
        writeln!(status, "{} packets dropped by interface", s.if_dropped)?;
    }
    match end_error {
        Some(e) => Err(RunError::Capture(e)),
        None => Ok(an.outcome),
    }
}
