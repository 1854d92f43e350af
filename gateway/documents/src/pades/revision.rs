//! Opening a PDF for an incremental update and appending that update.
//!
//! Every change this crate makes to a PDF (a signature field, a DSS) is an incremental update:
//! the original bytes stay as they are, changed and new objects are appended with a
//! cross-reference section of the original's kind (table or stream) whose trailer keeps the
//! `/ID` and points back with `/Prev`. lopdf writes the update; this module refuses the inputs
//! for which such an update would be wrong or would break an earlier signature.

use lopdf::{Document, IncrementalDocument, Object, ObjectId};

/// Why a PDF cannot be opened for, or extended by, an incremental update.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RevisionError {
    /// The bytes do not start with a `%PDF-` header (offsets would not be file offsets).
    #[error("the input does not start with a %PDF- header")]
    NotPdf,
    /// lopdf could not parse the PDF.
    #[error("the PDF could not be parsed")]
    Unreadable(#[source] lopdf::Error),
    /// The PDF is encrypted; signing it would need its password and re-encryption.
    #[error("the PDF is encrypted")]
    Encrypted,
    /// The cross-reference data is damaged and lopdf repaired it while loading; an update
    /// written on top of the repaired view would not chain to the file as written.
    #[error("the PDF's cross-reference data is damaged (it only loads after repair)")]
    Repaired,
    /// An object the update needs (catalog, page tree, AcroForm) is missing or malformed.
    #[error("the PDF's structure is malformed: {what}")]
    Malformed {
        /// What was being looked up.
        what: &'static str,
        /// lopdf's complaint.
        #[source]
        source: lopdf::Error,
    },
    /// An entry that must be an array (`/Annots`, `/Fields`) is something else.
    #[error("{what} is not an array")]
    NotAnArray {
        /// Which entry.
        what: &'static str,
    },
    /// lopdf failed to write the update.
    #[error("writing the incremental update failed")]
    Write(#[source] std::io::Error),
}

/// A PDF opened for one incremental update: the previous revisions, read-only, and the objects
/// the update adds or replaces.
pub(crate) struct Update {
    document: IncrementalDocument,
}

impl Update {
    /// Opens `pdf` for an update, refusing encrypted and repaired files.
    pub(crate) fn open(pdf: &[u8]) -> Result<Self, RevisionError> {
        if !pdf.starts_with(b"%PDF-") {
            return Err(RevisionError::NotPdf);
        }
        let previous = Document::load_mem(pdf).map_err(RevisionError::Unreadable)?;
        if previous.is_encrypted() || previous.was_encrypted() {
            return Err(RevisionError::Encrypted);
        }
        if previous.xref_recovery.is_some() || previous.xref_start == 0 {
            return Err(RevisionError::Repaired);
        }
        let mut document = IncrementalDocument::create_from(pdf.to_vec(), previous);
        // A hybrid file's `/XRefStm` belongs to the section it was written in, not to ours.
        document.new_document.trailer.remove(b"XRefStm");
        Ok(Self { document })
    }

    /// The document as it was before this update.
    pub(crate) fn previous(&self) -> &Document {
        self.document.get_prev_documents()
    }

    /// The catalog's object id.
    pub(crate) fn catalog_id(&self) -> Result<ObjectId, RevisionError> {
        self.previous()
            .trailer
            .get(b"Root")
            .and_then(Object::as_reference)
            .map_err(|source| RevisionError::Malformed {
                what: "the trailer's /Root",
                source,
            })
    }

    /// A new object in the update.
    pub(crate) fn add(&mut self, object: impl Into<Object>) -> ObjectId {
        self.document.new_document.add_object(object)
    }

    /// An existing object, copied into the update so that changes to it are appended.
    pub(crate) fn changed(
        &mut self,
        id: ObjectId,
        what: &'static str,
    ) -> Result<&mut Object, RevisionError> {
        let malformed = |source| RevisionError::Malformed { what, source };
        self.document
            .opt_clone_object_to_new_document(id)
            .map_err(malformed)?;
        self.document
            .new_document
            .get_object_mut(id)
            .map_err(malformed)
    }

    /// An existing dictionary, copied into the update so that changes to it are appended.
    pub(crate) fn changed_dictionary(
        &mut self,
        id: ObjectId,
        what: &'static str,
    ) -> Result<&mut lopdf::Dictionary, RevisionError> {
        self.changed(id, what)?
            .as_dict_mut()
            .map_err(|source| RevisionError::Malformed { what, source })
    }

    /// Adds `item` to the array stored under `key` in the dictionary `owner` (already part of
    /// the update), following the array to its own object when it is indirect, or creating it.
    pub(crate) fn push_to_array(
        &mut self,
        owner: ObjectId,
        key: &[u8],
        item: Object,
        what: &'static str,
    ) -> Result<(), RevisionError> {
        let current = self.changed_dictionary(owner, what)?.get(key).ok().cloned();
        match current {
            Some(Object::Reference(array_id)) => {
                self.changed(array_id, what)?
                    .as_array_mut()
                    .map_err(|source| RevisionError::Malformed { what, source })?
                    .push(item);
            }
            Some(Object::Array(mut items)) => {
                items.push(item);
                self.changed_dictionary(owner, what)?
                    .set(key, Object::Array(items));
            }
            Some(_) => return Err(RevisionError::NotAnArray { what }),
            None => {
                self.changed_dictionary(owner, what)?
                    .set(key, Object::Array(vec![item]));
            }
        }
        Ok(())
    }

    /// Writes the original bytes followed by the update.
    pub(crate) fn save(mut self) -> Result<Vec<u8>, RevisionError> {
        let mut out = Vec::new();
        self.document
            .save_to(&mut out)
            .map_err(RevisionError::Write)?;
        Ok(out)
    }
}

/// Follows `object` through references in `document`.
pub(crate) fn resolve<'a>(document: &'a Document, object: &'a Object) -> &'a Object {
    document
        .dereference(object)
        .map_or(object, |(_, target)| target)
}
