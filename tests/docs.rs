//! The generated documentation is up to date with the CLI and the analyzer:
//!
//! * `docs/man/*.1` and `docs/completions/connscope.{bash,zsh,fish}` equal what
//!   `examples/gen-docs.rs` generates from the clap definitions now;
//! * `docs/guide.md` and `docs/classroom.md` equal what `docs/make-guide.sh`
//!   renders from their `.md.in` templates with this build's connscope (every
//!   example's real output on the bundled fixtures);
//! * every example in the `--help` texts parses with the current options.
//!
//! When one fails, run `make docs` and commit the result (after reading the diff:
//! a changed output is a changed behaviour).

mod common;

#[allow(dead_code)]
#[path = "../examples/gen-docs.rs"]
mod gen_docs;

use clap::{CommandFactory, Parser};
use connscope::cli::Cli;
use std::fs;
use std::path::Path;
use std::process::Command;

/// Fails with the first differing line of `name`, or when it is missing.
fn assert_same(name: &str, committed: &Path, fresh: &Path) {
    let want = fs::read_to_string(fresh).unwrap();
    let have = fs::read_to_string(committed).unwrap_or_else(|_| {
        panic!(
            "{} is missing: run `make docs` and commit it",
            committed.display()
        )
    });
    if have == want {
        return;
    }
    let line = have
        .lines()
        .zip(want.lines())
        .position(|(a, b)| a != b)
        .unwrap_or_else(|| have.lines().count().min(want.lines().count()));
    panic!(
        "{name} is out of date (first difference at line {}):\n  committed: {:?}\n  now:       {:?}\n\
         run `make docs` and commit the result",
        line + 1,
        have.lines().nth(line).unwrap_or("<end of file>"),
        want.lines().nth(line).unwrap_or("<end of file>"),
    );
}

fn files_under(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn man_pages_and_completions_match_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let written = gen_docs::generate(tmp.path()).unwrap();
    let docs = common::root().join("docs");
    for rel in &written {
        assert_same(
            &format!("docs/{}", rel.display()),
            &docs.join(rel),
            &tmp.path().join(rel),
        );
    }
    // No stale page or completion left behind by a removed subcommand.
    for sub in ["man", "completions"] {
        assert_eq!(
            files_under(&docs.join(sub)),
            files_under(&tmp.path().join(sub)),
            "docs/{sub} holds other files than the CLI generates: run `make docs`"
        );
    }
}

#[test]
fn guide_and_lesson_show_the_real_outputs() {
    let tmp = tempfile::tempdir().unwrap();
    let root = common::root();
    let out = Command::new("bash")
        .arg(root.join("docs/make-guide.sh"))
        .arg(tmp.path())
        .env("CONNSCOPE", common::bin())
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "docs/make-guide.sh failed (it needs jq: `make deps`):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let templates: Vec<String> = files_under(&root.join("docs"))
        .into_iter()
        .filter_map(|f| f.strip_suffix(".in").map(str::to_string))
        .collect();
    assert!(templates.contains(&"guide.md".to_string()));
    assert!(templates.contains(&"classroom.md".to_string()));
    for name in templates {
        assert_same(
            &format!("docs/{name}"),
            &root.join("docs").join(&name),
            &tmp.path().join(&name),
        );
    }
}

/// Splits one example command line the way a shell would, for the simple
/// quoting the help texts use ('…' and "…"), and cuts it at the first
/// `|`, `&`, `;`, or at two spaces followed by a comment.
fn example_argv(line: &str) -> Vec<String> {
    let line = line.trim_start();
    let line = line.split("  ").next().unwrap();
    let mut args = Vec::new();
    let mut cur = String::new();
    let mut quote = None;
    let mut in_word = false;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, '|' | '&' | ';') => break,
            (None, ' ') => {
                if in_word {
                    args.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        args.push(cur);
    }
    args
}

#[test]
fn help_examples_parse() {
    let mut cmd = Cli::command();
    cmd.build();
    let mut texts: Vec<String> = cmd
        .get_after_help()
        .map(|h| h.to_string())
        .into_iter()
        .collect();
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let help = sub.get_after_help().map(|h| h.to_string());
        assert!(
            help.as_deref().is_some_and(|h| h.contains("Examples:")),
            "`connscope {} --help` has no examples",
            sub.get_name()
        );
        texts.extend(help);
    }
    let mut checked = 0;
    for text in &texts {
        for line in text.lines() {
            // Each command of a line (`a; b`, `a & b`) that runs connscope.
            for part in line.split([';', '&']) {
                let mut argv = example_argv(part);
                if argv.first().map(String::as_str) == Some("sudo") {
                    argv.remove(0);
                }
                if argv.first().map(String::as_str) != Some("connscope") {
                    continue;
                }
                if let Err(e) = Cli::try_parse_from(&argv) {
                    panic!("help example {line:?} does not parse: {e}");
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 20, "only {checked} examples found");
}

#[test]
fn example_argv_splits_like_a_shell() {
    assert_eq!(
        example_argv("  connscope read -q -f 'host 10.1.2.3' x.pcap  any expression"),
        ["connscope", "read", "-q", "-f", "host 10.1.2.3", "x.pcap"]
    );
    assert_eq!(
        example_argv("  connscope read --format json a.pcap | jq .totals"),
        ["connscope", "read", "--format", "json", "a.pcap"]
    );
}
