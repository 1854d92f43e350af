//! A stateful simulator of MISA eSign's RemoteSigning API, with a real test PKI.
