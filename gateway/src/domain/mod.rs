//! The domain: what a signing transaction is, how its status may change, what a portal asks
//! for and the stable error codes of the protocol. Nothing here knows HTTP, actix or the
//! store.

pub mod certificate;
pub mod document;
pub mod error;
pub mod request;
pub mod transaction;
