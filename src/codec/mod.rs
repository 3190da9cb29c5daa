//! What a stored value looks like: the envelope (magic, format version, codec id, compression
//! flag, checksum) every value carries, sealed on the way in and opened on the way out.
//!
//! Pure bytes in, bytes out: imports nothing from the crate, so the engine and the stores can
//! both use it.

mod envelope;

pub use envelope::*;
