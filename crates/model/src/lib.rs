//! jingtu-model: what a survey record is, independent of storage and network.
//!
//! Record kinds and their templates (JSON Schema 2020-12 plus form annotations, loaded from
//! `schemas/`), the code tables, validation (JSON Schema through the `jsonschema` crate,
//! conditions in CEL through the `cel` crate), computed fields, completion, and the domain
//! rules of the national guidelines (`rules`).
//!
//! This crate is pure: no I/O, no clock, no randomness. It must never depend on automerge,
//! SQLite, HTTP or any other jingtu crate.

mod builtin;
mod codes;
pub mod custody;
mod error;
mod evaluate;
mod expr;
mod issue;
mod label;
pub mod ledger;
mod path;
mod photo_hash;
mod photos;
pub mod quality;
mod role;
pub mod rules;
mod template;

pub use codes::{Code, CodeTable, CodeTables, ItemResult};
pub use custody::{CustodyStep, HandOver, Receipt};
pub use error::ModelError;
pub use evaluate::Evaluation;
pub use expr::Expr;
pub use issue::{Issue, Severity};
pub use label::Label;
pub use path::{FieldPath, PathSeg};
pub use photo_hash::PhotoHash;
pub use photos::{MissingPhoto, PHOTO_TYPE_TABLE, PhotoRules, RequiredPhoto};
pub use quality::{QcCheck, QcRatio, QcReport, QcSample, QcStatus, QualityControlPlan, batch_qc};
pub use role::Role;
pub use template::{ComputedDef, FieldDef, FieldKind, Template, TemplateSet, TemplateSummary};

/// Is `s` a day written `YYYY-MM-DD` (ASCII digits, month 1-12, day 1-31)? Due dates and
/// keep-until days are checked with it everywhere.
pub fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
        && matches!(s[5..7].parse::<u8>(), Ok(1..=12))
        && matches!(s[8..10].parse::<u8>(), Ok(1..=31))
}
