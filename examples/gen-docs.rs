//! Writes the man pages and shell completions generated from connscope's
//! clap definitions (`connscope::cli::Cli`):
//!
//! ```text
//! cargo run --example gen-docs -- docs     # docs/man/*.1, docs/completions/connscope.{bash,zsh,fish}
//! ```
//!
//! `make docs` runs it; `tests/docs.rs` runs [`generate`] into a temporary
//! directory and fails when the committed files differ.

use clap::CommandFactory;
use clap_complete::Shell;
use connscope::cli::Cli;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The shells completions are generated for, with their file names.
pub const SHELLS: [(Shell, &str); 3] = [
    (Shell::Bash, "connscope.bash"),
    (Shell::Zsh, "connscope.zsh"),
    (Shell::Fish, "connscope.fish"),
];

/// Generates every file under `out` (`man/`, `completions/`) and returns
/// their paths relative to `out`, sorted.
pub fn generate(out: &Path) -> io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    let man = out.join("man");
    fs::create_dir_all(&man)?;
    // As clap_mangen::generate_to: built, so that subcommands carry their
    // display names (`connscope-read`) and bin names (`connscope read`).
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    written.push(write_man(&man, cmd.clone())?);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        written.push(write_man(&man, sub.clone())?);
    }

    let comp = out.join("completions");
    fs::create_dir_all(&comp)?;
    for (shell, file) in SHELLS {
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "connscope", &mut buf);
        fs::write(comp.join(file), buf)?;
        written.push(Path::new("completions").join(file));
    }
    written.sort();
    Ok(written)
}

fn write_man(dir: &Path, cmd: clap::Command) -> io::Result<PathBuf> {
    let name = cmd
        .get_display_name()
        .unwrap_or_else(|| cmd.get_name())
        .to_string();
    // clap_mangen would reflow `after_help` into an "EXTRA" section; the
    // examples are laid out in columns, so they go in EXAMPLES, unfilled.
    let examples = cmd.get_after_help().map(|h| h.to_string());
    let subcommands: Vec<String> = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .map(|s| format!("connscope-{}", s.get_name()))
        .collect();
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd.after_help(None::<&str>))
        .title(name.to_uppercase())
        .section("1")
        .manual("connscope manual")
        .source(format!("connscope {}", env!("CARGO_PKG_VERSION")))
        .render(&mut buf)?;
    if let Some(text) = examples {
        buf.extend_from_slice(b".SH EXAMPLES\n.nf\n");
        let body = text.strip_prefix("Examples:\n").unwrap_or(&text);
        for line in body.lines() {
            buf.extend_from_slice(roff_line(line).as_bytes());
            buf.push(b'\n');
        }
        buf.extend_from_slice(b".fi\n");
    }
    let mut see_also: Vec<String> = if name == "connscope" {
        subcommands
    } else {
        vec!["connscope".to_string()]
    };
    see_also.extend(["tcpdump".to_string(), "pcap-filter".to_string()]);
    let refs: Vec<String> = see_also
        .iter()
        .map(|p| {
            let section = if p == "pcap-filter" {
                7
            } else if p == "tcpdump" {
                8
            } else {
                1
            };
            format!(".BR {p} ({section})")
        })
        .collect();
    buf.extend_from_slice(format!(".SH \"SEE ALSO\"\n{}\n", refs.join(",\n")).as_bytes());
    let file = format!("{name}.1");
    fs::write(dir.join(&file), buf)?;
    Ok(Path::new("man").join(file))
}

/// One line of text for roff's no-fill mode: backslashes escaped, a leading
/// control character neutralised, `-` kept as an ASCII hyphen-minus.
fn roff_line(line: &str) -> String {
    let mut out = String::with_capacity(line.len() + 8);
    if line.starts_with(['.', '\'']) {
        out.push_str("\\&");
    }
    for c in line.chars() {
        match c {
            '\\' => out.push_str("\\e"),
            '-' => out.push_str("\\-"),
            _ => out.push(c),
        }
    }
    out
}

fn main() -> io::Result<()> {
    let out = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("docs"));
    for f in generate(&out)? {
        println!("{}", out.join(f).display());
    }
    Ok(())
}
