use thiserror::Error;

/// Errors of record documents.
#[derive(Debug, Error)]
pub enum DocError {
    #[error("not a jingtu record: {0}")]
    NotARecord(String),
    #[error("the bytes do not load as an Automerge document: {0}")]
    Corrupt(String),
    /// Untrusted bytes that would expand beyond [`crate::ExpansionLimits`].
    #[error("the changes expand too far: {0}")]
    Expands(String),
    #[error("document of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("record {incoming} cannot be merged into record {existing}")]
    DifferentRecord { existing: String, incoming: String },
    #[error("path '{path}': {reason}")]
    Path { path: String, reason: String },
    #[error("value for '{path}': {reason}")]
    Value { path: String, reason: String },
    #[error("status: {0}")]
    Status(String),
    #[error("the changes depend on {0} change(s) not present here")]
    MissingDeps(usize),
    #[error("automerge: {0}")]
    Automerge(#[from] automerge::AutomergeError),
}
