//! People and devices, apart from storage and HTTP: org unit codes ([`org`]), password hashes
//! (argon2id), secrets (tokens, session ids, enrollment codes) and their constant-time
//! comparison, enrollment QR codes, and the small parsers the admin commands share.

pub mod org;
pub mod service;

use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use jingtu_protocol::{ENROLLMENT_CODE_ALPHABET, ENROLLMENT_CODE_LEN, EnrollPayload};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum PeopleError {
    #[error("a password has 8 to 1024 characters")]
    PasswordLength,
    #[error("hashing the password failed: {0}")]
    Hash(String),
    #[error("a user name has 1 to 100 characters, without control characters")]
    BadUserName,
    #[error("'{0}' is not a duration (e.g. 30m, 24h, 7d)")]
    BadDuration(String),
    #[error("the QR code cannot be made: {0}")]
    Qr(String),
}

/// Milliseconds since 1970.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// SHA-256 of a secret, hex: how tokens, session ids and enrollment codes are stored. They are
/// at least 80 random bits, so a fast hash is enough (a password gets argon2id).
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Compares two secrets (or their hashes) in time that does not depend on where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// `bytes` random bytes, hex.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::fill(&mut buf[..]);
    hex::encode(buf)
}

/// A new enrollment code in its canonical form: 16 characters of the Crockford alphabet, 80
/// random bits (show it with `jingtu_protocol::format_enrollment_code`).
pub fn new_enrollment_code() -> String {
    let mut buf = [0u8; ENROLLMENT_CODE_LEN];
    rand::fill(&mut buf[..]);
    buf.iter()
        .map(|b| ENROLLMENT_CODE_ALPHABET[(b & 31) as usize] as char)
        .collect()
}

/// Checks a user name (trimmed: 1 to 100 characters, no control characters).
pub fn check_user_name(name: &str) -> Result<&str, PeopleError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(PeopleError::BadUserName);
    }
    Ok(name)
}

/// An argon2id hash (PHC string, RustCrypto's default parameters: 19 MiB, 2 passes) of a
/// password of 8 to 1024 characters.
pub fn hash_password(password: &str) -> Result<String, PeopleError> {
    let n = password.chars().count();
    if !(8..=1024).contains(&n) {
        return Err(PeopleError::PasswordLength);
    }
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| PeopleError::Hash(e.to_string()))
}

/// Does `password` match the stored hash? With no hash (an unknown user, or one without a
/// password) a hash of a random password is checked instead, so the answer takes as long.
pub fn verify_password(password: &str, stored: Option<&str>) -> bool {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let dummy = DUMMY.get_or_init(|| {
        Argon2::default()
            .hash_password(random_hex(16).as_bytes())
            .map(|h| h.to_string())
            .unwrap_or_default()
    });
    if password.len() > 4096 {
        return false;
    }
    let ok = Argon2::default()
        .verify_password(password.as_bytes(), stored.unwrap_or(dummy.as_str()))
        .is_ok();
    ok && stored.is_some()
}

/// Reads `90s`, `30m`, `24h`, `7d` (a bare number is seconds).
pub fn parse_duration(s: &str) -> Result<Duration, PeopleError> {
    let t = s.trim();
    let bad = || PeopleError::BadDuration(s.to_string());
    let (num, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let n: u64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => Some(n),
        "m" | "min" => n.checked_mul(60),
        "h" => n.checked_mul(3600),
        "d" => n.checked_mul(86_400),
        _ => None,
    }
    .ok_or_else(bad)?;
    Ok(Duration::from_secs(secs))
}

/// The QR code of an enrollment payload.
pub struct EnrollQr {
    code: qrcode::QrCode,
}

impl EnrollQr {
    /// The QR code of `jingtu://enroll?server=URL&code=CODE` (error correction M: it survives
    /// a smudged printout and stays small).
    pub fn new(payload: &EnrollPayload) -> Result<EnrollQr, PeopleError> {
        let code = qrcode::QrCode::with_error_correction_level(
            payload.to_uri().as_bytes(),
            qrcode::EcLevel::M,
        )
        .map_err(|e| PeopleError::Qr(e.to_string()))?;
        Ok(EnrollQr { code })
    }

    /// An SVG document, at least 256 px wide.
    pub fn svg(&self) -> String {
        self.code
            .render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(256, 256)
            .build()
    }

    /// A PNG image (8-bit grey), at least 384 px wide.
    pub fn png(&self) -> Result<Vec<u8>, PeopleError> {
        let img = self
            .code
            .render::<image::Luma<u8>>()
            .min_dimensions(384, 384)
            .build();
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png)
            .map_err(|e| PeopleError::Qr(e.to_string()))?;
        Ok(out.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_themselves() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("correct horse", Some(&h)));
        assert!(!verify_password("correct hors", Some(&h)));
        assert!(!verify_password("correct horse", None));
        assert!(!verify_password("x", Some("not a hash")));
        assert!(matches!(
            hash_password("short"),
            Err(PeopleError::PasswordLength)
        ));
    }

    #[test]
    fn codes_are_random_and_canonical() {
        let a = new_enrollment_code();
        let b = new_enrollment_code();
        assert_ne!(a, b);
        assert_eq!(
            jingtu_protocol::normalize_enrollment_code(&a).as_deref(),
            Some(a.as_str())
        );
        assert!(same_secret(&secret_hash(&a), &secret_hash(&a)));
        assert!(!same_secret(&secret_hash(&a), &secret_hash(&b)));
        assert!(!same_secret("ab", "abc"));
    }

    #[test]
    fn durations_and_names() {
        assert_eq!(parse_duration("24h").unwrap(), Duration::from_secs(86_400));
        assert_eq!(parse_duration("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(parse_duration("7d").unwrap(), Duration::from_secs(604_800));
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        for bad in ["", "h", "1w", "-1h", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(check_user_name(" 张三 ").unwrap(), "张三");
        assert!(check_user_name("  ").is_err());
        assert!(check_user_name("a\nb").is_err());
        assert!(check_user_name(&"长".repeat(101)).is_err());
    }

    #[test]
    fn qr_codes_render_as_png_and_svg() {
        let qr = EnrollQr::new(&EnrollPayload {
            server: "https://jingtu.example.gov.cn".into(),
            code: new_enrollment_code(),
        })
        .unwrap();
        let png = qr.png().unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let decoded = image::load_from_memory(&png).unwrap();
        assert!(decoded.width() >= 384);
        let svg = qr.svg();
        assert!(svg.contains("<svg") && svg.contains("</svg>"), "{svg}");
    }
}
