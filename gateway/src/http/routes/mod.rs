//! The route handlers, one file per resource.

pub(super) mod admin;
pub(super) mod certificates;
pub(super) mod jwks;
pub(super) mod oauth;
pub(super) mod providers;
pub(super) mod signatures;
pub(super) mod verifications;
