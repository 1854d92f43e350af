//! Checking a signing request in the portal's terms before anything is stored or sent: the
//! citizen id, the idempotency key, the provider's capabilities, every document, and the
//! text the citizen is shown.
//!
//! **Text shown to the citizen** (the description and each document's name, and the
//! document ids, which CAs may show too) reaches the CA's app as is, so it must not be able
//! to disguise what is signed: it is refused (`invalid_text`) if it holds a control character
//! (Unicode category Cc: NUL, CR, LF, ...), a format character (Cf: the bidirectional
//! embeddings, overrides and isolates U+202A–U+202E and U+2066–U+2069, the marks U+200E,
//! U+200F and U+061C, zero-width characters, the byte-order mark, ...) or a line or
//! paragraph separator (Zl, Zp). Letters with combining diacritics, as decomposed
//! Vietnamese has, are ordinary text. Lengths count characters (Unicode scalar values), as
//! JSON Schema's `maxLength` does.

use std::collections::HashSet;
use std::sync::LazyLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use kyso_adapter_core::{DocumentDigest, HashAlgorithm};
use regex::Regex;

use crate::config::DocumentSettings;
use crate::domain::document::{DocumentFormat, DocumentOptions, SignatureLevel};
use crate::domain::error::{ErrorCode, ServiceError};
use crate::domain::request::{DocumentToSign, SigningRequest};
use crate::providers::Provider;

/// Longest `description` shown to the citizen.
const MAX_DESCRIPTION_CHARS: usize = 500;
/// Longest document id.
const MAX_DOCUMENT_ID_CHARS: usize = 64;
/// Longest document name.
const MAX_DOCUMENT_NAME_CHARS: usize = 255;
/// Most lines in a visible signature.
const MAX_VISIBLE_LINES: usize = 6;
/// Longest `Idempotency-Key`.
const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// The characters refused in text shown to the citizen (see the module doc).
static DISGUISING_CHARACTER: LazyLock<Regex> = LazyLock::new(|| {
    // A constant pattern of Unicode categories, which the regex crate always knows.
    Regex::new(r"[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]").expect("a valid pattern")
});

/// Whether `character` is refused in text shown to the citizen: a control or format
/// character, or a line or paragraph separator.
pub fn is_disguising_character(character: char) -> bool {
    DISGUISING_CHARACTER.is_match(character.encode_utf8(&mut [0; 4]))
}

/// Refuses `text` (the request's `field`) if it holds a character that could disguise
/// what the citizen is shown.
fn check_displayed_text(text: &str, field: &str) -> Result<(), ServiceError> {
    match DISGUISING_CHARACTER.find(text) {
        None => Ok(()),
        Some(found) => {
            let code_points: Vec<String> = found
                .as_str()
                .chars()
                .map(|character| format!("U+{:04X}", u32::from(character)))
                .collect();
            Err(ServiceError::new(
                ErrorCode::InvalidText,
                format!(
                    "{field} holds {}, a control or invisible formatting character that could disguise what the citizen is shown: send plain text",
                    code_points.join(" ")
                ),
            ))
        }
    }
}

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

/// A document of a valid signing request.
#[derive(Debug)]
pub(crate) enum ValidDocument {
    /// Signed as a digest, as sent.
    Digest(DocumentDigest),
    /// Signed as a file: prepared once the signer's certificate is chosen.
    File(DocumentFile),
}

/// A document sent as a file, its content still base64 (decoded off the async workers, see
/// [`DocumentFile::decode`]).
#[derive(Debug)]
pub(crate) struct DocumentFile {
    /// The portal's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Base64 of the file.
    pub content: String,
    /// How to sign it.
    pub options: DocumentOptions,
}

impl DocumentFile {
    /// The file's bytes; `field` names the document in errors.
    pub(crate) fn decode(&self, field: &str) -> Result<Vec<u8>, ServiceError> {
        decode_content(&self.content, &format!("{field}.content"))
    }
}

/// A file sent as standard base64, decoded; `field` names it in errors.
pub(crate) fn decode_content(text: &str, field: &str) -> Result<Vec<u8>, ServiceError> {
    BASE64.decode(text).map_err(|_| {
        ServiceError::new(
            ErrorCode::InvalidDocument,
            format!("{field} is not standard base64"),
        )
    })
}

/// Checks a signing request against the provider's capabilities and the document limits,
/// and decodes its digests (files stay base64 until they are prepared).
pub(crate) fn validate_request(
    provider: &Provider,
    request: &SigningRequest,
    limits: &DocumentSettings,
    time_stamping: bool,
) -> Result<Vec<ValidDocument>, ServiceError> {
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
    if let Some(description) = &request.description {
        check_displayed_text(description, "description")?;
    }
    let mut seen = HashSet::new();
    let mut total_bytes = 0usize;
    request
        .documents
        .iter()
        .enumerate()
        .map(|(index, document)| {
            let field = format!("documents[{index}]");
            let id_length = document.id.chars().count();
            if id_length == 0 || id_length > MAX_DOCUMENT_ID_CHARS {
                return Err(ServiceError::new(
                    ErrorCode::InvalidRequest,
                    format!("{field}.id must be 1-{MAX_DOCUMENT_ID_CHARS} characters"),
                ));
            }
            let name_length = document.name.chars().count();
            if name_length == 0 || name_length > MAX_DOCUMENT_NAME_CHARS {
                return Err(ServiceError::new(
                    ErrorCode::InvalidRequest,
                    format!("{field}.name must be 1-{MAX_DOCUMENT_NAME_CHARS} characters"),
                ));
            }
            check_displayed_text(&document.id, &format!("{field}.id"))?;
            check_displayed_text(&document.name, &format!("{field}.name"))?;
            if !seen.insert(document.id.as_str()) {
                return Err(ServiceError::new(
                    ErrorCode::DuplicateDocumentId,
                    format!("document id {:?} appears twice", document.id),
                ));
            }
            match (&document.digest, &document.content) {
                (Some(digest), None) => {
                    check_no_file_options(document, &field)?;
                    let digest = decode_digest(
                        digest,
                        request.hash_algorithm,
                        &format!("{field}.digest"),
                    )?;
                    Ok(ValidDocument::Digest(DocumentDigest {
                        id: document.id.clone(),
                        name: document.name.clone(),
                        digest,
                    }))
                }
                (None, Some(content)) => {
                    let size = decoded_len(content);
                    if size > limits.max_document_bytes {
                        return Err(ServiceError::new(
                            ErrorCode::DocumentTooLarge,
                            format!(
                                "{field} has {size} bytes; documents.max_document_bytes is {}",
                                limits.max_document_bytes
                            ),
                        ));
                    }
                    total_bytes += size;
                    if total_bytes > limits.max_transaction_bytes {
                        return Err(ServiceError::new(
                            ErrorCode::TransactionTooLarge,
                            format!(
                                "the documents have more than {} bytes together (documents.max_transaction_bytes)",
                                limits.max_transaction_bytes
                            ),
                        ));
                    }
                    let options = file_options(request, document, &field, time_stamping)?;
                    Ok(ValidDocument::File(DocumentFile {
                        id: document.id.clone(),
                        name: document.name.clone(),
                        content: content.clone(),
                        options,
                    }))
                }
                _ => Err(ServiceError::new(
                    ErrorCode::InvalidRequest,
                    format!("{field} must have either a digest or a content, not both"),
                )),
            }
        })
        .collect()
}

/// The byte length base64 `text` decodes to (if it is base64 at all).
fn decoded_len(text: &str) -> usize {
    let padding = text.bytes().rev().take_while(|&byte| byte == b'=').count();
    (text.len() / 4 * 3 + (text.len() % 4) * 3 / 4).saturating_sub(padding.min(2))
}

/// Refuses the options of a file on a document sent as a digest.
fn check_no_file_options(document: &DocumentToSign, field: &str) -> Result<(), ServiceError> {
    let named = [
        ("format", document.format.is_some()),
        ("level", document.level.is_some()),
        (
            "allow_level_fallback",
            document.allow_level_fallback.is_some(),
        ),
        ("retention", document.retention.is_some()),
        ("visible_signature", document.visible_signature.is_some()),
    ];
    match named.iter().find(|(_, present)| *present) {
        Some((option, _)) => Err(ServiceError::new(
            ErrorCode::InvalidRequest,
            format!("{field}.{option} applies to a document sent as content, not as a digest"),
        )),
        None => Ok(()),
    }
}

/// How to sign a document sent as a file, checked.
fn file_options(
    request: &SigningRequest,
    document: &DocumentToSign,
    field: &str,
    time_stamping: bool,
) -> Result<DocumentOptions, ServiceError> {
    if request.hash_algorithm != HashAlgorithm::Sha256 {
        return Err(ServiceError::new(
            ErrorCode::UnsupportedHashAlgorithm,
            format!(
                "{field} is sent as content, which is signed with SHA-256: set hash_algorithm to sha256"
            ),
        ));
    }
    let format = document.format.ok_or_else(|| {
        ServiceError::new(
            ErrorCode::InvalidRequest,
            format!("{field}.format is required with content: pades (a PDF) or cades (any file)"),
        )
    })?;
    let level = document.level.unwrap_or(SignatureLevel::Basic);
    let allow_level_fallback = document.allow_level_fallback.unwrap_or(false);
    if level.needs_time_stamp() && !time_stamping && !allow_level_fallback {
        return Err(ServiceError::new(
            ErrorCode::LevelUnavailable,
            format!(
                "{field} asks for {}, which needs a time-stamping authority, and none is configured: ask for B-B or allow_level_fallback",
                level.as_str()
            ),
        ));
    }
    if level == SignatureLevel::LongTerm && format != DocumentFormat::Pades {
        return Err(ServiceError::new(
            ErrorCode::LevelUnavailable,
            format!("{field}: B-LT is made for PAdES only; ask cades documents for B-B or B-T"),
        ));
    }
    if let Some(visible) = &document.visible_signature {
        if format != DocumentFormat::Pades {
            return Err(ServiceError::new(
                ErrorCode::InvalidDocument,
                format!("{field}.visible_signature applies to pades documents only"),
            ));
        }
        if visible.page == 0 {
            return Err(ServiceError::new(
                ErrorCode::InvalidRequest,
                format!("{field}.visible_signature.page counts from 1"),
            ));
        }
        for (index, line) in visible.lines.iter().flatten().enumerate() {
            let line_field = format!("{field}.visible_signature.lines[{index}]");
            if line.chars().count() > MAX_DOCUMENT_NAME_CHARS {
                return Err(ServiceError::new(
                    ErrorCode::InvalidRequest,
                    format!("{line_field} is longer than {MAX_DOCUMENT_NAME_CHARS} characters"),
                ));
            }
            check_displayed_text(line, &line_field)?;
        }
        if visible
            .lines
            .as_ref()
            .is_some_and(|lines| lines.len() > MAX_VISIBLE_LINES)
        {
            return Err(ServiceError::new(
                ErrorCode::InvalidRequest,
                format!("{field}.visible_signature has more than {MAX_VISIBLE_LINES} lines"),
            ));
        }
    }
    Ok(DocumentOptions {
        format,
        level,
        allow_level_fallback,
        retention: document.retention.unwrap_or_default(),
        visible_signature: document.visible_signature.clone(),
    })
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
    fn displayed_text_refuses_controls_and_invisible_formatting() {
        for (text, named) in [
            ("invoice\u{202E}fdp.exe", "U+202E"),
            ("a\0b", "U+0000"),
            ("line\r\nbreak", "U+000D"),
            ("tab\there", "U+0009"),
            ("\u{2066}isolate", "U+2066"),
            ("mark\u{200F}", "U+200F"),
            ("arabic\u{061C}mark", "U+061C"),
            ("zero\u{200B}width", "U+200B"),
            ("\u{FEFF}bom", "U+FEFF"),
            ("para\u{2029}graph", "U+2029"),
            ("c1\u{0085}control", "U+0085"),
            ("tag\u{E0041}", "U+E0041"),
        ] {
            let error = check_displayed_text(text, "documents[0].name").unwrap_err();
            assert_eq!(error.code, ErrorCode::InvalidText, "{text:?}");
            assert!(
                error.message.contains("documents[0].name") && error.message.contains(named),
                "{}",
                error.message
            );
        }
    }

    #[test]
    fn displayed_text_accepts_vietnamese_in_either_normal_form() {
        for text in [
            "Đơn đề nghị cấp giấy phép xây dựng.pdf",
            // The same text decomposed: letters followed by combining marks (category Mn).
            "Đơn đe\u{0302}\u{0300} nghi\u{0323} ca\u{0302}\u{0301}p",
            "Ký hồ sơ số HS-2025/000123 (bản sao)",
            "Spaces\u{00A0}and\u{3000}wide spaces",
        ] {
            assert!(
                check_displayed_text(text, "description").is_ok(),
                "{text:?}"
            );
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
