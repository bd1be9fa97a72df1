//! The bundled HTTP/1.x server: hyper's `http1` connection driver behind our
//! own accept loop, so every accepted TCP connection is counted.

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONNECTION};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpSocket;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Listen backlog: large enough that a burst of connects is never refused.
const BACKLOG: u32 = 1024;

/// What the server has seen so far.
#[derive(Debug, Default)]
pub struct ServerCounters {
    /// TCP connections accepted.
    pub connections: AtomicU64,
    /// HTTP requests served (responses handed to hyper).
    pub requests: AtomicU64,
    /// Connections that ended with an I/O or protocol error (for example a
    /// reset by the client) rather than a clean close.
    pub connection_errors: AtomicU64,
    /// Connections whose hyper task has not finished yet.
    pub open: AtomicU64,
}

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Port on 127.0.0.1; 0 picks an ephemeral port.
    pub port: u16,
    /// Size of every response body.
    pub response_bytes: usize,
    /// Answer the Nth request of a connection with `Connection: close`.
    pub max_requests_per_conn: Option<u64>,
}

/// A running server; dropping it without [`Server::shutdown`] leaves the
/// accept loop running until the runtime ends.
pub struct Server {
    pub addr: SocketAddr,
    pub counters: Arc<ServerCounters>,
    stop: watch::Sender<bool>,
    accept_task: JoinHandle<()>,
}

impl Server {
    /// Binds 127.0.0.1:`port` (with SO_REUSEADDR, so a port whose old
    /// connections sit in TIME-WAIT can be reused) and starts accepting.
    pub async fn start(config: ServerConfig) -> anyhow::Result<Server> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, config.port));
        let socket = TcpSocket::new_v4().context("creating the server socket")?;
        socket.set_reuseaddr(true)?;
        socket
            .bind(addr)
            .with_context(|| format!("binding {addr} (is another server on that port?)"))?;
        let listener = socket.listen(BACKLOG).context("listening")?;
        let addr = listener.local_addr()?;
        let counters = Arc::new(ServerCounters::default());
        let body = Bytes::from(vec![b'x'; config.response_bytes]);
        let (stop, mut stopped) = watch::channel(false);
        let accept_counters = counters.clone();
        let limit = config.max_requests_per_conn;
        let accept_task = tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    accepted = listener.accept() => accepted,
                    _ = stopped.changed() => break,
                };
                let stream = match accepted {
                    Ok((stream, _peer)) => stream,
                    // EMFILE and friends: back off briefly instead of spinning.
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                accept_counters.connections.fetch_add(1, Ordering::SeqCst);
                accept_counters.open.fetch_add(1, Ordering::SeqCst);
                let conn_counters = accept_counters.clone();
                let body = body.clone();
                tokio::spawn(async move {
                    let on_this_conn = Arc::new(AtomicU64::new(0));
                    let service_counters = conn_counters.clone();
                    let service = service_fn(move |_req: Request<Incoming>| {
                        let nth = on_this_conn.fetch_add(1, Ordering::SeqCst) + 1;
                        service_counters.requests.fetch_add(1, Ordering::SeqCst);
                        let mut response = Response::new(Full::new(body.clone()));
                        if limit.is_some_and(|n| nth >= n) {
                            // hyper closes the connection after writing a
                            // response that carries `Connection: close`.
                            response
                                .headers_mut()
                                .insert(CONNECTION, HeaderValue::from_static("close"));
                        }
                        async move { Ok::<_, Infallible>(response) }
                    });
                    // Errors here are client resets and the like: part of the show.
                    if http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await
                        .is_err()
                    {
                        conn_counters
                            .connection_errors
                            .fetch_add(1, Ordering::SeqCst);
                    }
                    conn_counters.open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Ok(Server {
            addr,
            counters,
            stop,
            accept_task,
        })
    }

    pub fn connections(&self) -> u64 {
        self.counters.connections.load(Ordering::SeqCst)
    }

    pub fn requests(&self) -> u64 {
        self.counters.requests.load(Ordering::SeqCst)
    }

    /// Waits (up to `grace`) for every accepted connection to end, then stops
    /// accepting and closes the listener.
    pub async fn shutdown(self, grace: Duration) {
        let deadline = tokio::time::Instant::now() + grace;
        while self.counters.open.load(Ordering::SeqCst) > 0
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let _ = self.stop.send(true);
        let _ = self.accept_task.await;
    }
}
