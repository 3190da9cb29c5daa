//! The per-engine settings the executor and the reply readers share (compression, size limits).

use crate::codec::Compression;

/// Per-engine settings the executor needs.
pub struct Settings {
  pub compression: Option<Compression>,
  pub max_value_bytes: usize,
  pub max_key_bytes: usize,
}
