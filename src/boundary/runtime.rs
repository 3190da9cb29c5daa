//! The process's one I/O runtime (tokio), shared by every engine and handed to napi-rs for its
//! `async fn`s.

use crate::error::{CacheError, ErrorKind, Result};
use once_cell::sync::OnceCell;
use tokio::runtime::Handle;

static RUNTIME: OnceCell<Handle> = OnceCell::new();

/// One tokio worker: on small machines it beats one per core (measured), and the JS thread
/// keeps a core for decoding.
pub fn io_runtime() -> Result<Handle> {
  RUNTIME
    .get_or_try_init(|| {
      // TLS (rediss://) uses rustls with the ring provider; install it once for the process.
      let _ = rustls::crypto::ring::default_provider().install_default();
      let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("ferrocache-io")
        .enable_all()
        .build()
        .map_err(|e| {
          CacheError::new(
            ErrorKind::Internal,
            format!("cannot start the I/O runtime: {e}"),
          )
        })?;
      let handle = rt.handle().clone();
      napi::bindgen_prelude::create_custom_tokio_runtime(rt);
      Ok(handle)
    })
    .cloned()
}
