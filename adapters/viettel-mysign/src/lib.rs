//! Viettel-CA MySign adapter for the kyso gateway.
