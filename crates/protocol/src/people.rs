//! People and devices: web login, enrollment of a device by a one-time code, device lists and
//! revocation, the audit log (docs/people.md). These endpoints speak JSON (`application/json`),
//! not frames: they are small, rare, and read by web pages and admins' scripts as well.

use jingtu_model::Role;
use serde::{Deserialize, Serialize};

/// The session cookie of a web login.
pub const SESSION_COOKIE: &str = "jingtu_session";
/// The header that must echo the session's CSRF token on every state-changing request that a
/// session cookie authenticates.
pub const HEADER_CSRF: &str = "x-csrf-token";
/// The app version of a device (`jingtu/0.3.1 android`); the server keeps the latest per device.
pub const HEADER_APP_VERSION: &str = "x-jingtu-app-version";

/// The alphabet of enrollment codes: Crockford's base 32 (no I, L, O, U), so a code read aloud
/// or typed from paper is not mistaken.
pub const ENROLLMENT_CODE_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Characters of an enrollment code (16 × 5 = 80 random bits), shown as 4 groups of 4.
pub const ENROLLMENT_CODE_LEN: usize = 16;

/// The canonical form of a typed or scanned enrollment code: upper case, without separators
/// (`-`, spaces), with the look-alikes a person may type mapped as Crockford does (`O` → `0`,
/// `I`/`L` → `1`). `None` when it is not 16 characters of the alphabet.
pub fn normalize_enrollment_code(typed: &str) -> Option<String> {
    let mut out = String::with_capacity(ENROLLMENT_CODE_LEN);
    for c in typed.chars() {
        if c == '-' || c.is_whitespace() {
            continue;
        }
        let c = match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            c => c,
        };
        if !c.is_ascii() || !ENROLLMENT_CODE_ALPHABET.contains(&(c as u8)) {
            return None;
        }
        if out.len() == ENROLLMENT_CODE_LEN {
            return None;
        }
        out.push(c);
    }
    (out.len() == ENROLLMENT_CODE_LEN).then_some(out)
}

/// A canonical code shown as `ABCD-EFGH-JKMN-PQRS`.
pub fn format_enrollment_code(canonical: &str) -> String {
    let mut out = String::with_capacity(canonical.len() + 3);
    for (i, c) in canonical.chars().enumerate() {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        out.push(c);
    }
    out
}

/// What an enrollment QR code holds: `jingtu://enroll?server=<URL, percent-encoded>&code=<CODE>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrollPayload {
    pub server: String,
    pub code: String,
}

impl EnrollPayload {
    pub const PREFIX: &'static str = "jingtu://enroll?";

    pub fn to_uri(&self) -> String {
        format!(
            "{}server={}&code={}",
            Self::PREFIX,
            percent_encode(&self.server),
            percent_encode(&self.code)
        )
    }

    /// Reads a scanned payload; `None` when it is not one (the code is normalized).
    pub fn parse(uri: &str) -> Option<EnrollPayload> {
        let query = uri.trim().strip_prefix(Self::PREFIX)?;
        let mut server = None;
        let mut code = None;
        for pair in query.split('&') {
            let (k, v) = pair.split_once('=')?;
            let v = percent_decode(v)?;
            match k {
                "server" => server = Some(v),
                "code" => code = Some(normalize_enrollment_code(&v)?),
                _ => {}
            }
        }
        let server = server?;
        if !(server.starts_with("http://") || server.starts_with("https://")) {
            return None;
        }
        Some(EnrollPayload {
            server,
            code: code?,
        })
    }
}

/// Percent-encodes every byte but ASCII letters, digits and `-._~` (RFC 3986 unreserved).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// `POST /v1/login`: a supervisor's or admin's web login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginRequest {
    pub user: String,
    pub password: String,
}

/// The answer to a login; the session itself is the `jingtu_session` cookie.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginResponse {
    pub user: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "supervisor"))]
    pub role: Role,
    pub org_units: Vec<String>,
    /// Send it back as `X-CSRF-Token` with every state-changing request of this session.
    pub csrf_token: String,
    pub expires_at_ms: i64,
}

/// `POST /v1/enrollment-codes`: a one-time code for one of the issuer's users.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnrollmentCodeRequest {
    pub user: String,
    /// Seconds until the code expires; the server's default (24 h) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_s: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnrollmentCodeResponse {
    /// The code's id (not the code): names its QR image.
    pub id: i64,
    /// The code, `ABCD-EFGH-JKMN-PQRS`; shown once, the server keeps only its hash.
    pub code: String,
    pub user: String,
    pub expires_at_ms: i64,
    /// What the QR code holds: `jingtu://enroll?server=...&code=...`.
    pub payload: String,
    /// The QR code as an SVG document.
    pub qr_svg: String,
    /// Where the issuer fetches the QR code as PNG while the code is unused.
    pub qr_png_path: String,
}

/// `POST /v1/enroll`: a device exchanges a code for its device token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnrollRequest {
    pub code: String,
    /// The device's id: its Automerge actor id, hex (what it sends as `device` in sync).
    pub device_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_version: Option<String>,
    /// The ed25519 public key (64 hex digits) the device signs custody events with; the
    /// server takes custody events from this device only when they carry it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_key: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnrollResponse {
    /// The device token (`Authorization: Bearer ...`); shown once.
    pub token: String,
    /// The device's id on the server (the token's id, for lists and revocation).
    pub device: i64,
    pub user: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "inspector"))]
    pub role: Role,
    pub org_units: Vec<String>,
    pub server_time_ms: i64,
}

/// A device (a device token) as the server knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceInfo {
    pub id: i64,
    pub user: String,
    /// The device's actor id, when it enrolled by code (tokens issued by hand have none).
    pub device_id: Option<String>,
    pub label: Option<String>,
    pub app_version: Option<String>,
    pub created_at_ms: i64,
    pub last_seen_ms: Option<i64>,
    pub revoked_at_ms: Option<i64>,
}

/// `GET /v1/devices`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceList {
    pub devices: Vec<DeviceInfo>,
}

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditRecord {
    pub id: i64,
    pub at_ms: i64,
    /// A user name, `system` (the admin command line) or `anonymous`.
    pub actor: String,
    /// The device token the actor used, if any.
    pub device: Option<i64>,
    /// The device's actor id, if known.
    pub device_id: Option<String>,
    pub remote_addr: Option<String>,
    /// `enroll`, `enroll_refused`, `login`, `login_failed`, `login_locked`, `logout`,
    /// `token_issued`, `token_revoked`, `token_refused`, `device_revoked`,
    /// `enrollment_code_issued`, `user_created`, `user_disabled`, `password_set`, `org_import`,
    /// `user_changed`, `push_refused`, `review_action` (a supervisor approved, returned or
    /// reopened a record), `catalog_published`.
    pub action: String,
    pub target: Option<String>,
    /// `ok` or `refused`.
    pub outcome: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub detail: serde_json::Value,
}

/// `GET /v1/audit`, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditList {
    pub entries: Vec<AuditRecord>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_normalize_from_what_people_type() {
        let c = "ABCD-EFGH-JKMN-PQRS";
        let n = normalize_enrollment_code(c).unwrap();
        assert_eq!(n, "ABCDEFGHJKMNPQRS");
        assert_eq!(format_enrollment_code(&n), c);
        assert_eq!(
            normalize_enrollment_code("abcd efgh jkmn pqrs").unwrap(),
            n,
            "lower case and spaces"
        );
        assert_eq!(
            normalize_enrollment_code("O1IL-0000-0000-0000").unwrap(),
            "0111000000000000"
        );
        assert_eq!(
            normalize_enrollment_code("ABCD-EFGH-JKMN-PQR"),
            None,
            "short"
        );
        assert_eq!(
            normalize_enrollment_code("ABCD-EFGH-JKMN-PQRSX"),
            None,
            "long"
        );
        assert_eq!(normalize_enrollment_code("ABCD-EFGH-JKMN-PQRU"), None, "U");
        assert_eq!(normalize_enrollment_code("ABCD-EFGH-JKMN-PQR净"), None);
    }

    #[test]
    fn payloads_round_trip_and_refuse_strangers() {
        let p = EnrollPayload {
            server: "https://jingtu.example.gov.cn:8443/a b?x=1&y".into(),
            code: "ABCDEFGHJKMNPQRS".into(),
        };
        let uri = p.to_uri();
        assert!(
            uri.starts_with("jingtu://enroll?server=https%3A%2F%2F"),
            "{uri}"
        );
        assert!(uri.ends_with("&code=ABCDEFGHJKMNPQRS"), "{uri}");
        assert_eq!(EnrollPayload::parse(&uri), Some(p));
        assert_eq!(
            EnrollPayload::parse("jingtu://enroll?server=http%3A%2F%2Fh&code=abcd-efgh-jkmn-pqrs")
                .unwrap()
                .code,
            "ABCDEFGHJKMNPQRS"
        );
        for bad in [
            "https://enroll?server=http%3A%2F%2Fh&code=ABCDEFGHJKMNPQRS",
            "jingtu://enroll?server=ftp%3A%2F%2Fh&code=ABCDEFGHJKMNPQRS",
            "jingtu://enroll?server=http%3A%2F%2Fh",
            "jingtu://enroll?server=http%3A%2F%2Fh&code=SHORT",
            "jingtu://enroll?server=http%3A%2F%2Fh%G1&code=ABCDEFGHJKMNPQRS",
            "jingtu://enroll?server",
        ] {
            assert_eq!(EnrollPayload::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn wire_types_are_plain_json() {
        let r = EnrollResponse {
            token: "jt_x".into(),
            device: 3,
            user: "张三".into(),
            role: Role::Inspector,
            org_units: vec!["411321100201".into()],
            server_time_ms: 1,
        };
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["role"], "inspector");
        assert_eq!(serde_json::from_value::<EnrollResponse>(v).unwrap(), r);
        let q: EnrollRequest = serde_json::from_str(r#"{"code":"x","device_id":"ab"}"#).unwrap();
        assert_eq!(q.device_label, None);
    }
}
