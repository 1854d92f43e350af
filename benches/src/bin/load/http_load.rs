//! Request-level load on one HTTP endpoint, applied the way wrk and wrk2 apply it: a fixed set
//! of keep-alive connections (hyper's HTTP/1.1 client connection, no pool in between), each
//! with one request in flight at a time.
//!
//! * [`closed_loop`]: every connection sends its next request as soon as the answer to the
//!   previous one is read. This finds the most an endpoint carries at a concurrency; its
//!   latencies hide queueing (a slow answer delays the next request, so fewer are measured
//!   while it is slow: coordinated omission).
//! * [`open_loop`]: the requests go out on a fixed schedule (the rate is split evenly over the
//!   connections, each following its own, as wrk2 does). A request that could not leave on
//!   time because its connection was still waiting for an answer is measured from when it
//!   should have left, so queueing shows in the percentiles. One that left on time is measured
//!   from when it actually left: the timer wakes up to a millisecond late, and that lateness is
//!   the harness's, not the endpoint's.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{HOST, HeaderName, HeaderValue};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use crate::latency::Measurement;

/// Longest a single request may take before it counts as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// One request, ready to be sent again and again.
#[derive(Debug, Clone)]
pub(crate) struct RequestTemplate {
    pub(crate) method: Method,
    /// The path and query (`/v1/certificates?...`).
    pub(crate) target: String,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    pub(crate) body: Bytes,
}

/// Where requests go, and the requests sent there in turn (one per citizen, say).
#[derive(Debug)]
pub(crate) struct Endpoint {
    pub(crate) addr: SocketAddr,
    pub(crate) requests: Vec<RequestTemplate>,
    /// The status every answer must have.
    pub(crate) expected: StatusCode,
}

impl Endpoint {
    /// Request number `n`, ready to send.
    fn request(&self, n: u64) -> Result<Request<Full<Bytes>>, String> {
        let index = usize::try_from(n).unwrap_or_default() % self.requests.len().max(1);
        let template = self
            .requests
            .get(index)
            .ok_or("an endpoint without requests")?;
        let mut builder = Request::builder()
            .method(template.method.clone())
            .uri(&template.target)
            .header(HOST, self.addr.to_string());
        for (name, value) in &template.headers {
            builder = builder.header(name, value);
        }
        builder
            .body(Full::new(template.body.clone()))
            .map_err(|error| error.to_string())
    }
}

/// One keep-alive connection; reconnects after an error.
struct Connection {
    addr: SocketAddr,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Connection {
    fn new(addr: SocketAddr) -> Self {
        Self { addr, sender: None }
    }

    async fn open(addr: SocketAddr) -> Result<SendRequest<Full<Bytes>>, String> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|error| format!("connecting to {addr}: {error}"))?;
        stream
            .set_nodelay(true)
            .map_err(|error| error.to_string())?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|error| error.to_string())?;
        tokio::spawn(async move {
            // Ends when the sender is dropped or the peer closes; errors show on the sender.
            let _ = connection.await;
        });
        Ok(sender)
    }

    /// Sends `request` and reads the whole answer, which must have status `expected`.
    async fn exchange(
        &mut self,
        request: Request<Full<Bytes>>,
        expected: StatusCode,
    ) -> Result<(), String> {
        let outcome = tokio::time::timeout(REQUEST_TIMEOUT, async {
            let sender = match &mut self.sender {
                Some(sender) if !sender.is_closed() => sender,
                _ => self.sender.insert(Self::open(self.addr).await?),
            };
            sender.ready().await.map_err(|error| error.to_string())?;
            let response = sender
                .send_request(request)
                .await
                .map_err(|error| error.to_string())?;
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|error| error.to_string())?
                .to_bytes();
            if status != expected {
                let text = String::from_utf8_lossy(&body);
                return Err(format!(
                    "HTTP {status}: {}",
                    text.chars().take(200).collect::<String>()
                ));
            }
            if body.is_empty() {
                return Err(format!("HTTP {status} with an empty body"));
            }
            Ok(())
        })
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {REQUEST_TIMEOUT:?}")));
        if outcome.is_err() {
            // The connection may be in any state: start afresh.
            self.sender = None;
        }
        outcome
    }
}

/// Closed loop: `concurrency` connections, each sending as soon as its previous answer is in,
/// for `duration` or until `max_requests` have been sent, whichever comes first.
pub(crate) async fn closed_loop(
    endpoint: &Arc<Endpoint>,
    concurrency: usize,
    duration: Duration,
    max_requests: u64,
) -> Measurement {
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let mut workers = JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (endpoint, next) = (Arc::clone(endpoint), Arc::clone(&next));
        workers.spawn(async move {
            let mut connection = Connection::new(endpoint.addr);
            let mut measurement = Measurement::default();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= max_requests || Instant::now() >= deadline {
                    break;
                }
                let sent = Instant::now();
                match endpoint.request(n) {
                    Ok(request) => match connection.exchange(request, endpoint.expected).await {
                        Ok(()) => measurement.record(sent.elapsed()),
                        Err(error) => measurement.fail(error),
                    },
                    Err(error) => measurement.fail(error),
                }
            }
            measurement.elapsed = started.elapsed();
            measurement
        });
    }
    gather(workers).await
}

/// Open loop: `rate` requests per second for `duration`, spread over `connections`
/// connections, each following its own fixed schedule (see the module's documentation for
/// when a latency counts from the intended send).
pub(crate) async fn open_loop(
    endpoint: &Arc<Endpoint>,
    rate: f64,
    connections: usize,
    duration: Duration,
) -> Measurement {
    let connections = connections.max(1);
    let total = (rate * duration.as_secs_f64()).round().max(1.0) as u64;
    let interval = Duration::from_secs_f64(1.0 / rate.max(f64::MIN_POSITIVE));
    // A little lead, so that every connection is waiting before the first send is due.
    let start = Instant::now() + Duration::from_millis(20);
    let mut workers = JoinSet::new();
    for worker in 0..connections as u64 {
        let endpoint = Arc::clone(endpoint);
        workers.spawn(async move {
            let mut connection = Connection::new(endpoint.addr);
            let mut measurement = Measurement::default();
            let mut n = worker;
            while n < total {
                let intended = start + interval.mul_f64(n as f64);
                let now = Instant::now();
                // Late already: the previous answer kept this connection past the due time.
                let queued = now > intended;
                if !queued {
                    tokio::time::sleep_until(intended.into()).await;
                }
                let sent = if queued { intended } else { Instant::now() };
                match endpoint.request(n) {
                    Ok(request) => match connection.exchange(request, endpoint.expected).await {
                        Ok(()) => measurement.record(sent.elapsed()),
                        Err(error) => measurement.fail(error),
                    },
                    Err(error) => measurement.fail(error),
                }
                n += connections as u64;
            }
            measurement.elapsed = start.elapsed();
            measurement
        });
    }
    gather(workers).await
}

/// Pools what every worker measured.
async fn gather(mut workers: JoinSet<Measurement>) -> Measurement {
    let mut total = Measurement::default();
    while let Some(joined) = workers.join_next().await {
        match joined {
            Ok(measurement) => total.absorb(&measurement),
            Err(error) => total.fail(format!("a load worker failed: {error}")),
        }
    }
    total
}
