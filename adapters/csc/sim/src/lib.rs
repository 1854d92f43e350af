//! A stateful simulator of a CSC API v2 remote signing service, with a real test PKI.
