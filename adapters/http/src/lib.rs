//! What every CA adapter shares besides the contract in `kyso-adapter-core`:
//!
//! - [`CaHttp`]: the one HTTP client adapters speak to their CA with. It applies the provider's
//!   timeouts, never follows redirects, reads answers with a hard size cap
//!   ([`HttpSettings::max_response_bytes`], [`DEFAULT_MAX_RESPONSE_BYTES`] by default) and maps
//!   transport failures onto [`AdapterError`] the same way for every CA. What a CA's HTTP
//!   *statuses* mean stays in each adapter.
//! - [`AdapterFactory`]: how the gateway builds one kind of adapter from a provider's
//!   configuration, so it needs one registry of kinds instead of a `match` per operation.
//! - [`parse_base_url`]: the check every adapter makes of its configured base URL.

mod client;
mod factory;

pub use client::{CaHttp, CaRequest, CaResponse, DEFAULT_MAX_RESPONSE_BYTES, HttpSettings};
pub use factory::{AdapterFactory, BaseUrl, parse_base_url};
/// The URL type [`CaHttp::get`] and [`CaHttp::post`] take, for adapters that build query
/// strings.
pub use reqwest::Url;
