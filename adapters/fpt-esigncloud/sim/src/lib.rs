//! A stateful simulator of FPT-CA's eSignCloud API, with a real test PKI.
