//! `connscope read -` reads a capture from standard input (a pipe), as
//! `tcpdump -r -` does: the same lines, status line and report as reading the
//! file by name, for classic pcap and pcapng; bad input gets one clear error.

mod common;
use common::*;
use std::io::Write;
use std::process::{Command, Output, Stdio};

/// connscope with `args`, the bytes of `input` written into its standard input.
fn piped(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(bin())
        .args(args)
        .env("TZ", "UTC")
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run connscope");
    let mut stdin = child.stdin.take().expect("stdin");
    let bytes = input.to_vec();
    // Written from a thread, in small pieces: connscope reads as it comes.
    let writer = std::thread::spawn(move || {
        for piece in bytes.chunks(1000) {
            if stdin.write_all(piece).is_err() {
                break;
            }
        }
    });
    let out = child.wait_with_output().expect("wait");
    writer.join().expect("writer");
    out
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn a_capture_on_standard_input_reads_as_the_file_does() {
    for name in ["client-close.pcap", "pcapng-dumpcap.pcapng"] {
        let path = fixtures().join(name);
        let file = path.to_str().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        for args in [vec!["read"], vec!["read", "-q", "--format", "json"]] {
            let by_name = connscope(&[args.as_slice(), &[file]].concat());
            let by_pipe = piped(&[args.as_slice(), &["-"]].concat(), &bytes);
            assert_eq!(
                by_pipe.status.code(),
                Some(0),
                "{name}: {}",
                text(&by_pipe.stderr)
            );
            assert_eq!(
                text(&by_pipe.stdout)
                    .replace("\"source\": \"-\"", &format!("\"source\": {file:?}")),
                text(&by_name.stdout),
                "{name} {args:?}"
            );
            assert_eq!(
                text(&by_pipe.stderr).replace("from file -,", &format!("from file {file},")),
                text(&by_name.stderr),
                "{name} {args:?}"
            );
        }
        assert!(text(&connscope(&["read", file]).stdout).contains(" > "));
    }
}

#[test]
fn standard_input_lines_and_status_match_tcpdump_reading_standard_input() {
    let Some(td) = tcpdump_path() else {
        eprintln!("skipped: no tcpdump");
        return;
    };
    let path = fixtures().join("client-close.pcap");
    let bytes = std::fs::read(&path).unwrap();
    let ours = piped(&["read", "--no-summary", "-"], &bytes);
    let theirs = Command::new(td)
        .args(["-n", "-r", "-"])
        .env("TZ", "UTC")
        .stdin(std::fs::File::open(&path).unwrap())
        .output()
        .unwrap();
    assert_same_lines(
        "client-close.pcap via stdin",
        &text(&theirs.stdout),
        &text(&ours.stdout),
    );
    let status = |o: &Output| text(&o.stderr).lines().next().unwrap_or("").to_string();
    assert_eq!(status(&ours), status(&theirs));
    assert!(status(&ours).starts_with("reading from file -, link-type EN10MB"));
}

#[test]
fn bad_standard_input_is_one_clear_error() {
    for (input, expect) in [
        (&b""[..], "-: not a capture file: only 0 bytes long"),
        (
            &b"GET / HTTP/1.1\r\n\r\nnot a capture at all"[..],
            "-: not a pcap or pcapng capture file",
        ),
    ] {
        let o = piped(&["read", "-q", "-"], input);
        assert_eq!(o.status.code(), Some(1));
        let err = text(&o.stderr);
        assert!(err.contains(expect), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    // A capture cut short on the pipe: what came before is analysed, then the error.
    let bytes = std::fs::read(fixtures().join("client-close.pcap")).unwrap();
    let o = piped(
        &["read", "-q", "--format", "json", "-"],
        &bytes[..bytes.len() - 10],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stdout).contains("\"connections\""),
        "{}",
        text(&o.stdout)
    );
}
