//! The bundled HTTP/1.x client: hyper-util's pooling client, driven by a
//! number of workers that send their requests in lock-step rounds.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::header::{HeaderValue, CONNECTION};
use hyper::{Request, Uri, Version};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::sync::Barrier;

/// How the client behaves (resolved from a [`super::Plan`]).
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub target: Uri,
    pub requests: u64,
    pub concurrency: usize,
    pub pool_idle: usize,
    pub drain: bool,
    pub keep_alive: bool,
    pub http10: bool,
    pub think: Duration,
    /// Upper bound for one request, headers and (when drained) body.
    pub request_timeout: Duration,
}

/// What the client did.
#[derive(Debug, Default)]
pub struct ClientCounters {
    pub requests_sent: AtomicU64,
    pub responses_read: AtomicU64,
    pub bodies_read: AtomicU64,
    pub body_bytes: AtomicU64,
    pub errors: AtomicU64,
}

/// Runs every worker to the end. Request failures are counted, not returned.
pub async fn run(config: ClientConfig) -> Arc<ClientCounters> {
    let counters = Arc::new(ClientCounters::default());
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(config.pool_idle)
        .build_http();
    let workers = config.concurrency.max(1);
    let rounds = config.requests.div_ceil(workers as u64);
    let barrier = Arc::new(Barrier::new(workers));
    let mut tasks = Vec::with_capacity(workers);
    for worker in 0..workers {
        let client = client.clone();
        let config = config.clone();
        let counters = counters.clone();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            for round in 0..rounds {
                // All workers start each round together, as a burst of
                // concurrent requests; the last round may be partial.
                barrier.wait().await;
                if round * workers as u64 + (worker as u64) < config.requests {
                    one_request(&client, &config, &counters).await;
                }
                if !config.think.is_zero() {
                    tokio::time::sleep(config.think).await;
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    counters
}

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Empty<Bytes>>;

async fn one_request(client: &HttpClient, config: &ClientConfig, counters: &ClientCounters) {
    let mut builder = Request::get(config.target.clone());
    if config.http10 {
        builder = builder.version(Version::HTTP_10);
    }
    if !config.keep_alive {
        builder = builder.header(CONNECTION, HeaderValue::from_static("close"));
    }
    let request = match builder.body(Empty::new()) {
        Ok(request) => request,
        Err(_) => {
            counters.errors.fetch_add(1, Ordering::SeqCst);
            return;
        }
    };
    counters.requests_sent.fetch_add(1, Ordering::SeqCst);
    let exchange = async {
        let response = client.request(request).await.ok()?;
        counters.responses_read.fetch_add(1, Ordering::SeqCst);
        if config.drain {
            let body = response.into_body().collect().await.ok()?.to_bytes();
            counters.bodies_read.fetch_add(1, Ordering::SeqCst);
            counters
                .body_bytes
                .fetch_add(body.len() as u64, Ordering::SeqCst);
        } else {
            // The mistake on purpose: the body is dropped without being read.
            drop(response);
        }
        Some(())
    };
    match tokio::time::timeout(config.request_timeout, exchange).await {
        Ok(Some(())) => {}
        _ => {
            counters.errors.fetch_add(1, Ordering::SeqCst);
        }
    }
}
