//! PDF text strings and dates as the signature dictionary carries them.
//!
//! Names, reasons and locations are Vietnamese: they are normalised to NFC (one code point per
//! accented letter, as fonts and readers expect) and written as PDFDocEncoding when ASCII,
//! otherwise as UTF-16BE with a byte-order mark.

use lopdf::Object;
use time::OffsetDateTime;
use unicode_normalization::UnicodeNormalization;

/// `text` in NFC.
pub(crate) fn nfc(text: &str) -> String {
    text.nfc().collect()
}

/// `text` as a PDF text string (NFC; ASCII as is, anything else UTF-16BE with a BOM).
pub(crate) fn text_string(text: &str) -> Object {
    lopdf::text_string(&nfc(text))
}

/// `time` as a PDF date, `D:YYYYMMDDHHmmSS+HH'mm'`, in its own UTC offset.
pub(crate) fn pdf_date(time: OffsetDateTime) -> String {
    let offset = time.offset();
    let sign = if offset.is_negative() { '-' } else { '+' };
    format!(
        "D:{:04}{:02}{:02}{:02}{:02}{:02}{sign}{:02}'{:02}'",
        time.year(),
        u8::from(time.month()),
        time.day(),
        time.hour(),
        time.minute(),
        time.second(),
        offset.whole_hours().unsigned_abs(),
        offset.minutes_past_hour().unsigned_abs(),
    )
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn a_date_keeps_its_offset() {
        assert_eq!(
            pdf_date(datetime!(2026-12-05 10:20:30 +07:00)),
            "D:20261205102030+07'00'"
        );
        assert_eq!(
            pdf_date(datetime!(2026-01-02 03:04:05 -03:30)),
            "D:20260102030405-03'30'"
        );
    }

    #[test]
    fn ascii_stays_a_literal_and_vietnamese_becomes_utf16_with_a_bom() {
        assert_eq!(
            text_string("Ha Noi"),
            Object::String(b"Ha Noi".to_vec(), lopdf::StringFormat::Literal)
        );
        let Object::String(bytes, _) = text_string("Hà Nội") else {
            panic!("not a string");
        };
        assert_eq!(&bytes[..2], b"\xFE\xFF");
        assert_eq!(
            lopdf::decode_text_string(&text_string("Hà Nội"))
                .ok()
                .as_deref(),
            Some("Hà Nội")
        );
    }

    #[test]
    fn decomposed_input_is_composed() {
        // "Ánh" with a combining acute accent (U+0301) after the A.
        let decomposed = "A\u{301}nh";
        assert_eq!(nfc(decomposed), "\u{c1}nh");
    }
}
