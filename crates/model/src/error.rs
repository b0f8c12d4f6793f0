use thiserror::Error;

/// Errors of the model: bad templates, bad paths, bad values.
#[derive(Debug, Error)]
pub enum ModelError {
    #[error("template {template}: {reason}")]
    BadTemplate { template: String, reason: String },
    #[error("code tables: {0}")]
    BadCodeTables(String),
    #[error("unknown template '{0}'")]
    UnknownTemplate(String),
    #[error("bad path '{path}': {reason}")]
    BadPath { path: String, reason: String },
    #[error("unknown field '{path}' in template {template}")]
    UnknownField { template: String, path: String },
    #[error("invalid value for '{path}': {reason}")]
    InvalidValue { path: String, reason: String },
    #[error("expression '{expr}' does not compile: {reason}")]
    BadExpression { expr: String, reason: String },
}
