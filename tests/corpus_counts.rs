//! Connection and HTTP request counts on the third-party corpus
//! (../shared/corpus, when present) against tshark's, recorded in
//! ORACLE.tsv: `tcp_streams` (tcp.stream), `http_requests` and
//! `streams_with_http_requests`.

mod common;
use common::*;

/// Files where connscope deliberately differs from tshark, and why.
const EXPECTED_DIFFERENCES: &[(&str, &str)] = &[
    // All TCP is inside a Geneve/UDP tunnel; connscope decodes the outer
    // headers only (tunnels are out of scope), so it sees no TCP at all.
    ("tcpdump/geneve.pcap", "tunnelled TCP"),
];

/// Link types outside DESIGN.md's list: connscope must refuse them by name.
const UNSUPPORTED: &[&str] = &["ARCNET", "IPOIB", "NFLOG"];

#[test]
fn corpus_counts_match_tshark() {
    let Some(corpus) = corpus() else {
        eprintln!("skipped: ../shared/corpus not present");
        return;
    };
    let oracle = std::fs::read_to_string(corpus.join("ORACLE.tsv")).unwrap();
    let mut lines = oracle.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (c_file, c_link, c_streams, c_reqs, c_sreqs) = (
        col("file"),
        col("linktype"),
        col("tcp_streams"),
        col("http_requests"),
        col("streams_with_http_requests"),
    );
    let (mut matched, mut failures) = (0, Vec::new());
    for line in lines {
        let f: Vec<&str> = line.split('\t').collect();
        let file = corpus.join(f[c_file]);
        let o = connscope(&["read", "-q", "--format", "json", file.to_str().unwrap()]);
        if UNSUPPORTED.iter().any(|u| f[c_link].starts_with(u)) {
            assert_eq!(o.status.code(), Some(1), "{}", f[c_file]);
            assert!(
                String::from_utf8_lossy(&o.stderr).contains("unsupported link type"),
                "{}",
                f[c_file]
            );
            continue;
        }
        assert!(
            o.status.success(),
            "{}: {}",
            f[c_file],
            String::from_utf8_lossy(&o.stderr)
        );
        let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let t = &j["totals"];
        let got = (
            t["connections"].to_string(),
            t["http_requests"].to_string(),
            t["connections_with_http"].to_string(),
        );
        let want = (
            f[c_streams].to_string(),
            f[c_reqs].to_string(),
            f[c_sreqs].to_string(),
        );
        if got == want {
            matched += 1;
        } else if !EXPECTED_DIFFERENCES.iter().any(|(n, _)| *n == f[c_file]) {
            failures.push(format!(
                "{}: tshark (streams, requests, streams with requests) {want:?}, connscope {got:?}",
                f[c_file]
            ));
        }
    }
    eprintln!("corpus: {matched} files match tshark's counts exactly");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(matched >= 60, "only {matched} files compared");
}
