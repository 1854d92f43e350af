//! The Unicode font visible signatures are drawn in, embedded as a subset.
//!
//! The standard 14 PDF fonts cannot show Vietnamese, so the appearance uses DejaVu Sans
//! (Bitstream Vera licence, `fonts/LICENSE-DejaVu.txt`) as a composite font: a Type0 font with
//! the Identity-H encoding over a CIDFontType2 whose FontFile2 holds only the glyphs used
//! (subsetted by `subsetter`; the CIDs are the subset's glyph ids). `/W` gives the widths, and
//! a ToUnicode CMap maps each CID back to its character, so that text extraction and search
//! find the Vietnamese text.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use lopdf::{Dictionary, Object, ObjectId, Stream, StringFormat, dictionary};
use sha2::{Digest, Sha256};
use subsetter::GlyphRemapper;
use ttf_parser::{Face, FaceParsingError};

use super::revision::Update;

/// DejaVu Sans, the whole font; only the glyphs used go into a PDF.
const FONT_FILE: &[u8] = include_bytes!("../../fonts/DejaVuSans.ttf");
/// The font's PostScript name, which the subset's `/BaseFont` extends with a tag.
const POSTSCRIPT_NAME: &str = "DejaVuSans";
/// Glyph space units per text space unit in PDF font metrics.
const PDF_UNITS_PER_EM: f32 = 1000.0;
/// The most `bfchar` entries one block of a CMap may hold.
const CMAP_BLOCK: usize = 100;

/// Why a visible signature's appearance cannot be drawn.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppearanceError {
    /// The font compiled into the crate cannot be parsed.
    #[error("the embedded font cannot be parsed")]
    Parse(#[from] FaceParsingError),
    /// The font has no glyph for a character of the text.
    #[error("the embedded font has no glyph for {0:?}")]
    MissingGlyph(char),
    /// The subsetter failed.
    #[error("subsetting the embedded font failed")]
    Subset(#[from] subsetter::Error),
    /// lopdf could not encode the appearance's content stream.
    #[error("encoding the appearance's content stream failed")]
    Content(#[source] lopdf::Error),
}

/// Text encoded for the subset font: two-byte CIDs, and its width at size 1.
pub(crate) struct EncodedText {
    /// The CIDs, big-endian, as a `Tj` operand expects with Identity-H.
    pub(crate) codes: Vec<u8>,
    /// The advance width in text space units at a font size of 1.
    pub(crate) width: f32,
}

/// The glyphs used so far, and what is needed to embed them.
pub(crate) struct FontSubset {
    face: Face<'static>,
    remapper: GlyphRemapper,
    /// For each CID: the original glyph id and the character it was first used for.
    glyphs: BTreeMap<u16, (u16, char)>,
}

impl FontSubset {
    /// An empty subset of the embedded font.
    pub(crate) fn new() -> Result<Self, AppearanceError> {
        Ok(Self {
            face: Face::parse(FONT_FILE, 0)?,
            remapper: GlyphRemapper::new(),
            glyphs: BTreeMap::new(),
        })
    }

    /// The font's ascent and descent (negative) in text space units at size 1.
    pub(crate) fn vertical_metrics(&self) -> (f32, f32) {
        (
            self.scale(self.face.ascender()) / PDF_UNITS_PER_EM,
            self.scale(self.face.descender()) / PDF_UNITS_PER_EM,
        )
    }

    /// Encodes `text` (already NFC), adding its glyphs to the subset.
    pub(crate) fn encode(&mut self, text: &str) -> Result<EncodedText, AppearanceError> {
        let mut codes = Vec::with_capacity(text.len() * 2);
        let mut width = 0.0;
        for character in text.chars() {
            let glyph = self
                .face
                .glyph_index(character)
                .ok_or(AppearanceError::MissingGlyph(character))?;
            let cid = self.remapper.remap(glyph.0);
            self.glyphs.entry(cid).or_insert((glyph.0, character));
            codes.extend_from_slice(&cid.to_be_bytes());
            width += self.advance(glyph.0) / PDF_UNITS_PER_EM;
        }
        Ok(EncodedText { codes, width })
    }

    /// Adds the Type0 font, its descendant, descriptor, font file and ToUnicode CMap to the
    /// update, and returns the Type0 font's id.
    pub(crate) fn embed(self, update: &mut Update) -> Result<ObjectId, AppearanceError> {
        let subset = subsetter::subset(FONT_FILE, 0, &self.remapper)?;
        let base_font = format!("{}+{POSTSCRIPT_NAME}", self.subset_tag());

        let mut font_file = Stream::new(
            dictionary! { "Length1" => i64::try_from(subset.len()).unwrap_or(i64::MAX) },
            subset,
        );
        // Compression is an optimisation: a stream that fails to compress stays plain.
        let _ = font_file.compress();
        let font_file_id = update.add(font_file);

        let bbox = self.face.global_bounding_box();
        let descriptor_id = update.add(dictionary! {
            "Type" => "FontDescriptor",
            "FontName" => Object::Name(base_font.clone().into_bytes()),
            // Symbolic: the glyphs are addressed by CID, not by a standard character set.
            "Flags" => 4,
            "FontBBox" => vec![
                self.scale(bbox.x_min).into(),
                self.scale(bbox.y_min).into(),
                self.scale(bbox.x_max).into(),
                self.scale(bbox.y_max).into(),
            ],
            "ItalicAngle" => self.face.italic_angle(),
            "Ascent" => self.scale(self.face.ascender()),
            "Descent" => self.scale(self.face.descender()),
            "CapHeight" => self.scale(self.face.capital_height().unwrap_or(self.face.ascender())),
            "StemV" => 80,
            "FontFile2" => font_file_id,
        });

        let descendant_id = update.add(dictionary! {
            "Type" => "Font",
            "Subtype" => "CIDFontType2",
            "BaseFont" => Object::Name(base_font.clone().into_bytes()),
            "CIDSystemInfo" => dictionary! {
                "Registry" => Object::string_literal("Adobe"),
                "Ordering" => Object::string_literal("Identity"),
                "Supplement" => 0,
            },
            "FontDescriptor" => descriptor_id,
            "CIDToGIDMap" => "Identity",
            "W" => self.widths(),
        });

        let mut to_unicode = Stream::new(Dictionary::new(), self.to_unicode_cmap().into_bytes());
        let _ = to_unicode.compress();
        let to_unicode_id = update.add(to_unicode);

        Ok(update.add(dictionary! {
            "Type" => "Font",
            "Subtype" => "Type0",
            "BaseFont" => Object::Name(base_font.into_bytes()),
            "Encoding" => "Identity-H",
            "DescendantFonts" => vec![descendant_id.into()],
            "ToUnicode" => to_unicode_id,
        }))
    }

    /// A glyph's advance in PDF glyph units (thousandths of the font size).
    fn advance(&self, glyph: u16) -> f32 {
        let advance = self
            .face
            .glyph_hor_advance(ttf_parser::GlyphId(glyph))
            .unwrap_or(0);
        self.scale(advance)
    }

    /// Font units to PDF glyph units.
    fn scale(&self, value: impl Into<f32>) -> f32 {
        value.into() * PDF_UNITS_PER_EM / f32::from(self.face.units_per_em())
    }

    /// `/W [cid [width] …]` for every glyph used.
    fn widths(&self) -> Vec<Object> {
        self.glyphs
            .iter()
            .flat_map(|(&cid, &(glyph, _))| {
                [
                    Object::Integer(i64::from(cid)),
                    Object::Array(vec![Object::Real(self.advance(glyph).round())]),
                ]
            })
            .collect()
    }

    /// The six capital letters that name a subset (ISO 32000-1, 9.6.4), derived from the
    /// glyphs it holds so that the same text always yields the same name.
    fn subset_tag(&self) -> String {
        let mut hasher = Sha256::new();
        for glyph in self.remapper.remapped_gids() {
            hasher.update(glyph.to_be_bytes());
        }
        hasher
            .finalize()
            .iter()
            .take(6)
            .map(|byte| char::from(b'A' + byte % 26))
            .collect()
    }

    /// The ToUnicode CMap: each CID to the UTF-16BE of its character.
    fn to_unicode_cmap(&self) -> String {
        let mut cmap = String::from(
            "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n\
             /CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n\
             /CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n\
             1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n",
        );
        let entries: Vec<(u16, char)> = self
            .glyphs
            .iter()
            .map(|(&cid, &(_, character))| (cid, character))
            .collect();
        for block in entries.chunks(CMAP_BLOCK) {
            let _ = writeln!(cmap, "{} beginbfchar", block.len());
            for &(cid, character) in block {
                let mut units = [0u16; 2];
                let utf16: String = character
                    .encode_utf16(&mut units)
                    .iter()
                    .map(|unit| format!("{unit:04X}"))
                    .collect();
                let _ = writeln!(cmap, "<{cid:04X}> <{utf16}>");
            }
            cmap.push_str("endbfchar\n");
        }
        cmap.push_str("endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n");
        cmap
    }
}

/// A hex string operand for the content stream.
pub(crate) fn hex_operand(codes: Vec<u8>) -> Object {
    Object::String(codes, StringFormat::Hexadecimal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_vietnamese_letter_has_a_glyph() {
        let mut subset = FontSubset::new().expect("font parses");
        let letters = "ẠẢÃÀÁÂẬẦẤẨẪĂẮẰẲẴẶĐÈÉẺẼẸÊỀẾỂỄỆÌÍỈĨỊÒÓỎÕỌÔỒỐỔỖỘƠỜỚỞỠỢÙÚỦŨỤƯỪỨỬỮỰỲÝỶỸỴ";
        let lower = letters.to_lowercase();
        subset.encode(letters).expect("capitals");
        subset.encode(&lower).expect("small letters");
    }

    #[test]
    fn a_character_outside_the_font_is_refused() {
        let mut subset = FontSubset::new().expect("font parses");
        assert!(matches!(
            subset.encode("\u{10FFFD}"),
            Err(AppearanceError::MissingGlyph('\u{10FFFD}'))
        ));
    }

    #[test]
    fn the_cmap_maps_each_cid_to_its_character() {
        let mut subset = FontSubset::new().expect("font parses");
        let encoded = subset.encode("Ánh").expect("encodes");
        assert_eq!(encoded.codes.len(), 6);
        let cmap = subset.to_unicode_cmap();
        let first_cid = u16::from_be_bytes([encoded.codes[0], encoded.codes[1]]);
        assert!(
            cmap.contains(&format!("<{first_cid:04X}> <00C1>")),
            "{cmap}"
        );
        assert!(cmap.contains("3 beginbfchar"));
    }

    #[test]
    fn wider_text_measures_wider() {
        let mut subset = FontSubset::new().expect("font parses");
        let narrow = subset.encode("il").expect("encodes").width;
        let wide = subset.encode("MW").expect("encodes").width;
        assert!(wide > narrow && narrow > 0.0);
    }
}
