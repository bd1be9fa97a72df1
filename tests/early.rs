//! Decoding on the reader thread (`FileSource::open_with` + `decode::Early`)
//! gives the analysis exactly what decoding in the analysis loop gives: every
//! packet of every fixture and of the third-party corpus (when present),
//! including the truncated, damaged and non-TCP ones.

mod common;
use common::*;
use connscope::analysis::{Ahead, Analyzer};
use connscope::capture::FileSource;
use connscope::cli::{AnalysisArgs, Format};
use connscope::decode::{self, Early};
use std::path::{Path, PathBuf};

fn captures(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            captures(&p, out);
        } else if p
            .extension()
            .is_some_and(|x| x == "pcap" || x == "pcapng" || x == "cap")
        {
            out.push(p);
        }
    }
}

/// Packets whose early form matches, and how many were TCP segments.
fn check(path: &Path) -> (usize, usize) {
    let Ok(mut src) = FileSource::open_with(path, None, |l, p, _, _: &mut ()| Early::of(l, p))
    else {
        return (0, 0); // unsupported link types are refused at open either way
    };
    let link = src.link;
    let (mut packets, mut segments) = (0, 0);
    while let Ok(Some(())) = src.next_with(|p, early, _| {
        let expected = match decode::decode(link, &p) {
            Err(skip) => format!("{:?}", Early::Skip(skip)),
            Ok(d) => match d.segment(p.ts) {
                None => "Damaged".to_string(),
                Some(seg) => format!("{seg:?}"),
            },
        };
        let got = match early {
            Early::Segment(e) => {
                segments += 1;
                format!("{:?}", e.segment(p.ts, p.data))
            }
            other => format!("{other:?}"),
        };
        assert_eq!(got, expected, "{} packet {}", path.display(), packets + 1);
        packets += 1;
    }) {}
    // As many packets as a read that decodes nothing: a panic in the early
    // function ends the reader thread, which ends the read above early.
    assert_eq!(
        packets,
        plain_count(path),
        "{}: packets decoded ahead",
        path.display()
    );
    (packets, segments)
}

/// Packets in `path` by a read that decodes nothing on the reader thread.
fn plain_count(path: &Path) -> usize {
    let mut plain = FileSource::open(path, None).unwrap();
    let mut all = 0;
    while let Ok(Some(())) = plain.next_with(|_, _, _| ()) {
        all += 1;
    }
    all
}

#[test]
fn early_decoding_equals_decoding_in_the_loop() {
    let mut files = Vec::new();
    captures(&fixtures(), &mut files);
    let fixture_count = files.len();
    if let Some(c) = corpus() {
        captures(&c, &mut files);
    }
    let (mut packets, mut segments) = (0, 0);
    for f in &files {
        let (p, s) = check(f);
        packets += p;
        segments += s;
    }
    assert!(fixture_count >= 10, "fixtures found: {fixture_count}");
    // Some packets of every kind were compared, not just a few.
    assert!(
        packets > 1000 && segments > 500,
        "{packets} packets, {segments} segments"
    );
}

/// The JSON report of `path` with every payload read ahead (`Pre`) or none.
fn report(path: &Path, ahead: bool) -> Option<String> {
    let args = AnalysisArgs {
        format: Format::Json,
        ..AnalysisArgs::default()
    };
    let mut src =
        FileSource::open_with(path, None, |l, p, _, store| Ahead::of(l, p, true, store)).ok()?;
    let mut an = Analyzer::new(&args, "x", src.link_name());
    let mut out = Vec::new();
    let mut packets = 0;
    while let Ok(Some(r)) = src.next_with(|p, a, store| {
        let pre = a.pre(store).filter(|_| ahead);
        an.on_early(&p, &a.early, pre, &mut out)
    }) {
        r.unwrap();
        packets += 1;
    }
    // A panic on the reader thread would end both reports early alike.
    assert_eq!(packets, plain_count(path), "{}", path.display());
    an.finish(&mut out).unwrap();
    Some(String::from_utf8(out).unwrap())
}

/// HTTP heads parsed on the reader thread (`http::Pre`, used when the
/// analysis is behind) give the very report the analysis makes alone.
#[test]
fn heads_parsed_ahead_change_no_report() {
    let mut files = Vec::new();
    captures(&fixtures(), &mut files);
    if let Some(c) = corpus() {
        captures(&c, &mut files);
    }
    let mut with_http = 0;
    for f in &files {
        let (Some(a), Some(b)) = (report(f, true), report(f, false)) else {
            continue;
        };
        assert_eq!(a, b, "{}", f.display());
        let v: serde_json::Value = serde_json::from_str(&a).unwrap();
        with_http += usize::from(v["totals"]["http_requests"].as_u64() > Some(0));
    }
    assert!(with_http >= 20, "captures with HTTP: {with_http}");
}
