//! jingtu-protocol: the sync protocol between a device and the server, written down in
//! `docs/sync-protocol.md`. Wire types (versioned by [`PROTOCOL_VERSION`]) and their encoding:
//! MessagePack (`rmp-serde`, maps with field names so other clients can read them) behind a
//! one-byte frame header that says whether the rest is zstd-compressed.
//!
//! Shared by the device sync engine and the server; it knows nothing of either.

mod catalog;
mod codec;
mod messages;
mod people;
mod scope;

pub use catalog::*;
pub use codec::{
    CodecError, FRAME_MSGPACK, FRAME_MSGPACK_ZSTD, MAX_MESSAGE_BYTES, decode, encode,
    encode_with_threshold,
};
pub use messages::*;
pub use people::*;
pub use scope::*;
