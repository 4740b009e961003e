//! The connection's byte buffers: what was received, and what waits to be
//! written.

#[cfg(feature = "bytes")]
mod input_bytes;
#[cfg(not(feature = "bytes"))]
mod input_vec;
mod output;
mod shrink;

#[cfg(feature = "bytes")]
pub(crate) use input_bytes::InputBuffer;
#[cfg(not(feature = "bytes"))]
pub(crate) use input_vec::InputBuffer;
pub(crate) use output::OutputQueue;
pub(crate) use shrink::Shrink;

/// Capacity an empty buffer may keep; above it, the memory is released.
pub(crate) const RETAIN_CAPACITY: usize = 64 * 1024;
