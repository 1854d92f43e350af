//! (filled in by the document-signing work of issue 11)
