//! Evidence photos a template asks for (`x-template.photos`).
//!
//! ```json
//! "photos": {
//!   "stamp": true,
//!   "required": [
//!     { "tag": "landscape_e" },
//!     { "tag": "outfall", "relevant": "has(data.outfall_count) && data.outfall_count > 0.0" }
//!   ]
//! }
//! ```
//! `tag` is a code of the `photo_type` table; `min` (default 1) is how many photos of that tag
//! the record needs; `relevant` (CEL, like a field's `x-relevant`) limits when it is needed.
//! `stamp` asks the device to burn time, position and the point code into each photo.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::codes::CodeTables;
use crate::expr::{Expr, Scope};
use crate::issue::{Issue, Severity};
use crate::{Label, ModelError};

/// The code table photo tags come from.
pub const PHOTO_TYPE_TABLE: &str = "photo_type";

/// One kind of photo a record must carry.
#[derive(Debug)]
pub struct RequiredPhoto {
    pub tag: String,
    pub label: Label,
    pub min: u32,
    pub relevant: Option<Expr>,
}

/// What a template says about photos.
#[derive(Debug, Default)]
pub struct PhotoRules {
    /// Burn the evidence stamp into photos of this kind of record by default.
    pub stamp: bool,
    pub required: Vec<RequiredPhoto>,
}

/// A required photo the record does not have yet.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MissingPhoto {
    pub tag: String,
    pub label: Label,
    /// How many of this tag are needed, and how many the record has.
    pub needed: u32,
    pub present: u32,
}

impl MissingPhoto {
    /// The missing photo as an error of the record (it blocks submitting).
    pub fn issue(&self) -> Issue {
        let count = |n: u32| {
            if n > 1 {
                format!(" ×{n}")
            } else {
                String::new()
            }
        };
        Issue {
            path: format!("photos.{}", self.tag),
            severity: Severity::Error,
            code: "photo_missing".into(),
            message: Label::new(
                format!("缺少照片：{}{}", self.label.zh, count(self.needed)),
                format!("Photo missing: {}{}", self.label.en, count(self.needed)),
            ),
        }
    }
}

impl PhotoRules {
    pub(crate) fn parse(
        template: &str,
        value: Option<&Value>,
        codes: &CodeTables,
    ) -> Result<PhotoRules, ModelError> {
        let bad = |reason: String| ModelError::BadTemplate {
            template: template.to_string(),
            reason,
        };
        let Some(value) = value else {
            return Ok(PhotoRules::default());
        };
        let obj = value
            .as_object()
            .ok_or_else(|| bad("x-template.photos must be an object".into()))?;
        let stamp = match obj.get("stamp") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(bad("x-template.photos.stamp must be true or false".into())),
        };
        let table = codes.get(PHOTO_TYPE_TABLE);
        let mut required = Vec::new();
        for r in obj
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let tag = r
                .get("tag")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("each required photo needs a tag".into()))?;
            let code = table
                .and_then(|t| t.get(tag))
                .ok_or_else(|| bad(format!("photo tag '{tag}' is not in {PHOTO_TYPE_TABLE}")))?;
            let min = match r.get("min") {
                None => 1,
                Some(v) => v
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .filter(|n| (1..=100).contains(n))
                    .ok_or_else(|| bad(format!("photo '{tag}': min must be 1 to 100")))?,
            };
            let relevant = match r.get("relevant").and_then(Value::as_str) {
                Some(src) => Some(Expr::compile(src)?),
                None => None,
            };
            required.push(RequiredPhoto {
                tag: tag.to_string(),
                label: Label::new(code.zh.clone(), code.en.clone()),
                min,
                relevant,
            });
        }
        Ok(PhotoRules { stamp, required })
    }

    /// The required photos missing from a record whose live photos carry `tags`.
    pub fn missing<'a>(
        &self,
        data: &Value,
        meta: &Value,
        tags: impl IntoIterator<Item = &'a str>,
    ) -> Vec<MissingPhoto> {
        if self.required.is_empty() {
            return Vec::new();
        }
        let mut counts: BTreeMap<&str, u32> = BTreeMap::new();
        for t in tags {
            *counts.entry(t).or_default() += 1;
        }
        let scope = self
            .required
            .iter()
            .any(|r| r.relevant.is_some())
            .then(|| Scope::new(Some(data), None, Some(meta)));
        self.required
            .iter()
            .filter(|r| match (&r.relevant, &scope) {
                // Like a field's relevance: an expression that fails keeps the photo needed.
                (Some(e), Some(s)) => e.eval_bool(s, None).unwrap_or(true),
                _ => true,
            })
            .filter_map(|r| {
                let present = counts.get(r.tag.as_str()).copied().unwrap_or(0);
                (present < r.min).then(|| MissingPhoto {
                    tag: r.tag.clone(),
                    label: r.label.clone(),
                    needed: r.min,
                    present,
                })
            })
            .collect()
    }

    pub fn exprs(&self) -> impl Iterator<Item = &Expr> {
        self.required.iter().filter_map(|r| r.relevant.as_ref())
    }
}
