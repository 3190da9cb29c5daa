//! What the store's unit tests share: a runtime to drive a pool with, and an address where
//! nothing listens.

/// A single-threaded runtime with timers and I/O.
pub fn runtime() -> tokio::runtime::Runtime {
  tokio::runtime::Builder::new_current_thread()
    .enable_all()
    .build()
    .unwrap()
}

/// A local port nothing listens on: bound, then dropped (almost certainly still closed).
pub fn closed_port() -> u16 {
  std::net::TcpListener::bind("127.0.0.1:0")
    .unwrap()
    .local_addr()
    .unwrap()
    .port()
}
