//! A guard around automerge's reads of untrusted documents.

use std::panic::{AssertUnwindSafe, catch_unwind};

/// Runs `f`, turning a panic inside automerge (crafted input can reach asserts there) into
/// `None`.
pub(crate) fn guarded<T>(f: impl FnOnce() -> Option<T>) -> Option<T> {
    catch_unwind(AssertUnwindSafe(f)).ok().flatten()
}
