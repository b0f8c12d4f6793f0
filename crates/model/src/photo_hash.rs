//! The name of a photo: its SHA-256, as 64 lowercase hex digits. Photos travel and are stored
//! by this name; one that enters from outside (an HTTP path, another device's record, a file)
//! is checked once, when a [`PhotoHash`] is made of it, and never sliced unchecked after.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A photo's SHA-256 in lowercase hex: checked when made.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PhotoHash(String);

impl PhotoHash {
    /// The hash named by `s`, if `s` is 64 lowercase hex digits.
    pub fn parse(s: &str) -> Option<PhotoHash> {
        PhotoHash::is_valid(s).then(|| PhotoHash(s.to_string()))
    }

    /// Is `s` 64 lowercase hex digits?
    pub fn is_valid(s: &str) -> bool {
        s.len() == 64
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    }

    /// The hash of `bytes`, made from its 32 bytes of digest.
    pub fn from_digest(digest: &[u8; 32]) -> PhotoHash {
        PhotoHash(digest.iter().map(|b| format!("{b:02x}")).collect())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first two hex digits: the folder a photo store shards it into.
    pub fn shard(&self) -> &str {
        &self.0[..2]
    }
}

impl fmt::Display for PhotoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A checked hash reads as the text it is.
impl std::ops::Deref for PhotoHash {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for PhotoHash {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for PhotoHash {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for PhotoHash {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

impl PartialEq<PhotoHash> for String {
    fn eq(&self, other: &PhotoHash) -> bool {
        *self == other.0
    }
}

impl AsRef<str> for PhotoHash {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PhotoHash {
    type Error = String;

    fn try_from(s: String) -> Result<PhotoHash, String> {
        if PhotoHash::is_valid(&s) {
            Ok(PhotoHash(s))
        } else {
            Err(format!(
                "a photo is named by its SHA-256 as 64 lowercase hex digits, not {:?}",
                s.chars().take(80).collect::<String>()
            ))
        }
    }
}

impl From<PhotoHash> for String {
    fn from(h: PhotoHash) -> String {
        h.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_64_lowercase_hex_digits_name_a_photo() {
        let good = "ab".repeat(32);
        assert_eq!(PhotoHash::parse(&good).unwrap().shard(), "ab");
        for bad in [
            "",
            "ab",
            &"AB".repeat(32),
            &"g0".repeat(32),
            &"ab".repeat(33),
            "é".repeat(32).as_str(),
            &format!("{}/..", "a".repeat(61)),
        ] {
            assert!(PhotoHash::parse(bad).is_none(), "{bad:?}");
            assert!(serde_json::from_value::<PhotoHash>(serde_json::json!(bad)).is_err());
        }
        assert_eq!(PhotoHash::from_digest(&[0xab; 32]).as_str(), good);
        let back: PhotoHash = serde_json::from_value(serde_json::json!(good)).unwrap();
        assert_eq!(back.as_str(), good);
    }
}
