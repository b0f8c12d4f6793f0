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
mod path;
mod photo_hash;
mod photos;
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
pub use role::Role;
pub use template::{ComputedDef, FieldDef, FieldKind, Template, TemplateSet, TemplateSummary};
