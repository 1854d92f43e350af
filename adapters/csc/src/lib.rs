//! Cloud Signature Consortium API v2 adapter for the kyso gateway.
