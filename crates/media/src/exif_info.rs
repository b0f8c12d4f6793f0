//! What the camera recorded: time, position and orientation, read with `kamadak-exif`.

use exif::{In, Tag, Value};

/// EXIF facts of a photo. Absent when the camera did not record them.
#[derive(Debug, Clone, PartialEq)]
pub struct ExifInfo {
    /// `YYYY-MM-DDTHH:MM:SS`, with `+HH:MM` when the camera recorded its offset.
    pub taken_at: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    /// Horizontal positioning error in metres (GPSHPositioningError).
    pub accuracy_m: Option<f64>,
    /// EXIF orientation 1-8 (1 = upright).
    pub orientation: u8,
}

impl Default for ExifInfo {
    fn default() -> Self {
        ExifInfo {
            taken_at: None,
            lat: None,
            lon: None,
            accuracy_m: None,
            orientation: 1,
        }
    }
}

impl ExifInfo {
    /// Reads the raw EXIF (TIFF) block a decoder returned; unreadable parts are left out.
    pub fn from_raw(raw: Vec<u8>) -> ExifInfo {
        match exif::Reader::new().read_raw(raw) {
            Ok(exif) => ExifInfo::from_exif(&exif),
            Err(_) => ExifInfo::default(),
        }
    }

    /// Reads the EXIF of a whole file (JPEG, PNG, WebP); unreadable parts are left out.
    pub fn from_file_bytes(bytes: &[u8]) -> ExifInfo {
        let mut cursor = std::io::Cursor::new(bytes);
        match exif::Reader::new().read_from_container(&mut cursor) {
            Ok(exif) => ExifInfo::from_exif(&exif),
            Err(_) => ExifInfo::default(),
        }
    }

    fn from_exif(exif: &exif::Exif) -> ExifInfo {
        let field = |tag| exif.get_field(tag, In::PRIMARY).map(|f| &f.value);
        let ascii = |tag| match field(tag) {
            Some(Value::Ascii(v)) => v.first().cloned(),
            _ => None,
        };
        let orientation = field(Tag::Orientation)
            .and_then(|v| v.get_uint(0))
            .and_then(|o| u8::try_from(o).ok())
            .filter(|o| (1..=8).contains(o))
            .unwrap_or(1);
        let taken_at = ascii(Tag::DateTimeOriginal)
            .or_else(|| ascii(Tag::DateTime))
            .and_then(|raw| {
                let mut dt = exif::DateTime::from_ascii(&raw).ok()?;
                if let Some(off) = ascii(Tag::OffsetTimeOriginal) {
                    let _ = dt.parse_offset(&off);
                }
                let mut s = format!(
                    "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                    dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second
                );
                if let Some(off) = dt.offset {
                    let sign = if off < 0 { '-' } else { '+' };
                    let off = off.unsigned_abs();
                    s.push_str(&format!("{sign}{:02}:{:02}", off / 60, off % 60));
                }
                Some(s)
            });
        let coord = |tag, reference, negative: &[u8]| {
            let Some(Value::Rational(parts)) = field(tag) else {
                return None;
            };
            if parts.len() < 3 || parts.iter().any(|p| p.denom == 0) {
                return None;
            }
            let v = parts[0].to_f64() + parts[1].to_f64() / 60.0 + parts[2].to_f64() / 3600.0;
            let negate =
                ascii(reference).is_some_and(|r| r.first().is_some_and(|c| negative.contains(c)));
            Some(if negate { -v } else { v })
        };
        let lat = coord(Tag::GPSLatitude, Tag::GPSLatitudeRef, b"S");
        let lon = coord(Tag::GPSLongitude, Tag::GPSLongitudeRef, b"W");
        let accuracy_m = match field(Tag::GPSHPositioningError) {
            Some(Value::Rational(r)) if r.first().is_some_and(|x| x.denom != 0) => {
                Some(r[0].to_f64())
            }
            _ => None,
        };
        ExifInfo {
            taken_at,
            lat: lat.filter(|l| (-90.0..=90.0).contains(l)),
            lon: lon.filter(|l| (-180.0..=180.0).contains(l)),
            accuracy_m,
            orientation,
        }
    }
}
