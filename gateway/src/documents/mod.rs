//! Signed documents, as the gateway makes them: a portal sends a PDF or any file, the CA
//! signs the digest of the CMS signed attributes through the normal transaction flow, and
//! the gateway hands back a PAdES-signed PDF or a detached CAdES `.p7s`.
//!
//! The formats themselves (signature dictionary, ByteRange, SignedData, RFC 3161 tokens)
//! are `kyso-documents`'; this module carries them through the gateway: settings, the
//! time-stamping authority's client, and where prepared and signed documents live.
//!
//! - [`inspection`]: every signature of a signed PDF or `.p7s`, with its structural checks:
//!   what `POST /v1/verifications` judges and what the gateway checks before it returns a
//!   signed document.

pub mod assembly;
pub mod inspection;
pub mod preparation;
pub mod timestamping;

use crate::config::{ConfigError, DocumentSettings};
use crate::metrics::Metrics;
use timestamping::TimeStamper;

/// What the gateway needs to sign documents: the limits, and the time-stamping authority
/// when one is configured.
pub struct Documents {
    /// Size limits and the TSA's settings.
    pub settings: DocumentSettings,
    /// The TSA's client; `None` when no TSA is configured (B-B only).
    pub time_stamper: Option<TimeStamper>,
}

impl Documents {
    /// The documents' settings, with a client of the time-stamping authority if one is
    /// configured.
    ///
    /// # Errors
    /// [`ConfigError`] when the TSA's settings are unusable.
    pub fn from_settings(
        settings: &DocumentSettings,
        metrics: &Metrics,
    ) -> Result<Self, ConfigError> {
        let time_stamper = settings
            .time_stamping
            .as_ref()
            .map(|tsa| TimeStamper::from_settings(tsa, metrics.clone()))
            .transpose()?;
        Ok(Self {
            settings: settings.clone(),
            time_stamper,
        })
    }
}
