//! MISA eSign RemoteSigning adapter for the kyso gateway.
