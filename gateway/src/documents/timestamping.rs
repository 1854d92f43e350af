//! The client of the configured time-stamping authority (TSA): the RFC 3161 time-stamp over
//! a signature that makes a B-T signature of it.
//!
//! [`TimeStamper::stamp`] POSTs a request for the signature value
//! ([`TimeStampRequest::for_signature`]) to the TSA's URL as `application/timestamp-query`,
//! reads the answer through the same bounded client as CA calls ([`CaHttp`]: one timeout for
//! connecting and for the whole call, no redirects, at most [`MAX_REPLY_BYTES`]), and hands
//! it to [`TimeStampRequest::check_response`] with the configured trust anchors. A token
//! comes back only if the TSA granted it over this signature with this nonce, signed it, and
//! chains to the anchors as a TSA.
//!
//! What goes wrong falls in two groups, which the gateway answers differently
//! ([`TimeStampingError::is_unavailable`]):
//! - the TSA gave no usable answer: unreachable, too slow, an HTTP error status, an answer
//!   too large to be a time-stamp reply or of another media type. Trying again later may
//!   work (`timestamp_unavailable`);
//! - the TSA answered, and its answer is refused: not a time-stamp response, a rejection, a
//!   token over another imprint or nonce, a bad signature, a TSA the anchors do not vouch for
//!   (`timestamp_invalid`).
//!
//! Each request is counted in `kyso_tsa_requests_total{outcome}` (`ok`, `unavailable`,
//! `invalid`) and timed in `kyso_tsa_request_duration_seconds`. Failures are logged with the
//! TSA's URL (which the settings keep free of credentials) and the error; the request and
//! token bytes never are.

use std::time::{Duration, Instant};

use kyso_adapter_core::AdapterError;
use kyso_adapter_http::{CaHttp, HttpSettings, parse_base_url};
use kyso_documents::timestamp::{
    QUERY_CONTENT_TYPE, REPLY_CONTENT_TYPE, TimeStampError, TimeStampRequest, TimeStampToken,
};

use crate::config::{ConfigError, TimeStampingSettings};
use crate::metrics::Metrics;
use crate::verify::TrustAnchors;

/// The largest answer read from the TSA: 256 KiB. A time-stamp reply is a token of a few
/// kilobytes (the TSTInfo, one signature, the TSA's certificate and perhaps its chain), so
/// anything near this is not one.
pub const MAX_REPLY_BYTES: usize = 256 * 1024;

/// The reply's media type as one sentence of RFC 3161 §3.4 names it (an erratum corrects it
/// to [`REPLY_CONTENT_TYPE`], the type the RFC registers); TSAs written from that sentence
/// send it.
const ALTERNATIVE_REPLY_CONTENT_TYPE: &str = "application/timestamp-response";

/// Where the settings sit, for error messages.
const SECTION: &str = "documents.time_stamping";

/// Why no time-stamp token came back from the TSA.
#[derive(Debug, thiserror::Error)]
pub enum TimeStampingError {
    /// The request could not be encoded (should not happen); nothing was sent to the TSA.
    #[error("the time-stamp request cannot be made: {0}")]
    Request(TimeStampError),
    /// No connection to the TSA, or the request failed on the way.
    #[error("the time-stamping authority cannot be reached: {0}")]
    Unreachable(String),
    /// The TSA did not answer within the configured timeout.
    #[error("the time-stamping authority did not answer within {0:?}")]
    TimedOut(Duration),
    /// The TSA answered an HTTP status other than 2xx.
    #[error("the time-stamping authority answered HTTP {0}")]
    HttpStatus(u16),
    /// The answer's body could not be read whole: larger than [`MAX_REPLY_BYTES`], or cut
    /// short.
    #[error("the time-stamping authority's answer cannot be read: {0}")]
    UnreadableReply(String),
    /// The answer is not of a time-stamp reply's media type (an error page of a proxy in
    /// front of the TSA, say); the media type sent, if any.
    #[error("the time-stamping authority answered {}, not a time-stamp reply", .0.as_deref().unwrap_or("without a Content-Type"))]
    NotAReply(Option<String>),
    /// The TSA answered a time-stamp reply that the checks refuse.
    #[error("the time-stamping authority's answer is refused: {0}")]
    Refused(TimeStampError),
}

impl TimeStampingError {
    /// Whether the TSA gave no usable answer (`timestamp_unavailable`: it may work later), as
    /// opposed to an answer the checks refused (`timestamp_invalid`). [`Self::Request`] is
    /// neither: the gateway's own failure.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Unreachable(_)
            | Self::TimedOut(_)
            | Self::HttpStatus(_)
            | Self::UnreadableReply(_)
            | Self::NotAReply(_) => true,
            Self::Request(_) | Self::Refused(_) => false,
        }
    }

    /// The transport failures of [`CaHttp`], in this error's terms.
    fn from_transport(error: AdapterError) -> Self {
        match error {
            AdapterError::Timeout(timeout) => Self::TimedOut(timeout),
            AdapterError::UpstreamProtocol(message) => Self::UnreadableReply(message),
            AdapterError::Unavailable(message) | AdapterError::Internal(message) => {
                Self::Unreachable(message)
            }
            other => Self::Unreachable(other.to_string()),
        }
    }
}

/// The gateway's client of its TSA: the URL, the HTTP client and the anchors its tokens must
/// chain to.
pub struct TimeStamper {
    url: String,
    http: CaHttp,
    anchors: TrustAnchors,
    metrics: Metrics,
}

impl std::fmt::Debug for TimeStamper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimeStamper")
            .field("url", &self.url)
            .field("timeout", &self.http.request_timeout())
            .finish_non_exhaustive()
    }
}

impl TimeStamper {
    /// The client `settings` describe: an absolute http(s) URL without credentials, query or
    /// fragment; exactly one of `trust_anchors_pem` and `trust_anchors_pem_file`, holding at
    /// least one certificate; a positive `timeout_ms`, for connecting and for the whole call.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the setting at fault.
    pub fn from_settings(
        settings: &TimeStampingSettings,
        metrics: Metrics,
    ) -> Result<Self, ConfigError> {
        parse_base_url("url", &settings.url).map_err(|error| {
            ConfigError::invalid(format!("{SECTION}.{}", error.field), error.message)
        })?;
        if settings.timeout_ms == 0 {
            return Err(ConfigError::invalid(
                format!("{SECTION}.timeout_ms"),
                "must be positive",
            ));
        }
        let anchors = TrustAnchors::from_pem(&settings.trust_anchors_pem()?)
            .map_err(|error| ConfigError::invalid(format!("{SECTION}.trust_anchors"), error))?;
        let timeout = Duration::from_millis(settings.timeout_ms);
        let http = CaHttp::new(HttpSettings {
            connect_timeout: timeout,
            request_timeout: timeout,
            max_response_bytes: MAX_REPLY_BYTES,
        })
        .map_err(|error| ConfigError::invalid(SECTION, error.message))?;
        Ok(Self {
            url: settings.url.trim().to_owned(),
            http,
            anchors,
            metrics,
        })
    }

    /// The anchors the TSA's certificate must chain to, for checking the time-stamps of
    /// signed documents too.
    pub fn anchors(&self) -> &TrustAnchors {
        &self.anchors
    }

    /// A checked time-stamp token over `signature_value` (a SignerInfo's signature), from the
    /// TSA.
    ///
    /// # Errors
    /// A [`TimeStampingError`]; [`TimeStampingError::is_unavailable`] tells its group.
    pub async fn stamp(&self, signature_value: &[u8]) -> Result<TimeStampToken, TimeStampingError> {
        let request =
            TimeStampRequest::for_signature(signature_value).map_err(TimeStampingError::Request)?;
        let started = Instant::now();
        let stamped = self.ask(&request).await;
        let outcome = match &stamped {
            Ok(_) => "ok",
            Err(error) if error.is_unavailable() => "unavailable",
            Err(_) => "invalid",
        };
        self.metrics.observe_tsa(outcome, started.elapsed());
        if let Err(error) = &stamped {
            tracing::warn!(url = %self.url, %error, "the time-stamping authority gave no token");
        }
        stamped
    }

    /// Sends `request` and checks the answer.
    async fn ask(&self, request: &TimeStampRequest) -> Result<TimeStampToken, TimeStampingError> {
        let response = self
            .http
            .post(self.url.as_str())
            .body(QUERY_CONTENT_TYPE, request.to_der().to_vec())
            .send()
            .await
            .map_err(TimeStampingError::from_transport)?;
        if !response.is_success() {
            return Err(TimeStampingError::HttpStatus(response.status));
        }
        if !is_reply_content_type(response.content_type.as_deref()) {
            return Err(TimeStampingError::NotAReply(response.content_type));
        }
        request
            .check_response(&response.body, &self.anchors)
            .map_err(TimeStampingError::Refused)
    }
}

/// Whether `content_type` is a time-stamp reply's: `application/timestamp-reply` (RFC 3161
/// §3.4), or the `application/timestamp-response` some TSAs send instead; parameters and
/// case aside.
///
/// The check is strict otherwise, a missing Content-Type included: Java's own client
/// (`jarsigner -tsa`) refuses an answer without the RFC's type, so the TSAs people rely on
/// send a type, and what else arrives with a 200 is an error page of something in front of
/// the TSA: the TSA not answering, rather than the TSA answering wrongly.
fn is_reply_content_type(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|value| value.parse::<mime::Mime>().ok())
        .is_some_and(|media_type| {
            let essence = media_type.essence_str();
            essence == REPLY_CONTENT_TYPE || essence == ALTERNATIVE_REPLY_CONTENT_TYPE
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Settings for `url` whose anchors hold no certificate: everything else is checked first.
    /// (A TSA that builds is the end-to-end tests' business, with a simulated TSA's root.)
    fn settings(url: &str) -> TimeStampingSettings {
        TimeStampingSettings {
            url: url.to_owned(),
            trust_anchors_pem: Some(String::new()),
            trust_anchors_pem_file: None,
            timeout_ms: 1000,
        }
    }

    fn refusal(settings: &TimeStampingSettings) -> String {
        TimeStamper::from_settings(settings, Metrics::new().expect("metrics"))
            .expect_err("refused")
            .to_string()
    }

    #[test]
    fn refuses_urls_it_cannot_or_must_not_use() {
        for url in [
            "",
            "tsa.example.vn/tsr",
            "ftp://tsa.example.vn/tsr",
            "https://user:hunter2@tsa.example.vn/tsr",
            "https://tsa.example.vn/tsr?profile=1",
        ] {
            let message = refusal(&settings(url));
            assert!(
                message.contains("documents.time_stamping.url"),
                "{url}: {message}"
            );
            assert!(!message.contains("hunter2"), "{message}");
        }
        // A good URL gets as far as the anchors.
        for url in ["http://127.0.0.1:8089/tsa", " https://tsa.example.vn/ "] {
            let message = refusal(&settings(url));
            assert!(
                message.contains("documents.time_stamping.trust_anchors"),
                "{url}: {message}"
            );
        }
    }

    #[test]
    fn refuses_a_zero_timeout() {
        let zero = TimeStampingSettings {
            timeout_ms: 0,
            ..settings("https://tsa.example.vn/tsr")
        };
        assert!(refusal(&zero).contains("documents.time_stamping.timeout_ms"));
    }

    #[test]
    fn refuses_missing_doubled_unreadable_or_empty_anchors() {
        let url = "https://tsa.example.vn/tsr";
        let refused = |pem: Option<&str>, file: Option<&str>| {
            refusal(&TimeStampingSettings {
                trust_anchors_pem: pem.map(str::to_owned),
                trust_anchors_pem_file: file.map(Into::into),
                ..settings(url)
            })
        };
        let neither = refused(None, None);
        assert!(
            neither.contains("documents.time_stamping.trust_anchors_pem")
                && neither.contains("exactly one"),
            "{neither}"
        );
        let both = refused(Some(""), Some("/nonexistent/root.pem"));
        assert!(both.contains("at most one"), "{both}");
        let unreadable = refused(None, Some("/nonexistent/root.pem"));
        assert!(
            unreadable.contains("documents.time_stamping.trust_anchors_pem_file"),
            "{unreadable}"
        );
        for pem in [
            "",
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        ] {
            let empty = refused(Some(pem), None);
            assert!(
                empty.contains("documents.time_stamping.trust_anchors:"),
                "{empty}"
            );
        }
    }

    #[test]
    fn takes_the_reply_media_types_only() {
        for accepted in [
            "application/timestamp-reply",
            "Application/TimeStamp-Reply",
            "application/timestamp-reply; charset=binary",
            "application/timestamp-response",
        ] {
            assert!(is_reply_content_type(Some(accepted)), "{accepted}");
        }
        for refused in [
            "text/html; charset=utf-8",
            "application/octet-stream",
            "application/timestamp-query",
            "application/timestamp-reply-ish",
            "",
        ] {
            assert!(!is_reply_content_type(Some(refused)), "{refused}");
        }
        assert!(!is_reply_content_type(None));
    }

    #[test]
    fn errors_fall_in_their_group() {
        let unavailable = [
            TimeStampingError::Unreachable("connection refused".to_owned()),
            TimeStampingError::TimedOut(Duration::from_secs(1)),
            TimeStampingError::HttpStatus(503),
            TimeStampingError::UnreadableReply("too large".to_owned()),
            TimeStampingError::NotAReply(None),
        ];
        assert!(unavailable.iter().all(TimeStampingError::is_unavailable));
        for other in [
            TimeStampingError::Refused(TimeStampError::WrongNonce),
            TimeStampingError::Request(TimeStampError::Encoding("x".to_owned())),
        ] {
            assert!(!other.is_unavailable(), "{other}");
        }
        assert!(
            TimeStampingError::NotAReply(Some("text/html".to_owned()))
                .to_string()
                .contains("text/html")
        );
    }
}
