//! Fault injection and the request log: the [`CallGate`] every CA-endpoint call passes first.
//!
//! A simulator keeps one [`CallGate`] and starts every CA-endpoint handler with
//! [`CallGate::enter`] (or [`CallGate::begin_call`] / [`CallGate::record`] and [`wait_out`]):
//! the call is recorded, secrets redacted, in a log capped at [`MAX_RECORDED_REQUESTS`]; the
//! configured delay and an armed [`Fault::Hang`] are slept; an armed [`Fault::Status`] or
//! [`Fault::Garbage`] is handed back for the simulator to answer in its CA's own envelope.
//! The one-shot switches [`CallGate::corrupt_next_signature`] and
//! [`CallGate::sign_next_with_foreign_key`] are consumed by the simulator's signing code through
//! [`CallGate::take_corrupt`] and [`CallGate::take_foreign`].
//!
//! The gate has its own lock, held only inside its methods: a simulator may call it while holding
//! its own state lock.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::Serialize;

/// By default at most this many calls are kept in the log (the oldest are dropped), so that a
/// long-running sandbox does not grow without bound.
pub const MAX_RECORDED_REQUESTS: usize = 10_000;

/// What a redacted secret is replaced with in the log.
pub const REDACTED: &str = "[REDACTED]";

/// A fault to inject into the next call of any CA endpoint (once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer with this HTTP status and the CA's error envelope, without processing the call.
    /// A status that is not a valid HTTP status code is answered as 500.
    Status(u16),
    /// Answer 200 with a non-JSON (HTML) body, without processing the call.
    Garbage,
    /// Sleep this long, then handle the call normally.
    Hang(Duration),
}

/// One call of a CA endpoint, as received: the default log record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordedRequest {
    /// The request path, e.g. `/sca/sp769/v1/signatures/sign`.
    pub path: String,
    /// The body parsed as JSON, secret fields replaced by `"[REDACTED]"`; `null` for an empty
    /// body; a JSON string holding the (lossily decoded) text if the body is not JSON.
    pub body: serde_json::Value,
}

/// Fault switches, delay and request log of one simulator. `R` is the log's record type:
/// [`RecordedRequest`] unless the simulator records more (method, query, headers...).
#[derive(Debug)]
pub struct CallGate<R = RecordedRequest> {
    secret_fields: Vec<String>,
    capacity: usize,
    state: Mutex<GateState<R>>,
}

#[derive(Debug)]
struct GateState<R> {
    requests: VecDeque<R>,
    next_fault: Option<Fault>,
    corrupt_next: bool,
    foreign_next: bool,
    delay: Duration,
}

impl<R> Default for CallGate<R> {
    fn default() -> Self {
        Self {
            secret_fields: Vec::new(),
            capacity: MAX_RECORDED_REQUESTS,
            state: Mutex::new(GateState {
                requests: VecDeque::new(),
                next_fault: None,
                corrupt_next: false,
                foreign_next: false,
                delay: Duration::ZERO,
            }),
        }
    }
}

impl<R> CallGate<R> {
    /// A gate with nothing armed, no delay, no secret fields and a log of
    /// [`MAX_RECORDED_REQUESTS`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Redacts these JSON object fields, at any depth, from recorded bodies (credentials,
    /// tokens, OTPs).
    #[must_use]
    pub fn redacting<I, S>(mut self, fields: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.secret_fields
            .extend(fields.into_iter().map(Into::into));
        self
    }

    /// Keeps at most `capacity` calls in the log.
    #[must_use]
    pub fn with_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// The field names [`CallGate::parse_body`] redacts.
    pub fn secret_fields(&self) -> &[String] {
        &self.secret_fields
    }

    fn lock(&self) -> MutexGuard<'_, GateState<R>> {
        // No code path panics while holding the lock and every mutation is a single assignment
        // or push, so a poisoned lock still holds usable state.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next CA-endpoint call suffers `fault` (once). A later call replaces a fault that has
    /// not been used yet.
    pub fn fail_next(&self, fault: Fault) {
        self.lock().next_fault = Some(fault);
    }

    /// Latency added before every CA-endpoint answer (`Duration::ZERO` = none).
    pub fn set_delay(&self, delay: Duration) {
        self.lock().delay = delay;
    }

    /// The configured latency.
    pub fn delay(&self) -> Duration {
        self.lock().delay
    }

    /// Arms the "corrupt the next signature delivered" switch.
    pub fn corrupt_next_signature(&self) {
        self.lock().corrupt_next = true;
    }

    /// Whether the corruption switch is armed, disarming it: call it where a signature is
    /// delivered, and corrupt that signature if it returns `true`.
    pub fn take_corrupt(&self) -> bool {
        std::mem::take(&mut self.lock().corrupt_next)
    }

    /// Arms the "sign the next approved transaction with a foreign key" switch.
    pub fn sign_next_with_foreign_key(&self) {
        self.lock().foreign_next = true;
    }

    /// Whether the foreign-key switch is armed, disarming it: call it where a transaction is
    /// signed, and if it returns `true` sign with a fresh key of the same kind
    /// ([`CitizenKey::generate`](crate::CitizenKey::generate)) instead of the citizen's.
    pub fn take_foreign(&self) -> bool {
        std::mem::take(&mut self.lock().foreign_next)
    }

    /// Start of a CA-endpoint call: appends `request` to the log (dropping the oldest beyond the
    /// capacity), consumes the armed fault and returns it with the configured delay.
    pub fn record(&self, request: R) -> (Option<Fault>, Duration) {
        let mut state = self.lock();
        while state.requests.len() >= self.capacity.max(1) {
            state.requests.pop_front();
        }
        state.requests.push_back(request);
        (state.next_fault.take(), state.delay)
    }

    /// A raw request body as the log keeps it: JSON with the secret fields redacted, `null` for
    /// an empty (or all-whitespace) body, a JSON string of the lossily decoded text otherwise.
    pub fn parse_body(&self, body: &[u8]) -> serde_json::Value {
        if body.iter().all(u8::is_ascii_whitespace) {
            return serde_json::Value::Null;
        }
        match serde_json::from_slice(body) {
            Ok(mut value) => {
                redact(&mut value, &self.secret_fields);
                value
            }
            Err(_) => serde_json::Value::String(String::from_utf8_lossy(body).into_owned()),
        }
    }
}

impl<R: Clone> CallGate<R> {
    /// The calls recorded so far, oldest first.
    pub fn requests(&self) -> Vec<R> {
        self.lock().requests.iter().cloned().collect()
    }
}

impl CallGate<RecordedRequest> {
    /// Start of a CA-endpoint call: records `path` and `body` (see [`CallGate::parse_body`]),
    /// consumes the armed fault and returns it with the configured delay.
    pub fn begin_call(&self, path: &str, body: &[u8]) -> (Option<Fault>, Duration) {
        let body = self.parse_body(body);
        self.record(RecordedRequest {
            path: path.to_owned(),
            body,
        })
    }

    /// [`CallGate::begin_call`], then [`wait_out`]: returns the fault the simulator must answer
    /// instead of handling the call ([`Fault::Status`] or [`Fault::Garbage`]), if any.
    pub async fn enter(&self, path: &str, body: &[u8]) -> Option<Fault> {
        let (fault, delay) = self.begin_call(path, body);
        wait_out(fault, delay).await
    }
}

/// Sleeps `delay` plus the duration of a [`Fault::Hang`], then returns the fault the simulator
/// must answer instead of handling the call: `fault` unless it was a hang.
pub async fn wait_out(fault: Option<Fault>, delay: Duration) -> Option<Fault> {
    let hang = match fault {
        Some(Fault::Hang(hang)) => hang,
        _ => Duration::ZERO,
    };
    let pause = delay.saturating_add(hang);
    if !pause.is_zero() {
        tokio::time::sleep(pause).await;
    }
    fault.filter(|fault| !matches!(fault, Fault::Hang(_)))
}

/// Replaces the value of every object field named in `fields`, at any depth, with
/// `"[REDACTED]"`.
pub fn redact<S: AsRef<str>>(value: &mut serde_json::Value, fields: &[S]) {
    match value {
        serde_json::Value::Object(object) => {
            for (name, field) in object.iter_mut() {
                if fields.iter().any(|secret| secret.as_ref() == name) {
                    *field = serde_json::Value::String(REDACTED.to_owned());
                } else {
                    redact(field, fields);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|item| redact(item, fields)),
        _ => {}
    }
}

/// Flips one byte of `signature` (the last: for DER signatures that keeps the encoding valid,
/// so verification, not parsing, is what fails).
pub fn corrupt(signature: &mut [u8]) {
    if let Some(last) = signature.last_mut() {
        *last ^= 0x5a;
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn faults_fire_once_and_are_replaced() {
        let gate = CallGate::new();
        assert_eq!(gate.begin_call("/a", b""), (None, Duration::ZERO));
        gate.fail_next(Fault::Status(503));
        gate.fail_next(Fault::Garbage);
        gate.set_delay(Duration::from_millis(7));
        assert_eq!(gate.delay(), Duration::from_millis(7));
        assert_eq!(
            gate.begin_call("/b", b"{}"),
            (Some(Fault::Garbage), Duration::from_millis(7))
        );
        assert_eq!(
            gate.begin_call("/c", b"{}"),
            (None, Duration::from_millis(7))
        );
    }

    #[test]
    fn switches_are_one_shot() {
        let gate = CallGate::<RecordedRequest>::new();
        assert!(!gate.take_corrupt() && !gate.take_foreign());
        gate.corrupt_next_signature();
        gate.sign_next_with_foreign_key();
        assert!(gate.take_corrupt());
        assert!(!gate.take_corrupt());
        assert!(gate.take_foreign());
        assert!(!gate.take_foreign());
    }

    #[test]
    fn requests_are_recorded_redacted_and_capped() {
        let gate = CallGate::new()
            .redacting(["sp_password", "token"])
            .with_capacity(3);
        gate.begin_call(
            "/1",
            br#"{"sp_id":"a","sp_password":"s","x":[{"token":"t"}]}"#,
        );
        gate.begin_call("/2", b"  ");
        gate.begin_call("/3", b"garbage");
        gate.begin_call("/4", b"{}");
        let requests = gate.requests();
        let paths: Vec<_> = requests.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(paths, ["/2", "/3", "/4"]);
        assert_eq!(requests[0].body, serde_json::Value::Null);
        assert_eq!(requests[1].body, json!("garbage"));
        assert_eq!(requests[2].body, json!({}));

        let gate = CallGate::new().redacting(["sp_password", "token"]);
        gate.begin_call(
            "/1",
            br#"{"sp_id":"a","sp_password":"s","x":[{"token":"t"}]}"#,
        );
        assert_eq!(
            gate.requests()[0].body,
            json!({"sp_id": "a", "sp_password": REDACTED, "x": [{"token": REDACTED}]})
        );
    }

    #[test]
    fn custom_records() {
        #[derive(Debug, Clone, PartialEq)]
        struct Call(&'static str, serde_json::Value);
        let gate = CallGate::<Call>::new().redacting(["password"]);
        let body = gate.parse_body(br#"{"password":"p"}"#);
        gate.record(Call("POST", body));
        assert_eq!(
            gate.requests(),
            [Call("POST", json!({"password": REDACTED}))]
        );
    }

    #[tokio::test]
    async fn enter_sleeps_delay_and_hang_and_returns_answerable_faults() {
        let gate = CallGate::new();
        gate.set_delay(Duration::from_millis(20));
        gate.fail_next(Fault::Hang(Duration::from_millis(30)));
        let started = std::time::Instant::now();
        assert_eq!(gate.enter("/a", b"{}").await, None);
        assert!(started.elapsed() >= Duration::from_millis(50));
        gate.set_delay(Duration::ZERO);
        gate.fail_next(Fault::Status(502));
        assert_eq!(gate.enter("/b", b"{}").await, Some(Fault::Status(502)));
        assert_eq!(gate.requests().len(), 2);
    }

    #[test]
    fn corrupt_flips_the_last_byte() {
        let mut signature = vec![1, 2, 3];
        corrupt(&mut signature);
        assert_eq!(signature, [1, 2, 3 ^ 0x5a]);
        corrupt(&mut []);
    }
}
