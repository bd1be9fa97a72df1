//! connscope's entry point: parse arguments, run, map errors to exit codes
//! (0 success, 1 a user-facing error, 2 bad usage, printed by clap).

use clap::Parser;
use connscope::analysis::{self, RunError};
use connscope::cli::{Cli, Command};
use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("connscope: error: {e}");
            ExitCode::from(1)
        }
    }
}

/// Prints a capture error on one line after what was already written, and
/// says whether the run failed; an output error ends the run.
fn report<T>(r: Result<T, RunError>, out: &mut impl Write) -> io::Result<bool> {
    match r {
        Ok(_) => Ok(false),
        Err(RunError::Io(e)) => Err(e),
        Err(RunError::Capture(e)) => {
            out.flush()?;
            eprintln!("connscope: error: {e}");
            Ok(true)
        }
    }
}

/// The same for the generator and the demo, whose errors carry context.
fn report_any(r: anyhow::Result<()>, out: &mut impl Write) -> io::Result<bool> {
    match r {
        Ok(()) => Ok(false),
        Err(e) => {
            out.flush()?;
            eprintln!("connscope: error: {e:#}");
            Ok(true)
        }
    }
}

fn run(cli: Cli) -> io::Result<ExitCode> {
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(64 * 1024, stdout.lock());
    let mut failed = false;
    match cli.command {
        Command::Read(args) => {
            for (i, file) in args.files.iter().enumerate() {
                let r =
                    analysis::read_file(file, &args.analysis, &mut out, &mut io::stderr(), i == 0);
                failed |= report(r, &mut out)?;
            }
        }
        Command::Live(args) => {
            failed = report(analysis::live(&args, &mut out, &mut io::stderr()), &mut out)?
        }
        Command::Demo(args) => {
            failed = report_any(connscope::demo::run(&args, &mut out), &mut out)?
        }
        Command::Gen(args) => {
            failed = report_any(connscope::gen::run(&args, &mut out).map(|_| ()), &mut out)?
        }
    }
    out.flush()?;
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
