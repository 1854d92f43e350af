//! What every kyso CA simulator shares: test PKI, server, fault injection, request log, control routes.
