//! What the citizen reads in the MySign app: `description` and `document_name` must be base64
//! of text limited to `[a-zA-Z0-9_\- ]`, under 100 base64 characters. Vietnamese text is folded
//! to its letters without diacritics ("Ký hợp đồng" → "Ky hop dong"), other characters become
//! spaces, and the result is cut to what fits.

/// The longest text whose base64 stays under 100 characters (4 × ⌈72 / 3⌉ = 96).
pub(crate) const MAX_PROMPT_CHARS: usize = 72;

/// Vietnamese letters with diacritics, grouped by the ASCII letter they fold to.
const FOLDS: &[(char, &str)] = &[
    ('a', "àáảãạăằắẳẵặâầấẩẫậ"),
    ('A', "ÀÁẢÃẠĂẰẮẲẴẶÂẦẤẨẪẬ"),
    ('e', "èéẻẽẹêềếểễệ"),
    ('E', "ÈÉẺẼẸÊỀẾỂỄỆ"),
    ('i', "ìíỉĩị"),
    ('I', "ÌÍỈĨỊ"),
    ('o', "òóỏõọôồốổỗộơờớởỡợ"),
    ('O', "ÒÓỎÕỌÔỒỐỔỖỘƠỜỚỞỠỢ"),
    ('u', "ùúủũụưừứửữự"),
    ('U', "ÙÚỦŨỤƯỪỨỬỮỰ"),
    ('y', "ỳýỷỹỵ"),
    ('Y', "ỲÝỶỸỴ"),
    ('d', "đ"),
    ('D', "Đ"),
];

/// `text` as MySign accepts it; empty when nothing printable is left.
pub(crate) fn ascii_prompt(text: &str) -> String {
    let mut folded = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
            folded.push(c);
        } else if ('\u{0300}'..='\u{036f}').contains(&c) {
            // A combining accent (decomposed input): the base letter was already kept.
        } else if let Some((base, _)) = FOLDS.iter().find(|(_, variants)| variants.contains(c)) {
            folded.push(*base);
        } else if !folded.is_empty() && !folded.ends_with(' ') {
            folded.push(' ');
        }
    }
    // Every character is ASCII now, so byte length is character count.
    folded.truncate(MAX_PROMPT_CHARS);
    folded.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vietnamese_is_folded_to_ascii() {
        assert_eq!(ascii_prompt("Kiểm tra tương thích"), "Kiem tra tuong thich");
        assert_eq!(
            ascii_prompt("ĐƠN ĐỀ NGHỊ cấp bản sao"),
            "DON DE NGHI cap ban sao"
        );
        assert_eq!(ascii_prompt("Nguyễn Văn An"), "Nguyen Van An");
        // Decomposed: "e" + combining circumflex + combining acute.
        assert_eq!(ascii_prompt("Ke\u{0302}\u{0301}t qua\u{0309}"), "Ket qua");
    }

    #[test]
    fn other_characters_become_single_spaces() {
        assert_eq!(ascii_prompt("tai-lieu-0.pdf"), "tai-lieu-0 pdf");
        assert_eq!(
            ascii_prompt("  Hợp đồng số 12/2025 (bản 2)  "),
            "Hop dong so 12 2025 ban 2"
        );
        assert_eq!(ascii_prompt("…"), "");
    }

    #[test]
    fn long_text_is_cut_to_fit_under_100_base64_characters() {
        let prompt = ascii_prompt(&"Tờ khai ".repeat(20));
        assert!(prompt.len() <= MAX_PROMPT_CHARS);
        assert!(!prompt.ends_with(' '));
        assert!(prompt.len().div_ceil(3) * 4 < 100);
    }
}
