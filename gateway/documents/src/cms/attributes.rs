//! The CMS signed attributes the citizen's CA signs the digest of, and the reading of signed
//! attributes (ours or a third party's) by attribute type.
//!
//! RFC 5652 §5.4: the signature covers the DER of the attributes as a `SET OF Attribute`
//! (tag 0x31, elements in DER order), not the `[0] IMPLICIT` form they take inside the
//! SignerInfo. [`SignedAttributes`] keeps exactly that DER, so the digest the CA signs and
//! the attributes later put in the SignerInfo are one and the same.

use std::time::Duration;

use der::asn1::{GeneralizedTime, ObjectIdentifier, OctetString, SetOfVec, UtcTime};
use der::oid::db::rfc5911::{
    ID_AA_SIGNING_CERTIFICATE_V_2, ID_CONTENT_TYPE, ID_DATA, ID_MESSAGE_DIGEST, ID_SIGNING_TIME,
};
use der::{Any, Encode as _};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use x509_cert::Certificate;
use x509_cert::attr::{Attribute, AttributeValue, Attributes};
use x509_cert::time::Time;

use super::ess::SigningCertificateV2;
use super::{CmsError, decode};

/// Which signed attributes a signature carries, besides content-type (id-data),
/// message-digest and ESS signingCertificateV2, which every profile has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttributeProfile {
    /// PAdES baseline (ETSI EN 319 142-1): no signing-time (the PDF's `/M` holds the claimed
    /// time).
    Pades,
    /// CAdES baseline (ETSI EN 319 122-1): with signing-time, the claimed time of signing
    /// (kept to whole seconds).
    Cades {
        /// The claimed time of signing.
        signing_time: OffsetDateTime,
    },
}

/// The signed attributes of one signature, as the DER `SET OF Attribute` the CA's signature
/// covers. Built by [`SignedAttributes::new`], stored between the submission and the CA's
/// answer as [`SignedAttributes::to_der`], restored by [`SignedAttributes::from_der`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedAttributes {
    attributes: Attributes,
    der: Vec<u8>,
}

impl SignedAttributes {
    /// The attributes of `profile` for content whose SHA-256 is `content_digest`, signed
    /// with the certificate `signer_certificate` (DER).
    ///
    /// # Errors
    /// [`CmsError::MalformedCertificate`], or [`CmsError::Encoding`] for a signing time
    /// before 1970.
    pub fn new(
        content_digest: &[u8; 32],
        signer_certificate: &[u8],
        profile: AttributeProfile,
    ) -> Result<Self, CmsError> {
        let certificate: Certificate = der::Decode::from_der(signer_certificate)
            .map_err(|error| CmsError::MalformedCertificate(error.to_string()))?;
        let mut attributes = vec![
            attribute(ID_CONTENT_TYPE, &ID_DATA)?,
            attribute(
                ID_MESSAGE_DIGEST,
                &OctetString::new(content_digest.to_vec())?,
            )?,
            attribute(
                ID_AA_SIGNING_CERTIFICATE_V_2,
                &SigningCertificateV2::naming(&certificate, signer_certificate)?,
            )?,
        ];
        if let AttributeProfile::Cades { signing_time } = profile {
            attributes.push(attribute(
                ID_SIGNING_TIME,
                &signing_time_value(signing_time)?,
            )?);
        }
        // `SetOfVec` sorts its elements in DER order.
        let attributes = Attributes::try_from(attributes)?;
        let der = attributes.to_der()?;
        Ok(Self { attributes, der })
    }

    /// Restores attributes kept as [`SignedAttributes::to_der`]: a DER `SET OF Attribute`
    /// with content-type id-data, a 32-byte message-digest and a signingCertificateV2.
    ///
    /// # Errors
    /// [`CmsError::Malformed`] if it is not that DER (or not in DER order),
    /// [`CmsError::Incomplete`] if an attribute is missing.
    pub fn from_der(der: &[u8]) -> Result<Self, CmsError> {
        let attributes: Attributes = decode(der, "signed attributes")?;
        if attributes.to_der()? != der {
            return Err(CmsError::Malformed(
                "signed attributes are not in DER order".to_owned(),
            ));
        }
        let restored = Self {
            attributes,
            der: der.to_vec(),
        };
        if content_type(&restored.attributes)? != Some(ID_DATA) {
            return Err(CmsError::Incomplete("content-type id-data"));
        }
        restored.content_digest()?;
        signing_certificate(&restored.attributes)?
            .ok_or(CmsError::Incomplete("signingCertificateV2"))?;
        Ok(restored)
    }

    /// The DER `SET OF Attribute` (tag 0x31): what the CA's signature covers, and what
    /// [`SignedAttributes::from_der`] restores.
    pub fn to_der(&self) -> &[u8] {
        &self.der
    }

    /// SHA-256 of [`SignedAttributes::to_der`]: the digest to send the CA for signing.
    pub fn digest_to_sign(&self) -> [u8; 32] {
        Sha256::digest(&self.der).into()
    }

    /// The message-digest attribute: the SHA-256 of the signed content.
    ///
    /// # Errors
    /// [`CmsError::Incomplete`] if it is missing or not 32 bytes long.
    pub fn content_digest(&self) -> Result<[u8; 32], CmsError> {
        message_digest(&self.attributes)?
            .and_then(|digest| <[u8; 32]>::try_from(digest.as_slice()).ok())
            .ok_or(CmsError::Incomplete("a SHA-256 message-digest"))
    }

    /// The signing-time attribute, if any (CAdES).
    ///
    /// # Errors
    /// [`CmsError::Malformed`] if it is not a Time.
    pub fn signing_time(&self) -> Result<Option<OffsetDateTime>, CmsError> {
        signing_time(&self.attributes)
    }

    /// Whether the signingCertificateV2 names `certificate`, whose DER is `der`.
    pub(crate) fn names_signer(&self, certificate: &Certificate, der: &[u8]) -> bool {
        matches!(signing_certificate(&self.attributes), Ok(Some(ess)) if ess.names(certificate, der))
    }

    /// The attributes, for the SignerInfo.
    pub(crate) fn attributes(&self) -> &Attributes {
        &self.attributes
    }
}

/// A signed attribute with one value.
fn attribute<T>(oid: ObjectIdentifier, value: &T) -> Result<Attribute, CmsError>
where
    T: der::Tagged + der::EncodeValue,
{
    Ok(Attribute {
        oid,
        values: SetOfVec::try_from(vec![AttributeValue::encode_from(value)?])?,
    })
}

/// signing-time's value: UTCTime through 2049, GeneralizedTime after (RFC 5652 §11.3).
fn signing_time_value(at: OffsetDateTime) -> Result<Time, CmsError> {
    let seconds = u64::try_from(at.unix_timestamp())
        .map_err(|_| CmsError::Encoding(format!("signing time {at} is before 1970")))?;
    let since_epoch = Duration::from_secs(seconds);
    Ok(match UtcTime::from_unix_duration(since_epoch) {
        Ok(utc) => Time::UtcTime(utc),
        Err(_) => Time::GeneralTime(GeneralizedTime::from_unix_duration(since_epoch)?),
    })
}

/// The one value of the attribute `oid`, if the attribute is present.
///
/// # Errors
/// [`CmsError::Malformed`] if the attribute appears twice or holds other than one value
/// (RFC 5652 §11 allows one of each of these).
pub(crate) fn single_value(
    attributes: &Attributes,
    oid: ObjectIdentifier,
) -> Result<Option<&Any>, CmsError> {
    let mut found = attributes.iter().filter(|attribute| attribute.oid == oid);
    let Some(attribute) = found.next() else {
        return Ok(None);
    };
    if found.next().is_some() || attribute.values.len() != 1 {
        return Err(CmsError::Malformed(format!(
            "attribute {oid} must appear once with one value"
        )));
    }
    Ok(attribute.values.iter().next())
}

/// The value of `oid` decoded as a `T`, if present.
fn decoded_value<T>(attributes: &Attributes, oid: ObjectIdentifier) -> Result<Option<T>, CmsError>
where
    T: for<'a> der::Decode<'a>,
{
    single_value(attributes, oid)?
        .map(|value| {
            T::from_der(&value.to_der()?)
                .map_err(|error| CmsError::Malformed(format!("attribute {oid}: {error}")))
        })
        .transpose()
}

/// The content-type attribute.
pub(crate) fn content_type(attributes: &Attributes) -> Result<Option<ObjectIdentifier>, CmsError> {
    decoded_value(attributes, ID_CONTENT_TYPE)
}

/// The message-digest attribute's bytes.
pub(crate) fn message_digest(attributes: &Attributes) -> Result<Option<Vec<u8>>, CmsError> {
    Ok(decoded_value::<OctetString>(attributes, ID_MESSAGE_DIGEST)?
        .map(|digest| digest.as_bytes().to_vec()))
}

/// The signing-time attribute.
pub(crate) fn signing_time(attributes: &Attributes) -> Result<Option<OffsetDateTime>, CmsError> {
    decoded_value::<Time>(attributes, ID_SIGNING_TIME)?
        .map(|time| {
            let seconds = i64::try_from(time.to_unix_duration().as_secs())
                .map_err(|_| CmsError::Malformed("signing-time out of range".to_owned()))?;
            OffsetDateTime::from_unix_timestamp(seconds)
                .map_err(|_| CmsError::Malformed("signing-time out of range".to_owned()))
        })
        .transpose()
}

/// The signingCertificateV2 attribute.
pub(crate) fn signing_certificate(
    attributes: &Attributes,
) -> Result<Option<SigningCertificateV2>, CmsError> {
    decoded_value(attributes, ID_AA_SIGNING_CERTIFICATE_V_2)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A certificate (any will do for the attributes): the sandbox's self-signed test one.
    fn certificate() -> Vec<u8> {
        crate::test_support::self_signed_certificate()
    }

    #[test]
    fn pades_attributes_are_a_sorted_der_set_without_signing_time() {
        let cert = certificate();
        let attributes =
            SignedAttributes::new(&[7; 32], &cert, AttributeProfile::Pades).expect("attributes");
        let der = attributes.to_der();
        assert_eq!(der[0], 0x31, "a SET OF, not the [0] IMPLICIT form");
        assert_eq!(
            attributes.digest_to_sign(),
            <[u8; 32]>::from(Sha256::digest(der))
        );
        assert_eq!(attributes.content_digest().expect("a digest"), [7; 32]);
        assert_eq!(attributes.signing_time().expect("readable"), None);
        let oids: Vec<_> = attributes.attributes().iter().map(|a| a.oid).collect();
        assert_eq!(oids.len(), 3);
        assert!(oids.contains(&ID_AA_SIGNING_CERTIFICATE_V_2));
        // DER order: each element's encoding sorts before the next.
        let encodings: Vec<Vec<u8>> = attributes
            .attributes()
            .iter()
            .map(|a| a.to_der().expect("encoded"))
            .collect();
        assert!(encodings.windows(2).all(|pair| pair[0] < pair[1]));

        let parsed: Certificate = der::Decode::from_der(&cert).expect("a certificate");
        assert!(attributes.names_signer(&parsed, &cert));
        let mut other = cert;
        let last = other.len() - 1;
        other[last] ^= 1;
        assert!(!attributes.names_signer(&parsed, &other));
    }

    #[test]
    fn cades_attributes_carry_the_signing_time_and_survive_a_round_trip() {
        let cert = certificate();
        let at = time::macros::datetime!(2026-03-04 05:06:07.89 UTC);
        let attributes = SignedAttributes::new(
            &[9; 32],
            &cert,
            AttributeProfile::Cades { signing_time: at },
        )
        .expect("attributes");
        assert_eq!(
            attributes.signing_time().expect("readable"),
            Some(time::macros::datetime!(2026-03-04 05:06:07 UTC))
        );
        let restored = SignedAttributes::from_der(attributes.to_der()).expect("restored");
        assert_eq!(restored, attributes);
        assert_eq!(restored.digest_to_sign(), attributes.digest_to_sign());
    }

    #[test]
    fn restoring_refuses_what_it_did_not_make() {
        assert!(matches!(
            SignedAttributes::from_der(b"\x31\x03\x02\x01"),
            Err(CmsError::Malformed(_))
        ));
        // A DER set of attributes without signingCertificateV2.
        let partial = Attributes::try_from(vec![
            attribute(ID_CONTENT_TYPE, &ID_DATA).expect("attribute"),
            attribute(
                ID_MESSAGE_DIGEST,
                &OctetString::new(vec![1; 32]).expect("ok"),
            )
            .expect("attribute"),
        ])
        .expect("a set");
        assert!(matches!(
            SignedAttributes::from_der(&partial.to_der().expect("encoded")),
            Err(CmsError::Incomplete(_))
        ));
        assert!(matches!(
            SignedAttributes::new(&[0; 32], b"not a certificate", AttributeProfile::Pades),
            Err(CmsError::MalformedCertificate(_))
        ));
    }
}
