//! Helpers shared by the end-to-end tests and the crash child: the line protocol the child
//! speaks on stdout, and reading a value at a field path out of a record's data.

use serde_json::Value;

/// One line the crash child prints (each one flushed on its own, before or after a call).
#[derive(Debug, Clone, PartialEq)]
pub enum ChildLine {
    /// The store is open; it held this many records.
    Ready { records: u64 },
    /// About to call `create_record(kind)`.
    Creating { kind: String },
    /// `create_record` returned Ok.
    Created { id: String, kind: String },
    /// About to write `value` at `path` of record `id` (for an append, `path` ends with the
    /// index the item is expected to get).
    Try {
        id: String,
        path: String,
        value: Value,
    },
    /// The write returned Ok (for an append, `path` ends with the index it returned).
    Done {
        id: String,
        path: String,
        value: Value,
    },
}

impl ChildLine {
    /// The line as printed, with its newline.
    pub fn to_line(&self) -> String {
        match self {
            ChildLine::Ready { records } => format!("ready {records}\n"),
            ChildLine::Creating { kind } => format!("creating {kind}\n"),
            ChildLine::Created { id, kind } => format!("created {id} {kind}\n"),
            ChildLine::Try { id, path, value } => format!("try {id} {path} {value}\n"),
            ChildLine::Done { id, path, value } => format!("done {id} {path} {value}\n"),
        }
    }

    /// Parses one line (without its newline).
    pub fn parse(line: &str) -> Result<ChildLine, String> {
        let bad = || format!("not a crash-child line: {line:?}");
        let mut parts = line.splitn(4, ' ');
        let word = parts.next().ok_or_else(bad)?;
        let mut next = || parts.next().map(str::to_string).ok_or_else(bad);
        Ok(match word {
            "ready" => ChildLine::Ready {
                records: next()?.parse().map_err(|_| bad())?,
            },
            "creating" => ChildLine::Creating { kind: next()? },
            "created" => ChildLine::Created {
                id: next()?,
                kind: next()?,
            },
            "try" | "done" => {
                let id = next()?;
                let path = next()?;
                let value =
                    serde_json::from_str(&next()?).map_err(|e| format!("{}: {e}", bad()))?;
                if word == "try" {
                    ChildLine::Try { id, path, value }
                } else {
                    ChildLine::Done { id, path, value }
                }
            }
            _ => return Err(bad()),
        })
    }
}

/// One line the crash child prints in its photo mode (`jingtu-crash-child DIR SEQ photos`),
/// each flushed on its own before or after a call.
#[derive(Debug, Clone, PartialEq)]
pub enum PhotoLine {
    /// The store is open; it held this many records.
    Ready { records: u64 },
    /// About to create a record.
    Creating,
    /// `create_record` returned Ok.
    Created { id: String },
    /// About to add the photo [`test_jpeg`]`(seed, ..)` to record `id`, at `field` (`None`:
    /// the whole record).
    Adding {
        id: String,
        seed: u32,
        field: Option<String>,
    },
    /// `add_photo` returned Ok with this entry.
    Added {
        id: String,
        photo_id: String,
        sha256: String,
    },
    /// About to remove photo `photo_id` from record `id`.
    Removing { id: String, photo_id: String },
    /// `remove_photo` returned Ok.
    Removed { id: String, photo_id: String },
}

impl PhotoLine {
    /// The line as printed, with its newline.
    pub fn to_line(&self) -> String {
        match self {
            PhotoLine::Ready { records } => format!("ready {records}\n"),
            PhotoLine::Creating => "creating\n".to_string(),
            PhotoLine::Created { id } => format!("created {id}\n"),
            PhotoLine::Adding { id, seed, field } => {
                format!("adding {id} {seed} {}\n", field.as_deref().unwrap_or("-"))
            }
            PhotoLine::Added {
                id,
                photo_id,
                sha256,
            } => format!("added {id} {photo_id} {sha256}\n"),
            PhotoLine::Removing { id, photo_id } => format!("removing {id} {photo_id}\n"),
            PhotoLine::Removed { id, photo_id } => format!("removed {id} {photo_id}\n"),
        }
    }

    /// Parses one line (without its newline).
    pub fn parse(line: &str) -> Result<PhotoLine, String> {
        let bad = || format!("not a crash-child photo line: {line:?}");
        let words: Vec<&str> = line.split(' ').collect();
        let s = |w: &str| w.to_string();
        Ok(match words.as_slice() {
            ["ready", n] => PhotoLine::Ready {
                records: n.parse().map_err(|_| bad())?,
            },
            ["creating"] => PhotoLine::Creating,
            ["created", id] => PhotoLine::Created { id: s(id) },
            ["adding", id, seed, field] => PhotoLine::Adding {
                id: s(id),
                seed: seed.parse().map_err(|_| bad())?,
                field: (*field != "-").then(|| s(field)),
            },
            ["added", id, photo_id, sha256] => PhotoLine::Added {
                id: s(id),
                photo_id: s(photo_id),
                sha256: s(sha256),
            },
            ["removing", id, photo_id] => PhotoLine::Removing {
                id: s(id),
                photo_id: s(photo_id),
            },
            ["removed", id, photo_id] => PhotoLine::Removed {
                id: s(id),
                photo_id: s(photo_id),
            },
            _ => return Err(bad()),
        })
    }
}

/// The value at a dotted field path (`indicators.households_total`, `inspectors.3`).
pub fn lookup<'a>(data: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(data, |cur, seg| match cur {
        Value::Object(o) => o.get(seg),
        Value::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    })
}

/// JSON equality where numbers compare by value (`412` equals `412.0`): the store may hand
/// back an integral float as an integer or the other way round.
pub fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_value(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_value(v, w)))
        }
        _ => a == b,
    }
}

/// For an append path (`inspectors.3`): the list path and the index.
pub fn split_index(path: &str) -> Option<(&str, usize)> {
    let (list, last) = path.rsplit_once('.')?;
    last.parse().ok().map(|i| (list, i))
}

/// A small photograph-like JPEG (gradients and a pattern), different for each `seed`, with
/// no EXIF: what a test hands to `add_photo`.
pub fn test_jpeg(seed: u32, width: u32, height: u32) -> Vec<u8> {
    let img = jingtu_media::RgbImage::from_fn(width, height, |x, y| {
        let s = seed.wrapping_mul(2_654_435_761);
        jingtu_media::Rgb([
            ((x * 255 / width.max(1)) ^ (s & 0xff)) as u8,
            ((y * 255 / height.max(1)) ^ ((s >> 8) & 0xff)) as u8,
            (((x / 8 + y / 8) % 2) * 120 + (s >> 16) % 100) as u8,
        ])
    });
    jingtu_media::encode_rgb_jpeg(&img, 90).expect("encoding a test JPEG")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn child_lines_read_back_as_printed() {
        let lines = [
            ChildLine::Ready { records: 3 },
            ChildLine::Creating {
                kind: "village_inspection".into(),
            },
            ChildLine::Created {
                id: "0190aa".into(),
                kind: "village_inspection".into(),
            },
            ChildLine::Try {
                id: "0190aa".into(),
                path: "notes".into(),
                value: json!("巡查记录 第 7 条"),
            },
            ChildLine::Done {
                id: "0190aa".into(),
                path: "checklist.clean_garbage".into(),
                value: json!({"result": "fail", "issue": "问题 7"}),
            },
        ];
        for l in lines {
            let text = l.to_line();
            assert_eq!(ChildLine::parse(text.trim_end_matches('\n')), Ok(l));
        }
        assert!(ChildLine::parse("done 0190aa notes").is_err());
        assert!(ChildLine::parse("done 0190aa notes {bad").is_err());
    }

    #[test]
    fn photo_lines_read_back_as_printed() {
        let lines = [
            PhotoLine::Ready { records: 2 },
            PhotoLine::Creating,
            PhotoLine::Created {
                id: "0190aa".into(),
            },
            PhotoLine::Adding {
                id: "0190aa".into(),
                seed: 7,
                field: None,
            },
            PhotoLine::Adding {
                id: "0190aa".into(),
                seed: 8,
                field: Some("checklist.clean_garbage".into()),
            },
            PhotoLine::Added {
                id: "0190aa".into(),
                photo_id: "0190bb".into(),
                sha256: "ab12".into(),
            },
            PhotoLine::Removing {
                id: "0190aa".into(),
                photo_id: "0190bb".into(),
            },
            PhotoLine::Removed {
                id: "0190aa".into(),
                photo_id: "0190bb".into(),
            },
        ];
        for l in lines {
            let text = l.to_line();
            assert_eq!(PhotoLine::parse(text.trim_end_matches('\n')), Ok(l));
        }
        assert!(PhotoLine::parse("added 0190aa 0190bb").is_err());
        assert!(PhotoLine::parse("adding 0190aa seven -").is_err());
    }

    #[test]
    fn lookup_walks_maps_and_lists() {
        let data = json!({"indicators": {"households_total": 412}, "inspectors": ["王", "李"]});
        assert_eq!(
            lookup(&data, "indicators.households_total"),
            Some(&json!(412))
        );
        assert_eq!(lookup(&data, "inspectors.1"), Some(&json!("李")));
        assert_eq!(lookup(&data, "inspectors.2"), None);
        assert_eq!(lookup(&data, "notes"), None);
        assert!(same_value(&json!(412), &json!(412.0)));
        assert!(!same_value(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
        assert_eq!(split_index("inspectors.3"), Some(("inspectors", 3)));
        assert_eq!(split_index("notes"), None);
    }
}
