//! Distinguished names compared as RFC 5280 §7.1 says: RDN by RDN, attribute types by OID,
//! string values after the RFC 4518 preparation that matters in practice (whitespace
//! trimmed and runs of it folded to one space, case folded), whatever the string type
//! (PrintableString, UTF8String, BMPString, ...); other values byte for byte.

use x509_parser::prelude::{AttributeTypeAndValue, RelativeDistinguishedName, X509Name};

/// Whether `a` and `b` name the same entity.
pub(crate) fn names_equal(a: &X509Name<'_>, b: &X509Name<'_>) -> bool {
    if a.as_raw() == b.as_raw() {
        return true;
    }
    let (mut left, mut right) = (a.iter(), b.iter());
    loop {
        match (left.next(), right.next()) {
            (None, None) => return true,
            (Some(x), Some(y)) if rdns_equal(x, y) => {}
            _ => return false,
        }
    }
}

/// RDNs are sets: same size, and every attribute of one matches one of the other.
fn rdns_equal(a: &RelativeDistinguishedName<'_>, b: &RelativeDistinguishedName<'_>) -> bool {
    a.iter().count() == b.iter().count()
        && a.iter().all(|x| b.iter().any(|y| attributes_equal(x, y)))
}

fn attributes_equal(a: &AttributeTypeAndValue<'_>, b: &AttributeTypeAndValue<'_>) -> bool {
    if a.attr_type() != b.attr_type() {
        return false;
    }
    match (prepared(a), prepared(b)) {
        (Some(x), Some(y)) => x == y,
        (None, None) => {
            a.attr_value().tag() == b.attr_value().tag() && a.as_slice() == b.as_slice()
        }
        _ => false,
    }
}

/// The value as a prepared string, if it is a string type we can decode.
fn prepared(attribute: &AttributeTypeAndValue<'_>) -> Option<String> {
    let text = match attribute.as_str() {
        Ok(text) => text.to_owned(),
        Err(_) if attribute.attr_value().tag() == x509_parser::asn1_rs::Tag::BmpString => {
            let units: Vec<u16> = attribute
                .as_slice()
                .chunks(2)
                .map(|pair| match pair {
                    [high, low] => u16::from_be_bytes([*high, *low]),
                    _ => u16::MAX,
                })
                .collect();
            String::from_utf16(&units).ok()?
        }
        Err(_) => return None,
    };
    Some(
        text.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase(),
    )
}
