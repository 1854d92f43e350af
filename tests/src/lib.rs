//! End-to-end test harness: the gateway and CA simulators over real sockets.
