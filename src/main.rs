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

fn run(cli: Cli) -> io::Result<ExitCode> {
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(64 * 1024, stdout.lock());
    let mut failed = false;
    match cli.command {
        Command::Read(args) => {
            for (i, file) in args.files.iter().enumerate() {
                match analysis::read_file(file, &args.analysis, &mut out, &mut io::stderr(), i == 0)
                {
                    Ok(_) => {}
                    Err(RunError::Io(e)) => return Err(e),
                    Err(RunError::Capture(e)) => {
                        out.flush()?;
                        eprintln!("connscope: error: {e}");
                        failed = true;
                    }
                }
            }
        }
        Command::Live(args) => match analysis::live(&args, &mut out, &mut io::stderr()) {
            Ok(_) => {}
            Err(RunError::Io(e)) => return Err(e),
            Err(RunError::Capture(e)) => {
                out.flush()?;
                eprintln!("connscope: error: {e}");
                failed = true;
            }
        },
        Command::Demo(args) => {
            if let Err(e) = connscope::demo::run(&args, &mut out) {
                out.flush()?;
                eprintln!("connscope: error: {e:#}");
                failed = true;
            }
        }
        Command::Gen(args) => {
            if let Err(e) = connscope::gen::run(&args, &mut out) {
                out.flush()?;
                eprintln!("connscope: error: {e:#}");
                failed = true;
            }
        }
    }
    out.flush()?;
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
