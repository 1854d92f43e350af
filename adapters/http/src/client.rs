//! [`CaHttp`]: the HTTP client every adapter speaks to its CA with.
//!
//! One call is built with [`CaHttp::post`] or [`CaHttp::get`], given a body and headers on the
//! [`CaRequest`], and sent; the answer is a [`CaResponse`] (status, media type and body)
//! whatever the status, so each adapter keeps its own reading of the CA's statuses. What is the same for
//! every CA lives here:
//!
//! - **Timeouts.** A connect timeout, and a request timeout bounding the whole call, reading
//!   the answer included. [`CaRequest::within`] narrows a call to an operation's deadline when
//!   one adapter operation makes several calls.
//! - **No redirects.** A CA answering 3xx gets that status back to the adapter; the gateway
//!   never sends credentials to a host the configuration does not name.
//! - **A hard cap on answers.** The body is read chunk by chunk and the call fails with
//!   [`AdapterError::UpstreamProtocol`] as soon as it passes
//!   [`HttpSettings::max_response_bytes`] (or announces a larger `Content-Length`): a hostile
//!   or broken CA cannot make the gateway buffer more.
//! - **Transport failures**, mapped once:
//!   - a request sent and not answered in time: [`AdapterError::Timeout`] with the request
//!     timeout. The gateway reads it as "outcome unknown" (the CA may have acted), so it is
//!     kept for exactly that case;
//!   - no connection (refused, DNS, connect timeout) or no time left to send:
//!     [`AdapterError::Unavailable`] (the request never left);
//!   - a broken or undecodable answer: [`AdapterError::UpstreamProtocol`];
//!   - a request that cannot be built (a header value with line breaks, ...):
//!     [`AdapterError::Internal`];
//!   - any other failure on the way (connection reset, ...): [`AdapterError::Unavailable`].
//!
//! - **One connection pool per thread.** A pooled connection is driven by a task on the
//!   runtime that opened it; used from another thread (actix-web runs one runtime per
//!   worker thread), every call would wake that other thread and back. Each thread therefore
//!   gets its own client, made the same way, on first use, so a worker's calls to a CA stay
//!   on the worker (measured in `benches/README.md`).
//!
//! Error messages never carry the URL (it may name a citizen), a header or a body: credentials
//! cannot leak through them. Secret headers are marked sensitive, so they stay out of `Debug`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kyso_adapter_core::{AdapterError, SettingsError};
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderName, HeaderValue};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The default cap on one answer's body: 4 MiB. A CA's answers are small JSON documents (a few
/// certificates, a batch of signatures); 4 MiB leaves room for long chains and large batches
/// while keeping a hostile answer from costing more than that per call.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// The HTTP limits of one provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpSettings {
    /// How long establishing a connection (TCP and TLS) may take.
    pub connect_timeout: Duration,
    /// How long one whole call may take, from connecting to the answer's last byte.
    pub request_timeout: Duration,
    /// The most bytes an answer's body may have ([`DEFAULT_MAX_RESPONSE_BYTES`] by default).
    pub max_response_bytes: usize,
}

impl HttpSettings {
    /// Settings with these timeouts and the default answer cap.
    pub fn new(connect_timeout: Duration, request_timeout: Duration) -> Self {
        Self {
            connect_timeout,
            request_timeout,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
}

/// The HTTP client of one provider: cheap to clone (clones share connections).
#[derive(Debug, Clone)]
pub struct CaHttp {
    /// Names this client's per-thread copies.
    id: u64,
    /// The client made at construction: the copy of the thread that made it, and the one
    /// used should another thread fail to make its own.
    client: reqwest::Client,
    settings: HttpSettings,
}

/// Hands out [`CaHttp`] ids.
static NEXT_CLIENT_ID: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's copy of each [`CaHttp`] it has used, by id.
    static THREAD_CLIENTS: RefCell<HashMap<u64, reqwest::Client>> = RefCell::new(HashMap::new());
}

/// A client with `settings`' timeouts that never follows redirects.
fn build_client(settings: HttpSettings) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .connect_timeout(settings.connect_timeout)
        .timeout(settings.request_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
}

impl CaHttp {
    /// A client with these limits, that never follows redirects.
    ///
    /// # Errors
    /// A [`SettingsError`] naming `timeouts` for a zero timeout, `max_response_bytes` for a
    /// zero cap, or `http` when the TLS backend cannot be set up.
    pub fn new(settings: HttpSettings) -> Result<Self, SettingsError> {
        if settings.connect_timeout.is_zero() || settings.request_timeout.is_zero() {
            return Err(SettingsError::new("timeouts", "must be longer than zero"));
        }
        if settings.max_response_bytes == 0 {
            return Err(SettingsError::new(
                "max_response_bytes",
                "must be more than zero",
            ));
        }
        let client = build_client(settings).map_err(|error| {
            SettingsError::new("http", format!("the HTTP client cannot start: {error}"))
        })?;
        Ok(Self {
            id: NEXT_CLIENT_ID.fetch_add(1, Ordering::Relaxed),
            client,
            settings,
        })
    }

    /// This thread's copy of the client, made on its first call here.
    fn thread_client(&self) -> reqwest::Client {
        THREAD_CLIENTS.with(|clients| {
            clients
                .borrow_mut()
                .entry(self.id)
                .or_insert_with(|| {
                    build_client(self.settings).unwrap_or_else(|_| self.client.clone())
                })
                .clone()
        })
    }

    /// How long one whole call may take.
    pub fn request_timeout(&self) -> Duration {
        self.settings.request_timeout
    }

    /// The most bytes an answer's body may have.
    pub fn max_response_bytes(&self) -> usize {
        self.settings.max_response_bytes
    }

    /// A `POST` to `url`; give it a body with [`CaRequest::json`], [`CaRequest::form`] or
    /// [`CaRequest::body`].
    pub fn post(&self, url: impl reqwest::IntoUrl) -> CaRequest {
        self.request(self.thread_client().post(url))
    }

    /// A `GET` of `url`.
    pub fn get(&self, url: impl reqwest::IntoUrl) -> CaRequest {
        self.request(self.thread_client().get(url))
    }

    fn request(&self, builder: reqwest::RequestBuilder) -> CaRequest {
        CaRequest {
            http: self.clone(),
            builder,
            deadline: None,
            refused: None,
        }
    }

    /// The one mapping of transport failures (see the module documentation).
    fn transport_error(&self, error: reqwest::Error) -> AdapterError {
        let error = error.without_url();
        if error.is_connect() {
            // Checked before the timeout: a connect timeout is also a timeout, but the request
            // never left, so its outcome is known.
            AdapterError::Unavailable(format!("cannot connect to the CA: {error}"))
        } else if error.is_timeout() {
            AdapterError::Timeout(self.settings.request_timeout)
        } else if error.is_builder() {
            AdapterError::Internal(format!("the request to the CA cannot be built: {error}"))
        } else if error.is_body() || error.is_decode() {
            AdapterError::UpstreamProtocol(format!("the CA's answer is unreadable: {error}"))
        } else {
            AdapterError::Unavailable(format!("the request to the CA failed: {error}"))
        }
    }
}

/// One call being built; nothing is sent before [`CaRequest::send`].
#[must_use = "a request does nothing until it is sent"]
#[derive(Debug)]
pub struct CaRequest {
    http: CaHttp,
    builder: reqwest::RequestBuilder,
    /// The end of the adapter operation this call belongs to, if narrower than the timeout.
    deadline: Option<Instant>,
    /// Why the request cannot be sent, found while building it.
    refused: Option<AdapterError>,
}

impl CaRequest {
    /// A JSON body (`Content-Type: application/json`).
    pub fn json<B: Serialize + ?Sized>(self, body: &B) -> Self {
        match serde_json::to_vec(body) {
            Ok(bytes) => self.body("application/json", bytes),
            Err(error) => self.refuse(AdapterError::Internal(format!(
                "the request body cannot be encoded: {error}"
            ))),
        }
    }

    /// An `application/x-www-form-urlencoded` body of these fields, in order.
    pub fn form(self, fields: &[(&str, &str)]) -> Self {
        let encoded = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        self.body("application/x-www-form-urlencoded", encoded.into_bytes())
    }

    /// These exact body bytes, as `content_type` (for CAs that sign the body they receive).
    pub fn body(mut self, content_type: &'static str, bytes: Vec<u8>) -> Self {
        self.builder = self.builder.header(CONTENT_TYPE, content_type).body(bytes);
        self
    }

    /// One more header. A name or value HTTP cannot carry makes [`CaRequest::send`] fail with
    /// [`AdapterError::Internal`].
    pub fn header(self, name: &'static str, value: &str) -> Self {
        self.add_header(name, value, false)
    }

    /// One more header holding a secret (a key, a token): marked sensitive, so that it never
    /// appears in `Debug` output; an unusable value is reported without repeating it.
    pub fn secret_header(self, name: &'static str, value: &str) -> Self {
        self.add_header(name, value, true)
    }

    /// `Authorization: Bearer <token>`, marked sensitive.
    pub fn bearer_auth(mut self, token: &str) -> Self {
        self.builder = self.builder.bearer_auth(token);
        self
    }

    /// `Authorization: Basic ...` with these credentials, marked sensitive.
    pub fn basic_auth(mut self, user: &str, password: &str) -> Self {
        self.builder = self.builder.basic_auth(user, Some(password));
        self
    }

    /// Ends the call by `deadline` too, when one adapter operation shares its time between
    /// several calls. The call still never takes longer than the request timeout.
    pub fn within(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Sends the request and reads the answer, whatever its status.
    ///
    /// # Errors
    /// A transport failure, mapped as the module documentation says, or
    /// [`AdapterError::UpstreamProtocol`] for an answer larger than the cap.
    pub async fn send(self) -> Result<CaResponse, AdapterError> {
        if let Some(refused) = self.refused {
            return Err(refused);
        }
        let http = self.http;
        let mut limit = http.settings.request_timeout;
        if let Some(deadline) = self.deadline {
            limit = limit.min(deadline.saturating_duration_since(Instant::now()));
            if limit.is_zero() {
                // Nothing was sent, so the outcome is known: this is not a Timeout.
                return Err(AdapterError::Unavailable(
                    "no time left to call the CA within the operation's timeout".into(),
                ));
            }
        }
        let mut response = self
            .builder
            .timeout(limit)
            .send()
            .await
            .map_err(|error| http.transport_error(error))?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let cap = http.settings.max_response_bytes;
        let too_large = || {
            AdapterError::UpstreamProtocol(format!(
                "the CA's answer (HTTP {status}) is larger than {cap} bytes"
            ))
        };
        let announced = response
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        if announced.is_some_and(|length| length > u64::try_from(cap).unwrap_or(u64::MAX)) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|error| http.transport_error(error))?
        {
            if body.len() + chunk.len() > cap {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(CaResponse {
            status,
            content_type,
            body,
        })
    }

    fn add_header(mut self, name: &'static str, value: &str, secret: bool) -> Self {
        let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
            return self.refuse(AdapterError::Internal(format!(
                "{name:?} is not an HTTP header name"
            )));
        };
        match HeaderValue::from_str(value) {
            Ok(mut value) => {
                value.set_sensitive(secret);
                self.builder = self.builder.header(name, value);
                self
            }
            Err(_) => self.refuse(AdapterError::Internal(format!(
                "the {name} header has characters HTTP cannot carry"
            ))),
        }
    }

    fn refuse(mut self, error: AdapterError) -> Self {
        self.refused.get_or_insert(error);
        self
    }
}

/// A CA's answer: its HTTP status, its media type and its whole body (at most the cap).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaResponse {
    /// The HTTP status.
    pub status: u16,
    /// The `Content-Type` header as sent, parameters included; `None` without one (or with
    /// one that is not visible ASCII).
    pub content_type: Option<String>,
    /// The body bytes.
    pub body: Vec<u8>,
}

impl CaResponse {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body decoded as `T`.
    ///
    /// # Errors
    /// [`AdapterError::UpstreamProtocol`] naming `what` (the call, for logs) and where the body
    /// stopped making sense. serde's own message is left out, as it may quote values (tokens).
    pub fn json<T: DeserializeOwned>(&self, what: &str) -> Result<T, AdapterError> {
        serde_json::from_slice(&self.body).map_err(|error| {
            let kind = match error.classify() {
                serde_json::error::Category::Io => "unreadable",
                serde_json::error::Category::Syntax => "not JSON",
                serde_json::error::Category::Data => "JSON of another shape",
                serde_json::error::Category::Eof => "cut short",
            };
            AdapterError::UpstreamProtocol(format!(
                "{what}: the answer (HTTP {}) is {kind} (line {}, column {})",
                self.status,
                error.line(),
                error.column()
            ))
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failure should abort loudly
mod tests {
    use std::io::{BufRead, BufReader, Write};
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    const CAP: usize = 64;

    fn http(request_timeout: Duration) -> CaHttp {
        CaHttp::new(HttpSettings {
            connect_timeout: Duration::from_secs(2),
            request_timeout,
            max_response_bytes: CAP,
        })
        .unwrap()
    }

    /// A one-thread HTTP server on 127.0.0.1:0 that reads each request's head, waits `delay`,
    /// then writes `answer(path)` and closes. Counts the requests it saw.
    struct Server {
        addr: SocketAddr,
        requests: Arc<AtomicUsize>,
    }

    impl Server {
        fn start(delay: Duration, answer: impl Fn(&str) -> Vec<u8> + Send + 'static) -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let requests = Arc::new(AtomicUsize::new(0));
            let seen = Arc::clone(&requests);
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    let Ok(mut stream) = stream else { return };
                    let path = read_request_path(&stream);
                    seen.fetch_add(1, Ordering::SeqCst);
                    std::thread::sleep(delay);
                    let _ = stream.write_all(&answer(&path));
                }
            });
            Self { addr, requests }
        }

        fn url(&self, path: &str) -> String {
            format!("http://{}{path}", self.addr)
        }
    }

    /// Reads a request's head (and the body its Content-Length announces); its path.
    fn read_request_path(stream: &TcpStream) -> String {
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let path = line.split(' ').nth(1).unwrap_or_default().to_owned();
        let mut length = 0;
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).unwrap();
            if header.trim().is_empty() {
                break;
            }
            if let Some(value) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                length = value.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        std::io::Read::read_exact(&mut reader, &mut body).unwrap();
        path
    }

    fn with_length(body: &[u8]) -> Vec<u8> {
        let mut answer = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        answer.extend_from_slice(body);
        answer
    }

    /// The body in chunks of 16 bytes, with no Content-Length: only streaming can see its size.
    fn chunked(body: &[u8]) -> Vec<u8> {
        let mut answer =
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n".to_vec();
        for chunk in body.chunks(16) {
            answer.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            answer.extend_from_slice(chunk);
            answer.extend_from_slice(b"\r\n");
        }
        answer.extend_from_slice(b"0\r\n\r\n");
        answer
    }

    fn is_too_large(error: &AdapterError) -> bool {
        matches!(error, AdapterError::UpstreamProtocol(message) if message.contains("larger than"))
    }

    #[tokio::test]
    async fn a_body_exactly_at_the_cap_is_read_whole() {
        let frames = [
            (
                with_length as fn(&[u8]) -> Vec<u8>,
                Some("application/json"),
            ),
            (chunked, None),
        ];
        for (frame, content_type) in frames {
            let body = vec![b'a'; CAP];
            let answer = frame(&body);
            let server = Server::start(Duration::ZERO, move |_| answer.clone());
            let response = http(Duration::from_secs(5))
                .post(server.url("/x"))
                .json(&serde_json::json!({"a": 1}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status, 200);
            assert_eq!(response.body, body);
            assert_eq!(response.content_type.as_deref(), content_type);
        }
    }

    #[tokio::test]
    async fn a_body_one_byte_over_the_cap_fails() {
        for frame in [with_length, chunked] {
            let answer = frame(&[b'a'; CAP + 1]);
            let server = Server::start(Duration::ZERO, move |_| answer.clone());
            let error = http(Duration::from_secs(5))
                .get(server.url("/x"))
                .send()
                .await
                .unwrap_err();
            assert!(is_too_large(&error), "{error}");
        }
    }

    #[tokio::test]
    async fn an_unanswered_request_is_a_timeout_with_the_request_timeout() {
        let server = Server::start(Duration::from_secs(3), |_| with_length(b"{}"));
        let timeout = Duration::from_millis(300);
        let started = Instant::now();
        let error = http(timeout)
            .post(server.url("/slow"))
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap_err();
        assert!(
            matches!(error, AdapterError::Timeout(t) if t == timeout),
            "{error}"
        );
        assert!(error.outcome_unknown());
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn a_deadline_narrower_than_the_timeout_bounds_the_call() {
        let server = Server::start(Duration::from_secs(3), |_| with_length(b"{}"));
        let started = Instant::now();
        let error = http(Duration::from_secs(10))
            .get(server.url("/slow"))
            .within(Instant::now() + Duration::from_millis(300))
            .send()
            .await
            .unwrap_err();
        assert!(matches!(error, AdapterError::Timeout(_)), "{error}");
        assert!(started.elapsed() < Duration::from_secs(2));
        let spent = http(Duration::from_secs(10))
            .get(server.url("/never-sent"))
            .within(Instant::now())
            .send()
            .await
            .unwrap_err();
        assert!(matches!(spent, AdapterError::Unavailable(_)), "{spent}");
    }

    #[tokio::test]
    async fn a_refused_connection_is_unavailable() {
        let addr = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        // The listener is dropped: nothing listens on the port any more.
        let error = http(Duration::from_secs(5))
            .get(format!("http://{addr}/x"))
            .send()
            .await
            .unwrap_err();
        assert!(matches!(error, AdapterError::Unavailable(_)), "{error}");
        assert!(!error.outcome_unknown());
    }

    #[tokio::test]
    async fn a_redirect_is_returned_not_followed() {
        let server = Server::start(Duration::ZERO, |path| {
            if path == "/start" {
                b"HTTP/1.1 302 Found\r\nlocation: /elsewhere\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_vec()
            } else {
                with_length(b"{\"followed\": true}")
            }
        });
        let response = http(Duration::from_secs(5))
            .post(server.url("/start"))
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status, 302);
        assert!(response.body.is_empty());
        assert_eq!(
            server.requests.load(Ordering::SeqCst),
            1,
            "no second request"
        );
    }

    #[tokio::test]
    async fn an_unusable_header_fails_without_sending_or_quoting_it() {
        let server = Server::start(Duration::ZERO, |_| with_length(b"{}"));
        let error = http(Duration::from_secs(5))
            .get(server.url("/x"))
            .secret_header("x-clientkey", "secret\r\nvalue")
            .send()
            .await
            .unwrap_err();
        assert!(matches!(error, AdapterError::Internal(_)), "{error}");
        assert!(!error.to_string().contains("secret"), "{error}");
        assert_eq!(server.requests.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn json_errors_name_the_call_and_never_quote_the_body() {
        let response = CaResponse {
            status: 200,
            content_type: Some("application/json".to_owned()),
            body: br#"{"access_token": 12, "token": "hunter2"}"#.to_vec(),
        };
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Token {
            access_token: String,
        }
        let error = response.json::<Token>("auth/login").unwrap_err();
        let message = error.to_string();
        assert!(matches!(error, AdapterError::UpstreamProtocol(_)));
        assert!(message.contains("auth/login"), "{message}");
        assert!(
            !message.contains("hunter2") && !message.contains("12"),
            "{message}"
        );
        let garbage = CaResponse {
            status: 200,
            content_type: Some("text/html".to_owned()),
            body: b"<html>".to_vec(),
        };
        assert!(
            garbage
                .json::<serde_json::Value>("x")
                .unwrap_err()
                .to_string()
                .contains("not JSON")
        );
    }

    #[test]
    fn zero_limits_are_refused_by_name() {
        let zero = HttpSettings::new(Duration::ZERO, Duration::from_secs(1));
        assert_eq!(CaHttp::new(zero).unwrap_err().field, "timeouts");
        let mut no_body = HttpSettings::new(Duration::from_secs(1), Duration::from_secs(1));
        no_body.max_response_bytes = 0;
        assert_eq!(
            CaHttp::new(no_body).unwrap_err().field,
            "max_response_bytes"
        );
    }
}
