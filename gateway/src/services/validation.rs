//! Checking a signing request in the portal's terms before anything is stored or sent: the
//! citizen id, the idempotency key, the provider's capabilities, every document.

use std::collections::HashSet;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use kyso_adapter_core::{DocumentDigest, HashAlgorithm};

use crate::domain::error::{ErrorCode, ServiceError};
use crate::domain::request::SigningRequest;
use crate::providers::Provider;

/// Longest `description` shown to the citizen.
const MAX_DESCRIPTION_CHARS: usize = 500;
/// Longest document id.
const MAX_DOCUMENT_ID_CHARS: usize = 64;
/// Longest document name.
const MAX_DOCUMENT_NAME_CHARS: usize = 255;
/// Longest `Idempotency-Key`.
const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// Whether `user_id` is a CCCD number: exactly 12 ASCII digits.
pub fn is_citizen_id(user_id: &str) -> bool {
    user_id.len() == 12 && user_id.bytes().all(|b| b.is_ascii_digit())
}

pub(crate) fn check_user_id(user_id: &str) -> Result<(), ServiceError> {
    if is_citizen_id(user_id) {
        Ok(())
    } else {
        Err(ServiceError::new(
            ErrorCode::InvalidUserId,
            "user_id must be a citizen ID number (CCCD): exactly 12 digits",
        ))
    }
}

pub(crate) fn check_idempotency_key(key: Option<&str>) -> Result<&str, ServiceError> {
    let key = key.ok_or_else(|| {
        ServiceError::new(
            ErrorCode::MissingIdempotencyKey,
            "send an Idempotency-Key header (a UUID is a good choice)",
        )
    })?;
    let valid = !key.is_empty()
        && key.len() <= MAX_IDEMPOTENCY_KEY_LEN
        && key.bytes().all(|b| (0x20..=0x7e).contains(&b));
    if valid {
        Ok(key)
    } else {
        Err(ServiceError::new(
            ErrorCode::InvalidIdempotencyKey,
            "Idempotency-Key must be 1-255 printable ASCII characters",
        ))
    }
}

/// Checks a signing request against the provider's capabilities and decodes its digests.
pub(crate) fn validate_request(
    provider: &Provider,
    request: &SigningRequest,
) -> Result<Vec<DocumentDigest>, ServiceError> {
    check_user_id(&request.user_id)?;
    let capabilities = &provider.descriptor().capabilities;
    if !capabilities
        .hash_algorithms
        .contains(&request.hash_algorithm)
    {
        return Err(ServiceError::new(
            ErrorCode::UnsupportedHashAlgorithm,
            format!(
                "provider {} does not sign {} digests",
                provider.id(),
                request.hash_algorithm
            ),
        ));
    }
    if request.documents.is_empty() {
        return Err(ServiceError::new(
            ErrorCode::InvalidRequest,
            "documents must hold at least one document",
        ));
    }
    if request.documents.len() > capabilities.max_documents {
        return Err(ServiceError::new(
            ErrorCode::BatchTooLarge,
            format!(
                "provider {} accepts at most {} documents per request",
                provider.id(),
                capabilities.max_documents
            ),
        ));
    }
    if let Some(description) = &request.description
        && description.chars().count() > MAX_DESCRIPTION_CHARS
    {
        return Err(ServiceError::new(
            ErrorCode::InvalidRequest,
            format!("description is longer than {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }
    let mut seen = HashSet::new();
    request
        .documents
        .iter()
        .enumerate()
        .map(|(index, document)| {
            let id_length = document.id.chars().count();
            if id_length == 0 || id_length > MAX_DOCUMENT_ID_CHARS {
                return Err(ServiceError::new(
                    ErrorCode::InvalidRequest,
                    format!("documents[{index}].id must be 1-{MAX_DOCUMENT_ID_CHARS} characters"),
                ));
            }
            let name_length = document.name.chars().count();
            if name_length == 0 || name_length > MAX_DOCUMENT_NAME_CHARS {
                return Err(ServiceError::new(
                    ErrorCode::InvalidRequest,
                    format!(
                        "documents[{index}].name must be 1-{MAX_DOCUMENT_NAME_CHARS} characters"
                    ),
                ));
            }
            if !seen.insert(document.id.as_str()) {
                return Err(ServiceError::new(
                    ErrorCode::DuplicateDocumentId,
                    format!("document id {:?} appears twice", document.id),
                ));
            }
            let digest = decode_digest(
                &document.digest,
                request.hash_algorithm,
                &format!("documents[{index}].digest"),
            )?;
            Ok(DocumentDigest {
                id: document.id.clone(),
                name: document.name.clone(),
                digest,
            })
        })
        .collect()
}

/// The raw digest in `text` (standard base64), which must have `algorithm`'s length;
/// `field` names it in errors.
pub(crate) fn decode_digest(
    text: &str,
    algorithm: HashAlgorithm,
    field: &str,
) -> Result<Vec<u8>, ServiceError> {
    let digest = BASE64.decode(text).map_err(|_| {
        ServiceError::new(
            ErrorCode::InvalidDigest,
            format!("{field} is not standard base64"),
        )
    })?;
    if digest.len() != algorithm.digest_len() {
        return Err(ServiceError::new(
            ErrorCode::InvalidDigest,
            format!(
                "{field} has {} bytes; a {algorithm} digest has {}",
                digest.len(),
                algorithm.digest_len()
            ),
        ));
    }
    Ok(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn citizen_id_is_twelve_digits() {
        assert!(is_citizen_id("001099000001"));
        for bad in [
            "",
            "00109900000",
            "0010990000011",
            "00109900000a",
            "００１０９９０００００１",
        ] {
            assert!(!is_citizen_id(bad), "{bad}");
        }
    }

    #[test]
    fn idempotency_key_must_be_printable_ascii() {
        assert!(check_idempotency_key(Some("a-b c")).is_ok());
        assert_eq!(
            check_idempotency_key(None).unwrap_err().code,
            ErrorCode::MissingIdempotencyKey
        );
        for bad in ["", "tab\there", "ký", &"k".repeat(256)] {
            assert_eq!(
                check_idempotency_key(Some(bad)).unwrap_err().code,
                ErrorCode::InvalidIdempotencyKey
            );
        }
    }
}
