//! A stateful simulator of Viettel-CA MySign's remote-signing API, with a real test PKI.
