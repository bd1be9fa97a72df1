//! The traffic generator's ground truth: for every scenario, the server's
//! connection count and the TIME-WAIT sockets the kernel shows afterwards.
//! Loopback only, ephemeral ports, each run well under a second.

use std::time::Duration;

mod common;
use common::free_port;

use clap::Parser;
use connscope::gen::{self, GenArgs, GenReport, Plan, Scenario};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    gen: GenArgs,
}

fn args(argv: &[&str]) -> GenArgs {
    Cli::try_parse_from(std::iter::once("gen").chain(argv.iter().copied()))
        .expect("arguments parse")
        .gen
}

fn run(scenario: Scenario) -> GenReport {
    let plan = scenario.plan();
    let report = gen::run_plan(&plan, 0).expect("scenario runs");
    assert_eq!(report.scenario, Some(scenario));
    assert_eq!(report.errors, 0, "{scenario}: {report:?}");
    assert_eq!(report.requests_sent, plan.requests, "{scenario}");
    assert_eq!(report.responses_read, plan.requests, "{scenario}");
    assert_eq!(report.server_requests, Some(plan.requests), "{scenario}");
    assert_ne!(report.port, 0);
    report
}

fn connections(report: &GenReport) -> u64 {
    report.server_connections.expect("our own server counts")
}

#[test]
fn no_drain_opens_one_connection_per_request_and_resets_them() {
    let r = run(Scenario::NoDrain);
    assert_eq!(connections(&r), 10);
    assert_eq!(r.bodies_read, 0);
    // The client closes each socket with the unread body still in its receive
    // buffer, so the kernel sends RST instead of FIN: nobody holds TIME-WAIT.
    assert_eq!((r.time_wait_client, r.time_wait_server), (0, 0), "{r:?}");
}

#[test]
fn drain_reuses_one_connection() {
    let r = run(Scenario::Drain);
    assert_eq!(connections(&r), 1);
    assert_eq!(r.bodies_read, 10);
    // The idle connection is closed when the client (its pool) goes away.
    assert_eq!((r.time_wait_client, r.time_wait_server), (1, 0), "{r:?}");
}

#[test]
fn pool_small_churns_more_connections_than_workers() {
    let r = run(Scenario::PoolSmall);
    let c = connections(&r);
    assert!(
        c > 10,
        "pool-small should churn: {c} connections for 10 workers"
    );
    // Every connection is closed by the client: the surplus after each burst
    // because the idle pool is full, the last 2 at exit.
    assert_eq!((r.time_wait_client, r.time_wait_server), (c, 0), "{r:?}");
}

#[test]
fn pool_large_keeps_one_connection_per_worker() {
    let r = run(Scenario::PoolLarge);
    let c = connections(&r);
    assert!(
        (1..=10).contains(&c),
        "pool-large: {c} connections for 10 workers"
    );
    assert_eq!((r.time_wait_client, r.time_wait_server), (c, 0), "{r:?}");
}

#[test]
fn client_close_opens_one_connection_per_request_closed_by_the_server() {
    let r = run(Scenario::ClientClose);
    assert_eq!(connections(&r), 10);
    // The client asks, but the server acts: hyper's server closes right after
    // writing the response, before the client gets to, so TIME-WAIT is server side.
    assert_eq!((r.time_wait_client, r.time_wait_server), (0, 10), "{r:?}");
}

#[test]
fn server_limit_opens_ceil_requests_over_limit() {
    let r = run(Scenario::ServerLimit);
    assert_eq!(connections(&r), 10_u64.div_ceil(3));
    // 3 connections reach the limit and are closed by the server; the 4th
    // carried only 1 request and is closed by the client at exit.
    assert_eq!((r.time_wait_client, r.time_wait_server), (1, 3), "{r:?}");
}

#[test]
fn server_limit_knob_with_other_numbers() {
    let plan = Plan::from_args(&args(&[
        "--scenario",
        "server-limit",
        "--server-max-requests",
        "4",
        "--requests",
        "12",
    ]))
    .unwrap();
    let r = gen::run_plan(&plan, 0).unwrap();
    assert_eq!(r.server_connections, Some(3));
    assert_eq!((r.time_wait_client, r.time_wait_server), (0, 3), "{r:?}");
}

#[test]
fn http10_opens_one_connection_per_request_closed_by_the_server() {
    let r = run(Scenario::Http10);
    assert_eq!(connections(&r), 10);
    assert_eq!((r.time_wait_client, r.time_wait_server), (0, 10), "{r:?}");
}

#[test]
fn plain_knobs_reach_the_same_behaviour() {
    // --close without a scenario behaves like client-close.
    let plan = Plan::from_args(&args(&["--close", "-n", "5"])).unwrap();
    assert_eq!(plan.scenario, None);
    let r = gen::run_plan(&plan, 0).unwrap();
    assert_eq!(r.server_connections, Some(5));
    assert!(
        r.explanation.contains("Connection: close"),
        "{}",
        r.explanation
    );
}

#[test]
fn overrides_apply_on_top_of_a_scenario() {
    let plan = Plan::from_args(&args(&[
        "--scenario",
        "no-drain",
        "--drain",
        "--response-bytes",
        "10",
        "--think-ms",
        "0",
    ]))
    .unwrap();
    assert!(plan.drain);
    assert_eq!(plan.response_bytes, 10);
    assert_eq!(plan.think, Duration::ZERO);
    // The last of a --drain/--no-drain pair wins.
    let plan = Plan::from_args(&args(&["--drain", "--no-drain"])).unwrap();
    assert!(!plan.drain);
    let plan = Plan::from_args(&args(&["--scenario", "pool-small"])).unwrap();
    assert_eq!(
        (plan.requests, plan.concurrency, plan.pool_idle),
        (100, 10, 2)
    );
    let plan = Plan::from_args(&args(&["--scenario", "pool-large", "-c", "4"])).unwrap();
    assert_eq!((plan.concurrency, plan.pool_idle), (4, 4));
    let plan = Plan::from_args(&args(&[])).unwrap();
    assert_eq!((plan.requests, plan.concurrency), (10, 1));
    assert!(plan.drain && plan.keep_alive && !plan.http10);
    assert_eq!(args(&[]).port, 8080);
}

#[test]
fn scenario_names_and_explanations() {
    let names: Vec<_> = Scenario::all().iter().map(|s| s.name()).collect();
    assert_eq!(
        names,
        [
            "no-drain",
            "drain",
            "pool-small",
            "pool-large",
            "client-close",
            "server-limit",
            "http10"
        ]
    );
    for s in Scenario::all() {
        assert_eq!(args(&["--scenario", s.name()]).scenario, Some(*s));
        assert!(!s.explain().is_empty() && !s.explain().contains('\n'));
    }
}

#[test]
fn run_prints_a_summary() {
    let mut out = Vec::new();
    let report = gen::run(&args(&["--scenario", "drain", "--port", "0"]), &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("scenario drain: "), "{text}");
    assert!(
        text.contains("10 requests sent, 10 responses read"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "127.0.0.1:{} accepted 1 TCP connection and served 10 requests",
            report.port
        )),
        "{text}"
    );
    assert!(
        text.contains("TIME-WAIT left by this run: 1 client side, 0 server side"),
        "{text}"
    );
}

#[test]
fn target_runs_only_the_client_and_refuses_non_loopback() {
    for bad in [
        "http://192.0.2.1:8080/",
        "http://example.com/",
        "https://127.0.0.1/",
        "not a url",
    ] {
        let err = gen::run(&args(&["--target", bad]), &mut Vec::new()).unwrap_err();
        assert!(format!("{err:#}").contains("--target"), "{bad}: {err:#}");
    }
    for good in [
        "http://127.0.0.1:1/x",
        "http://localhost:1",
        "http://[::1]:1/",
    ] {
        gen::loopback_target(good).unwrap();
    }

    // A server from one in-process run, a client-only run against it.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime
        .block_on(gen::Server::start(gen::ServerConfig {
            port: 0,
            response_bytes: 100,
            max_requests_per_conn: None,
        }))
        .unwrap();
    let url = format!("http://127.0.0.1:{}/", server.addr.port());
    let mut out = Vec::new();
    let report = gen::run(&args(&["--target", &url, "-n", "5"]), &mut out).unwrap();
    assert_eq!(report.server_connections, None);
    assert_eq!((report.requests_sent, report.bodies_read), (5, 5));
    assert_eq!(server.connections(), 1);
    assert_eq!(server.requests(), 5);
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("server: not ours"), "{text}");
}

#[test]
fn run_plan_works_from_inside_a_runtime() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let report = runtime.block_on(async { gen::run_plan(&Scenario::Drain.plan(), 0) });
    assert_eq!(report.unwrap().server_connections, Some(1));
}

#[test]
fn time_wait_counts_reads_the_kernel_table() {
    let r = gen::run_plan(&Scenario::Http10.plan(), free_port()).unwrap();
    let (client, server) = gen::time_wait_counts(r.port);
    // A port no socket used before: everything in TIME-WAIT there is from this run.
    assert_eq!((client, server), (0, 10));
}
