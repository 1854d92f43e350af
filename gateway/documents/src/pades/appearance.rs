//! The appearance of a visible signature: a framed box with lines of text (who signed, when)
//! drawn in the embedded Unicode font, as the widget's `/AP << /N … >>` form XObject.
//!
//! The text is normalised to NFC and laid out top-down, left-aligned, at the largest size (up
//! to [`MAX_FONT_SIZE`]) at which every line fits the rectangle. Page rotation is not
//! compensated: the box is drawn in the page's unrotated user space.

use lopdf::content::{Content, Operation};
use lopdf::{Object, ObjectId, Stream, dictionary};

use super::font::{AppearanceError, FontSubset, hex_operand};
use super::revision::Update;
use super::text::nfc;

/// The largest font size the text is drawn at, in points.
const MAX_FONT_SIZE: f32 = 12.0;
/// Line spacing as a multiple of the font size.
const LINE_SPACING: f32 = 1.25;
/// The margin between the frame and the text, in points.
const PADDING: f32 = 3.0;
/// The frame's line width, in points.
const FRAME_WIDTH: f32 = 0.75;
/// The resource name of the font inside the appearance.
const FONT_RESOURCE: &str = "F1";

/// Where and what a visible signature shows.
#[derive(Debug, Clone, PartialEq)]
pub struct VisibleSignature {
    /// The page, counted from 0.
    pub page: usize,
    /// The box on the page, `[x1, y1, x2, y2]` in points from the page's lower-left corner.
    pub rect: [f32; 4],
    /// The lines of text, top to bottom (e.g. "Ký bởi: …", "Ngày ký: …").
    pub lines: Vec<String>,
}

impl VisibleSignature {
    /// The box's width and height, if the rectangle is a proper one.
    pub(crate) fn size(&self) -> Option<(f32, f32)> {
        let [x1, y1, x2, y2] = self.rect;
        let width = x2 - x1;
        let height = y2 - y1;
        let proper = self.rect.iter().all(|value| value.is_finite())
            && width > 2.0 * PADDING
            && height > 2.0 * PADDING;
        proper.then_some((width, height))
    }

    /// Adds the appearance (and its font) to the update and returns the form XObject's id.
    pub(crate) fn add_appearance(
        &self,
        width: f32,
        height: f32,
        update: &mut Update,
    ) -> Result<ObjectId, AppearanceError> {
        let mut font = FontSubset::new()?;
        let lines = self
            .lines
            .iter()
            .map(|line| font.encode(&nfc(line)))
            .collect::<Result<Vec<_>, _>>()?;

        let widest = lines.iter().map(|line| line.width).fold(0.0, f32::max);
        let (ascent, descent) = font.vertical_metrics();
        let usable_width = width - 2.0 * PADDING;
        let usable_height = height - 2.0 * PADDING;
        let line_count = lines.len() as f32;
        let mut size = MAX_FONT_SIZE;
        if widest > 0.0 {
            size = size.min(usable_width / widest);
        }
        if line_count > 0.0 {
            size = size.min(usable_height / ((line_count - 1.0) * LINE_SPACING + ascent - descent));
        }

        let mut operations = vec![
            Operation::new("q", vec![]),
            Operation::new("w", vec![FRAME_WIDTH.into()]),
            Operation::new("RG", vec![0.2.into(), 0.3.into(), 0.6.into()]),
            Operation::new(
                "re",
                vec![
                    (FRAME_WIDTH / 2.0).into(),
                    (FRAME_WIDTH / 2.0).into(),
                    (width - FRAME_WIDTH).into(),
                    (height - FRAME_WIDTH).into(),
                ],
            ),
            Operation::new("S", vec![]),
            Operation::new("BT", vec![]),
            Operation::new("Tf", vec![Object::Name(FONT_RESOURCE.into()), size.into()]),
            Operation::new("TL", vec![(size * LINE_SPACING).into()]),
            Operation::new(
                "Td",
                vec![PADDING.into(), (height - PADDING - ascent * size).into()],
            ),
        ];
        for (index, line) in lines.into_iter().enumerate() {
            if index > 0 {
                operations.push(Operation::new("T*", vec![]));
            }
            operations.push(Operation::new("Tj", vec![hex_operand(line.codes)]));
        }
        operations.push(Operation::new("ET", vec![]));
        operations.push(Operation::new("Q", vec![]));

        let content = Content { operations }
            .encode()
            .map_err(AppearanceError::Content)?;
        let font_id = font.embed(update)?;
        let mut form = Stream::new(
            dictionary! {
                "Type" => "XObject",
                "Subtype" => "Form",
                "BBox" => vec![0.into(), 0.into(), width.into(), height.into()],
                "Resources" => dictionary! {
                    "Font" => dictionary! { FONT_RESOURCE => font_id },
                },
            },
            content,
        );
        // Compression is an optimisation: a stream that fails to compress stays plain.
        let _ = form.compress();
        Ok(update.add(form))
    }
}
