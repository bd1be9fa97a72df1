//! The diagnosis names each generator scenario's cause, and only it, on the
//! fixtures the generator made (fixtures/gen-*.pcap, see fixtures/README.md),
//! and the known cause of the hand-made fixtures.

mod common;
use common::*;

fn reuse_causes(fixture: &str) -> Vec<String> {
    let f = fixtures().join(fixture);
    let o = connscope(&["read", "-q", "--format", "json", f.to_str().unwrap()]);
    assert!(o.status.success());
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let side = [
        "time-wait",
        "refused",
        "syn-retries",
        "payload-cut",
        "capped",
    ];
    j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["cause"].as_str().unwrap().to_string())
        .filter(|c| !side.contains(&c.as_str()))
        .collect()
}

#[test]
fn each_generator_scenario_gets_its_cause_and_only_it() {
    for (fixture, cause) in [
        ("gen-no-drain.pcap", "body-not-read"),
        ("gen-drain.pcap", "healthy-reuse"),
        ("gen-pool-small.pcap", "pool-churn"),
        ("gen-pool-large.pcap", "healthy-reuse"),
        ("gen-client-close.pcap", "client-connection-close"),
        ("gen-server-limit.pcap", "keep-alive-limit"),
        ("gen-http10.pcap", "http10"),
        // Hand-made fixtures whose cause the traffic script fixed.
        ("conn-close-server.pcap", "server-connection-close"),
        ("conn-close-client.pcap", "client-connection-close"),
        ("http10.pcap", "http10"),
    ] {
        assert_eq!(reuse_causes(fixture), vec![cause.to_string()], "{fixture}");
    }
}

#[test]
fn time_wait_finding_names_the_holder_the_kernel_saw() {
    let f = fixtures().join("gen-client-close.pcap");
    let o = connscope(&["read", "-q", "--format", "json", f.to_str().unwrap()]);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let tw = j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["cause"] == "time-wait")
        .unwrap();
    // gen-client-close.ss: the kernel listed the server's port as the TIME-WAIT holder.
    let ss = std::fs::read_to_string(fixtures().join("gen-client-close.ss")).unwrap();
    assert!(
        ss.lines().skip(1).all(|l| l
            .split_whitespace()
            .nth(2)
            .is_some_and(|a| a.ends_with(":28105"))),
        "{ss}"
    );
    assert!(tw["detail"]
        .as_str()
        .unwrap()
        .contains("the server side closed first"));
}
