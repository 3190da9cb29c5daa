//! Features built on the store: tag invalidation with per-tag markers (`tags`) and the pub/sub
//! bus between instances (`bus`).
//!
//! May import `error`, `store` and `boundary` (the bus delivers through the completion queue);
//! the engine imports the features, never the other way round.

pub mod bus;
pub mod tags;
