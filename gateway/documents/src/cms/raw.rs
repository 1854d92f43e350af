//! Reading a SignedData's bytes as received, where decoding into types and re-encoding could
//! change them: the signed attributes a signature covers (RFC 5652 §5.4 has them hashed as
//! received, re-tagged as a SET OF), and the length of a DER value followed by padding.
//!
//! This only walks TLVs with `der`'s reader over input already decoded once by the `cms`
//! types, so it meets nothing those did not accept.

use der::{Decode as _, Encode as _, Header, Reader as _, SliceReader, Tag, TagNumber};

use super::CmsError;

/// The tag of the signed attributes inside a SignerInfo: `[0] IMPLICIT`, constructed.
const SIGNED_ATTRIBUTES_TAG: Tag = Tag::ContextSpecific {
    constructed: true,
    number: TagNumber::N0,
};

/// `der` without the zero bytes after its first TLV (a PDF's `/Contents` is padded with
/// zeros); other trailing bytes stay, for the decoder to refuse.
pub(crate) fn without_zero_padding(der: &[u8]) -> Result<&[u8], CmsError> {
    let mut reader = SliceReader::new(der).map_err(malformed)?;
    let header = Header::decode(&mut reader).map_err(malformed)?;
    let len = usize::try_from(
        (header.encoded_len().map_err(malformed)? + header.length).map_err(malformed)?,
    )
    .map_err(malformed)?;
    match der.split_at_checked(len) {
        Some((value, padding)) if padding.iter().all(|byte| *byte == 0) => Ok(value),
        _ => Ok(der),
    }
}

/// The signed attributes of the first SignerInfo of the SignedData in the ContentInfo
/// `content_info`, exactly as received but for the first byte, re-tagged from `[0]` (0xA0)
/// to SET OF (0x31): the bytes whose digest the signer signed. `None` if it has none.
pub(crate) fn signed_attributes(content_info: &[u8]) -> Result<Option<Vec<u8>>, CmsError> {
    first_signed_attributes(content_info).map_err(malformed)
}

fn first_signed_attributes(content_info: &[u8]) -> der::Result<Option<Vec<u8>>> {
    // ContentInfo ::= SEQUENCE { contentType, [0] EXPLICIT content }
    let mut content_info = enter(&mut SliceReader::new(content_info)?)?;
    content_info.tlv_bytes()?;
    let mut explicit = enter(&mut content_info)?;
    // SignedData ::= SEQUENCE { version, digestAlgorithms, encapContentInfo,
    //   [0] certificates OPTIONAL, [1] crls OPTIONAL, signerInfos }
    let mut signed_data = enter(&mut explicit)?;
    for _ in 0..3 {
        signed_data.tlv_bytes()?;
    }
    while matches!(
        signed_data.peek_tag()?,
        Tag::ContextSpecific { number, .. } if number == TagNumber::N0 || number == TagNumber::N1
    ) {
        signed_data.tlv_bytes()?;
    }
    let mut signer_infos = enter(&mut signed_data)?;
    // SignerInfo ::= SEQUENCE { version, sid, digestAlgorithm, [0] signedAttrs OPTIONAL, ... }
    let mut signer_info = enter(&mut signer_infos)?;
    for _ in 0..3 {
        signer_info.tlv_bytes()?;
    }
    if signer_info.peek_tag()? != SIGNED_ATTRIBUTES_TAG {
        return Ok(None);
    }
    let mut attributes = signer_info.tlv_bytes()?.to_vec();
    if let Some(tag) = attributes.first_mut() {
        *tag = u8::from(Tag::Set);
    }
    Ok(Some(attributes))
}

/// A reader over the value of the next TLV of `reader`.
fn enter<'a>(reader: &mut SliceReader<'a>) -> der::Result<SliceReader<'a>> {
    let header = Header::decode(reader)?;
    SliceReader::new(reader.read_slice(header.length)?)
}

fn malformed(error: der::Error) -> CmsError {
    CmsError::Malformed(error.to_string())
}
