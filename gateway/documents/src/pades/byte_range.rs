//! The `/ByteRange` of a PDF signature: which bytes the signature covers, its fixed-width
//! placeholder, and the digest of the covered bytes.
//!
//! A signature covers `bytes[0..a] ‖ bytes[b..b+c]` for `/ByteRange [0 a b c]`; the gap
//! `a..b` is exactly the `/Contents` hex string holding the CMS. The offsets are only known
//! once the file is written, so the dictionary is written with a placeholder of fixed width
//! that is patched in place, padded with spaces, so that no offset moves.

use sha2::{Digest, Sha256};

/// The placeholder number, as wide as the widest offset it may be replaced by (ten digits:
/// files up to 10 GB).
pub(crate) const PLACEHOLDER_NUMBER: i64 = 9_999_999_999;

/// The bytes a PDF signature covers: `[0, a)` and `[b, b + c)` of `/ByteRange [0 a b c]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ByteRange {
    /// Where the `/Contents` hex string starts (its `<`): the length of the first range.
    pub contents_start: usize,
    /// Just after the `/Contents` hex string's `>`: where the second range starts.
    pub contents_end: usize,
    /// The length of the second range.
    pub tail_len: usize,
}

impl ByteRange {
    /// The four numbers of `/ByteRange`.
    pub fn values(&self) -> [usize; 4] {
        [0, self.contents_start, self.contents_end, self.tail_len]
    }

    /// One past the last covered byte: the length of the revision the signature covers.
    pub fn end(&self) -> usize {
        self.contents_end.saturating_add(self.tail_len)
    }

    /// The two covered slices of `file`; bytes outside `file` are treated as absent, so
    /// `file` must be the file this range was checked against.
    pub fn covered<'a>(&self, file: &'a [u8]) -> [&'a [u8]; 2] {
        [
            file.get(..self.contents_start).unwrap_or_default(),
            file.get(self.contents_end..self.end()).unwrap_or_default(),
        ]
    }

    /// SHA-256 over the covered bytes of `file`: what a CMS's message-digest carries.
    pub fn digest(&self, file: &[u8]) -> [u8; 32] {
        let mut hasher = Sha256::new();
        for part in self.covered(file) {
            hasher.update(part);
        }
        hasher.finalize().into()
    }

    /// The `/ByteRange` array as written in place of the placeholder: the same width,
    /// padded with spaces before `]`, or `None` if an offset has more digits than it holds.
    pub(crate) fn patched_text(&self) -> Option<Vec<u8>> {
        let width = placeholder_text().len();
        let mut text = format!(
            "[0 {} {} {}",
            self.contents_start, self.contents_end, self.tail_len
        );
        if text.len() + 1 > width {
            return None;
        }
        while text.len() + 1 < width {
            text.push(' ');
        }
        text.push(']');
        Some(text.into_bytes())
    }
}

/// The placeholder array exactly as lopdf writes `[0 N N N]` with the placeholder number.
pub(crate) fn placeholder_text() -> Vec<u8> {
    let number = PLACEHOLDER_NUMBER;
    format!("[0 {number} {number} {number}]").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patched_range_keeps_the_placeholder_width() {
        let range = ByteRange {
            contents_start: 1234,
            contents_end: 5678,
            tail_len: 90,
        };
        let text = range.patched_text().expect("fits");
        assert_eq!(text.len(), placeholder_text().len());
        assert!(text.starts_with(b"[0 1234 5678 90 "));
        assert!(text.ends_with(b" ]"));
    }

    #[test]
    fn offsets_wider_than_the_placeholder_are_refused() {
        let range = ByteRange {
            contents_start: 10_000_000_000,
            contents_end: 10_000_000_010,
            tail_len: 10_000_000_000,
        };
        assert_eq!(range.patched_text(), None);
    }

    #[test]
    fn the_digest_skips_the_contents_gap() {
        let file = b"abc<00>def";
        let range = ByteRange {
            contents_start: 3,
            contents_end: 7,
            tail_len: 3,
        };
        let expected: [u8; 32] = Sha256::digest(b"abcdef").into();
        assert_eq!(range.digest(file), expected);
    }
}
