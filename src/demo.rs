//! `connscope demo`: runs every generator scenario while capturing on
//! loopback through the same pipeline as `live`, then puts the scenarios
//! side by side: the server's own counts next to what the capture shows.

use crate::analysis::{analyse_live, Outcome};
use crate::capture::{LiveCapture, LiveConfig};
use crate::cli::AnalysisArgs;
use crate::gen::{self, GenReport, Scenario};
use comfy_table::{presets, Cell, CellAlignment, ContentArrangement, Table};
use std::io::Write;

/// Options of `connscope demo`.
#[derive(clap::Args, Debug, Clone)]
pub struct DemoArgs {
    /// Interface to capture on (loopback)
    #[arg(short, long, value_name = "IFACE", default_value = "lo")]
    pub interface: String,
    /// First server port; each scenario uses the next one (port, port+1, …)
    #[arg(short, long, value_name = "PORT", default_value_t = 8080)]
    pub port: u16,
    /// Run only these scenarios (default: all)
    #[arg(long, value_enum, value_name = "NAME", num_args = 1.., value_delimiter = ',')]
    pub scenario: Vec<Scenario>,
}

/// One scenario's result.
pub struct DemoRow {
    pub scenario: Scenario,
    pub gen: GenReport,
    /// `None` when the capture could not run (no privilege).
    pub capture: Option<Outcome>,
}

fn analysis_args(port: u16) -> AnalysisArgs {
    AnalysisArgs {
        port: Some(port),
        quiet: true,
        no_summary: true,
        color: crate::cli::ColorChoice::Never,
        ..Default::default()
    }
}

/// Runs one scenario under a live capture of its port.
pub fn run_scenario(iface: &str, scenario: Scenario, port: u16) -> anyhow::Result<DemoRow> {
    let plan = scenario.plan();
    let cfg = LiveConfig {
        interface: Some(iface.to_string()),
        filter: Some(format!("tcp port {port}")),
        snaplen: 262_144,
        ..Default::default()
    };
    let cap = match LiveCapture::start(&cfg) {
        Ok(c) => c,
        Err(e) => {
            // No capture (e.g. no privilege): the server's counts still stand.
            let gen = gen::run_plan(&plan, port)?;
            return Err(anyhow::anyhow!(NoCapture {
                reason: e.to_string(),
                gen: Box::new(DemoRow {
                    scenario,
                    gen,
                    capture: None
                })
            }));
        }
    };
    let args = analysis_args(port);
    let args = &args;
    let stop = cap.stop_handle();
    std::thread::scope(|sc| {
        let analysis =
            sc.spawn(move || analyse_live(&cap, args, &mut std::io::sink(), &mut std::io::sink()));
        // Let libpcap start delivering before the first SYN.
        std::thread::sleep(std::time::Duration::from_millis(200));
        let gen = gen::run_plan(&plan, port);
        // The last ACKs of a close reach the capture a moment later.
        std::thread::sleep(std::time::Duration::from_millis(400));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let outcome = analysis
            .join()
            .map_err(|_| anyhow::anyhow!("the analysis thread panicked"))?;
        let gen = gen?;
        let capture = outcome.map_err(|e| anyhow::anyhow!("capture failed: {e:?}"))?;
        Ok(DemoRow {
            scenario,
            gen,
            capture: Some(capture),
        })
    })
}

/// The capture could not start; carries the server-only result.
#[derive(Debug)]
pub struct NoCapture {
    pub reason: String,
    pub gen: Box<DemoRow>,
}

impl std::fmt::Debug for DemoRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DemoRow({})", self.scenario.name())
    }
}

impl std::fmt::Display for NoCapture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.reason)
    }
}

impl std::error::Error for NoCapture {}

/// `connscope demo`: every scenario, then one comparison table.
pub fn run(args: &DemoArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let scenarios: Vec<Scenario> = if args.scenario.is_empty() {
        Scenario::all().to_vec()
    } else {
        args.scenario.clone()
    };
    let mut rows = Vec::new();
    let mut no_capture = None;
    for (i, s) in scenarios.iter().enumerate() {
        let port = args.port.checked_add(i as u16).ok_or_else(|| {
            anyhow::anyhow!(
                "--port {} leaves no room for {} scenarios",
                args.port,
                scenarios.len()
            )
        })?;
        writeln!(
            out,
            "running {:<13} on 127.0.0.1:{port} — {}",
            s.name(),
            s.explain()
        )?;
        out.flush()?;
        match run_scenario(&args.interface, *s, port) {
            Ok(r) => rows.push(r),
            Err(e) => match e.downcast::<NoCapture>() {
                Ok(nc) => {
                    no_capture.get_or_insert(nc.reason.clone());
                    rows.push(*nc.gen);
                }
                Err(e) => return Err(e),
            },
        }
    }
    writeln!(out)?;
    write_table(out, &rows)?;
    if let Some(reason) = no_capture {
        writeln!(out, "\nno capture: {reason}")?;
        writeln!(out, "the table shows the server's own counts only; rerun with capture rights: sudo connscope demo")?;
    }
    Ok(())
}

fn write_table(out: &mut dyn Write, rows: &[DemoRow]) -> std::io::Result<()> {
    let mut t = Table::new();
    t.load_style(presets::UTF8_HORIZONTAL_ONLY)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(110)
        .set_header([
            "scenario",
            "requests",
            "connections\n(server)",
            "connections\n(capture)",
            "TIME-WAIT c/s\n(capture)",
            "TIME-WAIT c/s\n(kernel)",
            "diagnosis",
        ]);
    for r in rows {
        let (conns, tw, why) = match &r.capture {
            Some(o) => {
                let s = o.summary.as_ref();
                (
                    s.map(|s| s.connections.to_string()).unwrap_or_default(),
                    s.map(|s| {
                        format!(
                            "{}/{}",
                            s.track.time_wait_entered[0], s.track.time_wait_entered[1]
                        )
                    })
                    .unwrap_or_default(),
                    s.and_then(|s| s.diagnosis.first().cloned())
                        .unwrap_or_default(),
                )
            }
            None => ("-".into(), "-".into(), "(not captured)".into()),
        };
        t.add_row(vec![
            Cell::new(r.scenario.name()),
            Cell::new(r.gen.requests_sent).set_alignment(CellAlignment::Right),
            Cell::new(
                r.gen
                    .server_connections
                    .map(|c| c.to_string())
                    .unwrap_or("-".into()),
            )
            .set_alignment(CellAlignment::Right),
            Cell::new(conns).set_alignment(CellAlignment::Right),
            Cell::new(tw),
            Cell::new(format!(
                "{}/{}",
                r.gen.time_wait_client, r.gen.time_wait_server
            )),
            Cell::new(why),
        ]);
    }
    writeln!(out, "{t}")
}
