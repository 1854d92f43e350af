//! QĐ 769 wire types, private to this crate (the simulator declares its own).
//!
//! One set of types serves both kinds: a direct 769 CA and NEAC's `sign_v2` differ only by the
//! `ca_name` routing field and the paths. Requests are rendered as the configured CA expects;
//! responses are read leniently where renderings are known to differ. Requests that carry the
//! SP credential deliberately do not implement `Debug`, so they cannot reach a log by accident.

use serde::{Deserialize, Serialize};

/// Every answer: `status_code` is HTTP-like (200 = ok); Laverca's error envelope names it
/// `code`. `data` is kept as JSON and decoded only once the status says it is a success, so
/// that an error answer with an unexpected `data` is still read as the error it is.
#[derive(Debug, Deserialize)]
pub(crate) struct Envelope {
    #[serde(alias = "code")]
    pub(crate) status_code: i64,
    #[serde(default)]
    pub(crate) message: Option<String>,
    #[serde(default)]
    pub(crate) data: Option<serde_json::Value>,
}

/// The SP credential as it travels in a body: `sp_password` or NEAC's `token`.
#[derive(Serialize)]
#[serde(untagged)]
pub(crate) enum CredentialField<'a> {
    Password { sp_password: &'a str },
    Token { token: &'a str },
}

/// `get_certificate` request body.
#[derive(Serialize)]
pub(crate) struct GetCertificateRequest<'a> {
    pub(crate) sp_id: &'a str,
    #[serde(flatten)]
    pub(crate) credential: CredentialField<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) ca_name: Option<&'a str>,
    pub(crate) user_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) serial_number: Option<&'a str>,
    pub(crate) transaction_id: &'a str,
}

/// `data` of a `get_certificate` answer: `{user_certificates: [...]}` in VNPT's rendering and
/// Laverca's documentation, a bare list in Laverca's own client; both are read.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum CertificatesData {
    Wrapped {
        #[serde(default)]
        user_certificates: Option<Vec<CertificateEntry>>,
    },
    Bare(Vec<CertificateEntry>),
}

impl CertificatesData {
    pub(crate) fn into_entries(self) -> Vec<CertificateEntry> {
        match self {
            Self::Wrapped { user_certificates } => user_certificates.unwrap_or_default(),
            Self::Bare(entries) => entries,
        }
    }
}

/// One certificate of the citizen.
#[derive(Debug, Deserialize)]
pub(crate) struct CertificateEntry {
    pub(crate) serial_number: String,
    pub(crate) cert_data: String,
    #[serde(default)]
    pub(crate) chain_data: Option<ChainData>,
    #[serde(default)]
    pub(crate) cert_status: Option<String>,
    #[serde(default)]
    pub(crate) cert_status_code: Option<String>,
}

/// VNPT's object `{ca_cert, root_cert}` or Laverca's array.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum ChainData {
    Object {
        #[serde(default)]
        ca_cert: Option<String>,
        #[serde(default)]
        root_cert: Option<String>,
    },
    Array(Vec<String>),
}

/// `sign` request body.
#[derive(Serialize)]
pub(crate) struct SignRequest<'a> {
    pub(crate) sp_id: &'a str,
    #[serde(flatten)]
    pub(crate) credential: CredentialField<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) ca_name: Option<&'a str>,
    pub(crate) user_id: &'a str,
    pub(crate) transaction_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) serial_number: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) transaction_desc: Option<&'a str>,
    pub(crate) time_stamp: String,
    pub(crate) sign_files: Vec<SignFile<'a>>,
}

/// One `sign_files[]` entry; where `file_type`/`sign_type` sit depends on the CA.
#[derive(Debug, Serialize)]
pub(crate) struct SignFile<'a> {
    pub(crate) data_to_be_signed: String,
    pub(crate) doc_id: &'a str,
    #[serde(flatten)]
    pub(crate) options: FileOptionsField<'a>,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(crate) enum FileOptionsField<'a> {
    Flat {
        file_type: &'a str,
        sign_type: &'a str,
    },
    Nested {
        file_options: FileOptions<'a>,
    },
}

#[derive(Debug, Serialize)]
pub(crate) struct FileOptions<'a> {
    pub(crate) file_type: &'a str,
    pub(crate) sign_type: &'a str,
}

/// Status request body (our choice of shape; the reference shows no generic status call).
#[derive(Serialize)]
pub(crate) struct StatusRequest<'a> {
    pub(crate) sp_id: &'a str,
    #[serde(flatten)]
    pub(crate) credential: CredentialField<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) ca_name: Option<&'a str>,
    pub(crate) transaction_id: &'a str,
}

/// `data` of a `sign` or status answer. Asynchronous sign answers carry `tran_code` and no
/// `signed_files`; synchronous ones and finished status answers carry `signed_files` (VNPT's
/// status answer calls the list `signatures`).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct TransactionData {
    #[serde(default, alias = "signatures")]
    pub(crate) signed_files: Option<Vec<SignedFile>>,
}

/// One signature, base64 of the raw signature bytes.
#[derive(Debug, Deserialize)]
pub(crate) struct SignedFile {
    #[serde(default)]
    pub(crate) doc_id: Option<String>,
    #[serde(default)]
    pub(crate) signature_value: Option<String>,
}
