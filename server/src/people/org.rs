//! Org units: the administrative tree province > city > county > township > village, named by
//! the 12-digit statistical division codes (统计用区划代码). The code says the level: a province
//! ends in 10 zeros, a city in 8, a county in 6, a township in 3, a village in none of these.
//! A unit's parent is its code cut to the level above and padded with zeros again
//! (`411321100201` → `411321100000` → `411321000000` → `411300000000` → `410000000000`); where
//! a level is skipped (a town directly under a city without counties, as in 东莞市), that cut is
//! the next unit up all the same.
//!
//! So the tree is in the codes themselves: a unit lies within another when its code starts
//! with the other's significant digits ([`is_within`]). The server stores the parent links as
//! well, checked against this rule at import, and reads subtrees as a range of the code key.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The digits of a level's own part end here (province 2, city 4, county 6, township 9,
/// village 12).
const SIGNIFICANT: [usize; 5] = [2, 4, 6, 9, 12];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrgLevel {
    /// 省
    Province,
    /// 市
    City,
    /// 县
    County,
    /// 乡镇
    Township,
    /// 村
    Village,
}

impl OrgLevel {
    pub const ALL: [OrgLevel; 5] = [
        OrgLevel::Province,
        OrgLevel::City,
        OrgLevel::County,
        OrgLevel::Township,
        OrgLevel::Village,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrgLevel::Province => "province",
            OrgLevel::City => "city",
            OrgLevel::County => "county",
            OrgLevel::Township => "township",
            OrgLevel::Village => "village",
        }
    }

    /// Reads `province` ... `village`, or the Chinese names (省, 市, 县, 乡镇, 村 and the usual
    /// variants).
    pub fn parse(s: &str) -> Option<OrgLevel> {
        let s = s.trim();
        OrgLevel::ALL
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(s))
            .or(match s {
                "省" | "省级" => Some(OrgLevel::Province),
                "市" | "地级" | "市级" => Some(OrgLevel::City),
                "县" | "区" | "县级" | "县区" => Some(OrgLevel::County),
                "乡" | "镇" | "乡镇" | "街道" | "乡级" => Some(OrgLevel::Township),
                "村" | "社区" | "村级" => Some(OrgLevel::Village),
                _ => None,
            })
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            OrgLevel::Province => "省",
            OrgLevel::City => "市",
            OrgLevel::County => "县",
            OrgLevel::Township => "乡镇",
            OrgLevel::Village => "村",
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    /// How many leading digits are this level's and its ancestors'.
    pub fn significant_digits(self) -> usize {
        SIGNIFICANT[self.index()]
    }
}

impl std::fmt::Display for OrgLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a code or a unit is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OrgError {
    #[error("'{0}' is not a division code: it must be exactly 12 digits")]
    NotACode(String),
    #[error("'{code}' is a {shape} code, not a {given} one")]
    LevelMismatch {
        code: String,
        shape: OrgLevel,
        given: OrgLevel,
    },
    #[error("'{0}' is not a level (province, city, county, township, village)")]
    UnknownLevel(String),
    #[error("the parent of {code} is {expected} (its code cut to the level above), not {given}")]
    WrongParent {
        code: String,
        expected: String,
        given: String,
    },
    #[error("{0} is a province: it has no parent")]
    ProvinceWithParent(String),
    #[error("a unit needs a name")]
    NoName,
    #[error("the name is longer than 100 characters")]
    NameTooLong,
}

/// Checks that `code` is exactly 12 ASCII digits and not all zeros, and returns its level by
/// its shape.
pub fn level_of(code: &str) -> Result<OrgLevel, OrgError> {
    let b = code.as_bytes();
    if b.len() != 12 || !b.iter().all(u8::is_ascii_digit) || b[..2] == *b"00" {
        return Err(OrgError::NotACode(code.to_string()));
    }
    let zeros_from = |i: usize| b[i..].iter().all(|&d| d == b'0');
    Ok(if zeros_from(2) {
        OrgLevel::Province
    } else if zeros_from(4) {
        OrgLevel::City
    } else if zeros_from(6) {
        OrgLevel::County
    } else if zeros_from(9) {
        OrgLevel::Township
    } else {
        OrgLevel::Village
    })
}

/// The code of the unit above (none for a province). `code` must be a valid code.
pub fn parent_of(code: &str) -> Result<Option<String>, OrgError> {
    let level = level_of(code)?;
    if level == OrgLevel::Province {
        return Ok(None);
    }
    let keep = SIGNIFICANT[level.index() - 1];
    Ok(Some(format!("{}{}", &code[..keep], "0".repeat(12 - keep))))
}

/// The digits every code within this unit starts with (`411321000000` → `411321`).
pub fn prefix_of(code: &str) -> Result<&str, OrgError> {
    let level = level_of(code)?;
    Ok(&code[..level.significant_digits()])
}

/// Does `code` lie within `ancestor` (or is it `ancestor`)? False when either is not a code.
pub fn is_within(code: &str, ancestor: &str) -> bool {
    match (level_of(code), prefix_of(ancestor)) {
        (Ok(_), Ok(prefix)) => code.starts_with(prefix),
        _ => false,
    }
}

/// Does `code` lie within any of `units`?
pub fn within_any(code: &str, units: &[String]) -> bool {
    units.iter().any(|u| is_within(code, u))
}

/// An org unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgUnit {
    pub code: String,
    pub name: String,
    pub level: OrgLevel,
    /// None only for a province.
    pub parent: Option<String>,
}

impl OrgUnit {
    /// A unit from its code and name, with the level and parent derived from the code; a given
    /// level or parent must agree with them.
    pub fn new(
        code: &str,
        name: &str,
        level: Option<&str>,
        parent: Option<&str>,
    ) -> Result<OrgUnit, OrgError> {
        let code = code.trim();
        let shape = level_of(code)?;
        if let Some(given) = level.map(str::trim).filter(|l| !l.is_empty()) {
            let given =
                OrgLevel::parse(given).ok_or_else(|| OrgError::UnknownLevel(given.into()))?;
            if given != shape {
                return Err(OrgError::LevelMismatch {
                    code: code.into(),
                    shape,
                    given,
                });
            }
        }
        let expected = parent_of(code)?;
        if let Some(given) = parent.map(str::trim).filter(|p| !p.is_empty()) {
            match &expected {
                None => return Err(OrgError::ProvinceWithParent(code.into())),
                Some(e) if e != given => {
                    return Err(OrgError::WrongParent {
                        code: code.into(),
                        expected: e.clone(),
                        given: given.into(),
                    });
                }
                Some(_) => {}
            }
        }
        let name = name.trim();
        if name.is_empty() {
            return Err(OrgError::NoName);
        }
        if name.chars().count() > 100 {
            return Err(OrgError::NameTooLong);
        }
        Ok(OrgUnit {
            code: code.into(),
            name: name.into(),
            level: shape,
            parent: expected,
        })
    }
}

/// A line of an org unit file that cannot be imported.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("line {line}: {message}")]
pub struct CsvError {
    /// 1-based, counting the header.
    pub line: u64,
    pub message: String,
}

/// Reads an org unit file: UTF-8 CSV (a byte-order mark is allowed) with the header
/// `code,name,level,parent`, where `level` and `parent` may be empty (or left out) and are
/// derived from the code. Every unit is checked on its own here; a code twice in the file is an
/// error. Returns the units with their line numbers, in file order.
pub fn read_csv(mut reader: impl std::io::Read) -> Result<Vec<(u64, OrgUnit)>, CsvError> {
    let mut text = Vec::new();
    reader.read_to_end(&mut text).map_err(|e| CsvError {
        line: 0,
        message: e.to_string(),
    })?;
    // Lines by byte offset (the csv reader's own line count leaves out blank lines, and a
    // record's position is where the blank lines before it start).
    let line_at = |byte: u64| {
        let mut end = (byte as usize).min(text.len());
        while end < text.len() && matches!(text[end], b'\n' | b'\r') {
            end += 1;
        }
        1 + text[..end].iter().filter(|&&b| b == b'\n').count() as u64
    };
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(&text[..]);
    let headers = rdr
        .headers()
        .map_err(|e| CsvError {
            line: 1,
            message: e.to_string(),
        })?
        .clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim_start_matches('\u{feff}').eq_ignore_ascii_case(name))
    };
    let (Some(code_col), Some(name_col)) = (column("code"), column("name")) else {
        return Err(CsvError {
            line: 1,
            message: "the header must be code,name,level,parent".into(),
        });
    };
    let (level_col, parent_col) = (column("level"), column("parent"));
    let mut out: Vec<(u64, OrgUnit)> = Vec::new();
    let mut seen = std::collections::HashMap::new();
    let mut record = csv::StringRecord::new();
    loop {
        let start = rdr.position().byte();
        match rdr.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                return Err(CsvError {
                    line: e
                        .position()
                        .map(|p| line_at(p.byte()))
                        .unwrap_or(line_at(start)),
                    message: e.to_string(),
                });
            }
        }
        let line = record
            .position()
            .map(|p| line_at(p.byte()))
            .unwrap_or(line_at(start));
        if record.iter().all(str::is_empty) {
            continue;
        }
        let field = |col: Option<usize>| col.and_then(|c| record.get(c));
        let unit = OrgUnit::new(
            field(Some(code_col)).unwrap_or(""),
            field(Some(name_col)).unwrap_or(""),
            field(level_col),
            field(parent_col),
        )
        .map_err(|e| CsvError {
            line,
            message: e.to_string(),
        })?;
        if let Some(first) = seen.insert(unit.code.clone(), line) {
            return Err(CsvError {
                line,
                message: format!("{} is on line {first} already", unit.code),
            });
        }
        out.push((line, unit));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_says_the_level_and_the_parent() {
        let cases = [
            ("410000000000", OrgLevel::Province, None),
            ("411300000000", OrgLevel::City, Some("410000000000")),
            ("411321000000", OrgLevel::County, Some("411300000000")),
            ("411321100000", OrgLevel::Township, Some("411321000000")),
            ("411321100201", OrgLevel::Village, Some("411321100000")),
            // 东莞市: towns directly under the city.
            ("441900003000", OrgLevel::Township, Some("441900000000")),
        ];
        for (code, level, parent) in cases {
            assert_eq!(level_of(code).unwrap(), level, "{code}");
            assert_eq!(parent_of(code).unwrap().as_deref(), parent, "{code}");
        }
        for bad in [
            "",
            "41132110020",
            "4113211002011",
            "41132110020x",
            "000000000000",
            "４１１３２１１００２０１",
        ] {
            assert!(matches!(level_of(bad), Err(OrgError::NotACode(_))), "{bad}");
        }
    }

    #[test]
    fn within_follows_the_prefixes() {
        assert!(is_within("411321100201", "411321000000"));
        assert!(is_within("411321100201", "410000000000"));
        assert!(
            is_within("411321000000", "411321000000"),
            "a unit is within itself"
        );
        assert!(!is_within("411322100201", "411321000000"));
        assert!(!is_within("411321000000", "411321100000"), "not upwards");
        assert!(is_within("441900003000", "441900000000"));
        assert!(!is_within("411321100201", "bogus"));
        assert!(within_any(
            "411321100201",
            &["411322000000".into(), "411321100000".into()]
        ));
        assert!(!within_any("411321100201", &[]));
    }

    #[test]
    fn units_agree_with_their_codes() {
        let u = OrgUnit::new("411321100201", " 云阳村 ", None, Some("")).unwrap();
        assert_eq!(u.level, OrgLevel::Village);
        assert_eq!(u.parent.as_deref(), Some("411321100000"));
        assert_eq!(u.name, "云阳村");
        assert!(OrgUnit::new("411321100201", "x", Some("村"), Some("411321100000")).is_ok());
        assert!(matches!(
            OrgUnit::new("411321100201", "x", Some("county"), None),
            Err(OrgError::LevelMismatch { .. })
        ));
        assert!(matches!(
            OrgUnit::new("411321100201", "x", Some("hamlet"), None),
            Err(OrgError::UnknownLevel(_))
        ));
        assert!(matches!(
            OrgUnit::new("411321100201", "x", None, Some("411321000000")),
            Err(OrgError::WrongParent { .. })
        ));
        assert!(matches!(
            OrgUnit::new("410000000000", "河南省", None, Some("400000000000")),
            Err(OrgError::ProvinceWithParent(_))
        ));
        assert_eq!(
            OrgUnit::new("410000000000", " ", None, None),
            Err(OrgError::NoName)
        );
    }

    #[test]
    fn csv_files_name_the_bad_line() {
        let good = "\u{feff}code,name,level,parent\n410000000000,河南省,,\n411300000000,南阳市,city,410000000000\n\n411321000000,南召县\n";
        let units = read_csv(good.as_bytes()).unwrap();
        assert_eq!(units.len(), 3);
        assert_eq!(
            units[2].0, 5,
            "line numbers count the header and blank lines"
        );
        assert_eq!(units[2].1.parent.as_deref(), Some("411300000000"));

        let bad = "code,name\n410000000000,河南省\n41130000000,南阳市\n";
        let e = read_csv(bad.as_bytes()).unwrap_err();
        assert_eq!(e.line, 3, "{e}");
        assert!(e.to_string().contains("12 digits"), "{e}");

        let twice = "code,name\n410000000000,河南省\n410000000000,河南\n";
        assert_eq!(read_csv(twice.as_bytes()).unwrap_err().line, 3);

        let no_header = "编码,名称\n410000000000,河南省\n";
        assert_eq!(read_csv(no_header.as_bytes()).unwrap_err().line, 1);
    }
}
