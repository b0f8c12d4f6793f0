use std::fmt;

use crate::ModelError;

/// One step of a field path: a map key or a list index.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PathSeg {
    Key(String),
    Index(usize),
}

/// A path into a record's data, written `indicators.sewage_treatment_rate_pct`,
/// `checklist.clean_garbage.result` or `measurement_points.0.do_mg_l`.
///
/// Parsing is syntactic: digits make an index. Whether the path exists is decided against a
/// template ([`crate::Template::field`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FieldPath(pub Vec<PathSeg>);

const MAX_DEPTH: usize = 16;

impl FieldPath {
    pub fn parse(text: &str) -> Result<FieldPath, ModelError> {
        let bad = |reason: &str| ModelError::BadPath {
            path: text.to_string(),
            reason: reason.to_string(),
        };
        let text = text.trim();
        if text.is_empty() {
            return Err(bad("empty path"));
        }
        let mut segs = Vec::new();
        for part in text.split('.') {
            if part.is_empty() {
                return Err(bad("empty segment"));
            }
            if part.len() > 128 {
                return Err(bad("segment longer than 128 characters"));
            }
            if part.bytes().all(|b| b.is_ascii_digit()) {
                let index = part.parse().map_err(|_| bad("index too large"))?;
                segs.push(PathSeg::Index(index));
            } else {
                segs.push(PathSeg::Key(part.to_string()));
            }
        }
        if segs.len() > MAX_DEPTH {
            return Err(bad("path deeper than 16 segments"));
        }
        Ok(FieldPath(segs))
    }

    pub fn segs(&self) -> &[PathSeg] {
        &self.0
    }

    pub fn child_key(&self, key: &str) -> FieldPath {
        let mut segs = self.0.clone();
        segs.push(PathSeg::Key(key.to_string()));
        FieldPath(segs)
    }

    pub fn child_index(&self, index: usize) -> FieldPath {
        let mut segs = self.0.clone();
        segs.push(PathSeg::Index(index));
        FieldPath(segs)
    }

    /// Turns a JSON pointer (`/a/0/b`) into a path.
    pub fn from_pointer(pointer: &str) -> FieldPath {
        let segs = pointer
            .split('/')
            .skip(1)
            .filter(|s| !s.is_empty())
            .map(|s| {
                let s = s.replace("~1", "/").replace("~0", "~");
                match s.parse::<usize>() {
                    Ok(i) if s.bytes().all(|b| b.is_ascii_digit()) => PathSeg::Index(i),
                    _ => PathSeg::Key(s),
                }
            })
            .collect();
        FieldPath(segs)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn starts_with(&self, other: &FieldPath) -> bool {
        self.0.starts_with(&other.0)
    }

    /// The value at this path inside `data`, if any.
    pub fn lookup<'a>(&self, data: &'a serde_json::Value) -> Option<&'a serde_json::Value> {
        let mut cur = data;
        for seg in &self.0 {
            cur = match (seg, cur) {
                (PathSeg::Key(k), serde_json::Value::Object(o)) => o.get(k)?,
                (PathSeg::Index(i), serde_json::Value::Array(a)) => a.get(*i)?,
                (PathSeg::Index(i), serde_json::Value::Object(o)) => o.get(&i.to_string())?,
                _ => return None,
            };
        }
        Some(cur)
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            match seg {
                PathSeg::Key(k) => f.write_str(k)?,
                PathSeg::Index(n) => write!(f, "{n}")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let p = FieldPath::parse("measurement_points.0.do_mg_l").unwrap();
        assert_eq!(p.0[1], PathSeg::Index(0));
        assert_eq!(p.to_string(), "measurement_points.0.do_mg_l");
    }

    #[test]
    fn refuses_bad_paths() {
        for bad in ["", "a..b", ".a", "a."] {
            assert!(FieldPath::parse(bad).is_err(), "{bad}");
        }
        let deep = vec!["a"; 17].join(".");
        assert!(FieldPath::parse(&deep).is_err());
    }

    #[test]
    fn pointer_round_trip() {
        let p = FieldPath::from_pointer("/checklist/clean_garbage/issue");
        assert_eq!(p.to_string(), "checklist.clean_garbage.issue");
        let v = serde_json::json!({"checklist": {"clean_garbage": {"issue": "x"}}});
        assert_eq!(p.lookup(&v), Some(&serde_json::json!("x")));
    }
}
