//! The JS ↔ Rust boundary below `lib.rs`: the request frame JS writes and the completion frame it
//! reads (`frame`; `group` folds the GETs of one `getMany` into one completion, `joined` joins its
//! plain JSON values into one text), the queue finished requests wait in until JS drains them
//! (`completion`), how long the I/O thread keeps polling for a caller that comes back quickly
//! (`poll_window`), and how engine errors reach JS with their `code` set (`js_error`).
//!
//! `chunk` turns a taken chunk into the JS Buffer. The direct path (`engine::direct`) needs the
//! event loop's own handles (`uv`), calls into JS from them (`js_callback`) and keeps what only
//! the JS thread may touch (`js_thread`); `runtime` is the I/O thread's runtime.
//!
//! Owns the wire format of the boundary. May import `error` only; the engine and the features
//! import it, never the other way round.

pub mod chunk;
pub mod completion;
pub mod frame;
pub mod group;
pub mod joined;
#[cfg(unix)]
pub mod js_callback;
pub mod js_error;
#[cfg(unix)]
pub mod js_thread;
pub mod poll_window;
pub mod runtime;
#[cfg(unix)]
pub mod uv;
