//! VNPT sp769 wire types, private to this adapter (the simulator declares its own).
//! Requests that carry the SP password deliberately do not implement `Debug`, so they cannot
//! reach a log by accident.

use serde::{Deserialize, Serialize};

/// Every sp769 answer: `status_code` mirrors the HTTP status.
#[derive(Debug, Deserialize)]
pub(crate) struct Envelope<T> {
    pub(crate) status_code: u16,
    #[serde(default)]
    pub(crate) message: String,
    pub(crate) data: Option<T>,
}

#[derive(Serialize)]
pub(crate) struct GetCertificateRequest<'a> {
    pub(crate) sp_id: &'a str,
    pub(crate) sp_password: &'a str,
    pub(crate) user_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) serial_number: Option<&'a str>,
    pub(crate) transaction_id: &'a str,
}

#[derive(Debug, Deserialize)]
pub(crate) struct CertificatesData {
    #[serde(default)]
    pub(crate) user_certificates: Vec<CertificateEntry>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct CertificateEntry {
    pub(crate) serial_number: String,
    pub(crate) cert_data: String,
    pub(crate) chain_data: Option<ChainData>,
    pub(crate) cert_status: Option<String>,
    pub(crate) cert_status_code: Option<String>,
}

/// VNPT sends `{ca_cert, root_cert}`; other 769 renderings send an array.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum ChainData {
    Object {
        ca_cert: Option<String>,
        root_cert: Option<String>,
    },
    List(Vec<String>),
}

impl ChainData {
    /// Base64 certificates, nearest issuer first.
    pub(crate) fn into_base64_list(self) -> Vec<String> {
        match self {
            Self::Object { ca_cert, root_cert } => ca_cert.into_iter().chain(root_cert).collect(),
            Self::List(list) => list,
        }
        .into_iter()
        .filter(|cert| !cert.is_empty())
        .collect()
    }
}

#[derive(Serialize)]
pub(crate) struct SignRequest<'a> {
    pub(crate) sp_id: &'a str,
    pub(crate) sp_password: &'a str,
    pub(crate) user_id: &'a str,
    pub(crate) transaction_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) serial_number: Option<&'a str>,
    pub(crate) transaction_desc: &'a str,
    pub(crate) time_stamp: String,
    pub(crate) sign_files: Vec<SignFile<'a>>,
}

#[derive(Debug, Serialize)]
pub(crate) struct SignFile<'a> {
    pub(crate) data_to_be_signed: String,
    pub(crate) doc_id: &'a str,
    pub(crate) file_type: &'a str,
    pub(crate) sign_type: &'a str,
}

#[derive(Debug, Deserialize)]
pub(crate) struct SignData {
    pub(crate) transaction_id: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct StatusData {
    pub(crate) signatures: Option<Vec<SignatureEntry>>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct SignatureEntry {
    pub(crate) doc_id: String,
    pub(crate) signature_value: Option<String>,
}
