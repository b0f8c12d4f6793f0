//! Evidence photos: ingest (jingtu-media), store the bytes once (jingtu-store) and add an entry
//! to the record (jingtu-doc) in one transaction; list, read, remove.

use std::path::Path;

use jingtu_doc::PhotoEntry;
use jingtu_media::{IngestOptions, Ingested};
use jingtu_model::{FieldKind, FieldPath, Label, PHOTO_TYPE_TABLE, Template};
use jingtu_store::PhotoBlob;

use crate::CoreError;
use crate::cache::Touched;
use crate::core::{DeviceCore, now_ms};
use crate::view::RecordPhoto;

/// Where the photo comes from.
#[derive(Debug, Clone, Copy)]
pub enum PhotoSource<'a> {
    /// The camera's file (JPEG, PNG or WebP) as bytes.
    Bytes(&'a [u8]),
    /// A file on the device.
    Path(&'a Path),
}

/// What the app knows about a photo it adds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewPhoto {
    /// A code of the `photo_type` table (`landscape_e`, `sample_bag`, `before`...).
    pub tag: String,
    /// The data field the photo proves: a photo list (`checklist.clean_garbage.photos`), an
    /// object with a `photos` list (`checklist.clean_garbage`), or any other field. `None`: a
    /// photo of the whole record (the soil point's landscapes).
    pub field: Option<String>,
    pub note: Option<String>,
    /// The phone's position fix at capture, used when given; otherwise the photo's own GPS.
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub accuracy_m: Option<f64>,
    /// Capture time from the app, used when the photo carries no camera time.
    pub taken_at_ms: Option<i64>,
    /// Burn in the evidence stamp; `None`: the template's default (on for soil samples and
    /// water-body checks).
    pub stamp: Option<bool>,
}

/// Checks what the app says of a new photo: a position within range and given whole, an
/// accuracy in metres, a note of bounded size.
fn check_new_photo(photo: &NewPhoto) -> Result<(), CoreError> {
    check_coordinate("lat", photo.lat, 90.0)?;
    check_coordinate("lon", photo.lon, 180.0)?;
    if photo.lat.is_some() != photo.lon.is_some() {
        return Err(CoreError::InvalidValue {
            path: "photo.lat".into(),
            reason: "give both latitude and longitude, or neither".into(),
        });
    }
    if let Some(a) = photo.accuracy_m
        && !(a.is_finite() && (0.0..=100_000.0).contains(&a))
    {
        return Err(CoreError::InvalidValue {
            path: "photo.accuracy_m".into(),
            reason: format!("{a} is not an accuracy in metres"),
        });
    }
    if let Some(n) = &photo.note
        && n.len() > 4096
    {
        return Err(CoreError::InvalidValue {
            path: "photo.note".into(),
            reason: "a note of at most 4096 bytes".into(),
        });
    }
    Ok(())
}

/// When and where a photo was taken, and who says so.
struct PhotoOrigin {
    taken_at_ms: i64,
    time_source: &'static str,
    lat: Option<f64>,
    lon: Option<f64>,
    accuracy_m: Option<f64>,
    position_source: Option<&'static str>,
}

/// The camera's time (EXIF) before the device's, the device's position fix before the
/// camera's; `now` when neither gives a time.
fn photo_origin(exif: &jingtu_media::ExifInfo, photo: &NewPhoto, now: i64) -> PhotoOrigin {
    let camera_time = exif.taken_at.as_deref().and_then(exif_time_ms);
    let (taken_at_ms, time_source) = match (camera_time, photo.taken_at_ms) {
        (Some(t), _) => (t, "camera"),
        (None, Some(t)) => (t, "device"),
        (None, None) => (now, "device"),
    };
    let (lat, lon, accuracy_m, position_source) = match (photo.lat, photo.lon) {
        (Some(lat), Some(lon)) => (Some(lat), Some(lon), photo.accuracy_m, Some("device")),
        _ => match (exif.lat, exif.lon) {
            (Some(lat), Some(lon)) => (Some(lat), Some(lon), exif.accuracy_m, Some("camera")),
            _ => (None, None, None, None),
        },
    };
    PhotoOrigin {
        taken_at_ms,
        time_source,
        lat,
        lon,
        accuracy_m,
        position_source,
    }
}

fn check_coordinate(name: &str, v: Option<f64>, range: f64) -> Result<(), CoreError> {
    match v {
        Some(x) if !x.is_finite() || x.abs() > range => Err(CoreError::InvalidValue {
            path: format!("photo.{name}"),
            reason: format!("{x} is not within ±{range}"),
        }),
        _ => Ok(()),
    }
}

/// Parses EXIF `YYYY-MM-DDTHH:MM:SS[+HH:MM]`; without an offset the camera's local time is
/// taken as China Standard Time (UTC+8), where jingtu is used.
fn exif_time_ms(s: &str) -> Option<i64> {
    use time::macros::format_description;
    let fmt = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    let (local, offset) = match s.get(19..) {
        Some(off) if !off.is_empty() => (&s[..19], off),
        _ => (s, "+08:00"),
    };
    let dt = time::PrimitiveDateTime::parse(local, &fmt).ok()?;
    let off = time::UtcOffset::parse(
        offset,
        &format_description!("[offset_hour sign:mandatory]:[offset_minute]"),
    )
    .ok()?;
    Some((dt.assume_offset(off).unix_timestamp_nanos() / 1_000_000) as i64)
}

fn stamp_time(ms: i64) -> String {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000) else {
        return String::new();
    };
    let t = t.to_offset(time::macros::offset!(+8));
    let fmt =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] +08:00");
    t.format(&fmt).unwrap_or_default()
}

fn stamp_position(lat: f64, lon: f64, accuracy: Option<f64>) -> String {
    let ns = if lat >= 0.0 { 'N' } else { 'S' };
    let ew = if lon >= 0.0 { 'E' } else { 'W' };
    let mut s = format!("{ns} {:.6}  {ew} {:.6}", lat.abs(), lon.abs());
    if let Some(a) = accuracy {
        s.push_str(&format!("  +/-{a:.0} m"));
    }
    s
}

/// The list of photo ids a photo added to `field` goes into, if any.
fn photo_list(template: &Template, field: &FieldPath) -> Result<Option<FieldPath>, CoreError> {
    let def = template.field(field)?;
    let is_photo_list = |d: &jingtu_model::FieldDef| {
        d.kind == FieldKind::Array && d.widget.as_deref() == Some("photos")
    };
    if is_photo_list(def) {
        return Ok(Some(field.clone()));
    }
    if def.kind == FieldKind::Object
        && let Some(child) = def.child("photos")
        && is_photo_list(child)
    {
        return Ok(Some(field.child_key("photos")));
    }
    Ok(None)
}

impl DeviceCore {
    /// Ingests a photo (oriented, resized, stamped, re-encoded, thumbnailed) and adds it to
    /// the record: the bytes, the entry and the field's list are stored in one transaction.
    pub fn add_photo(
        &self,
        id: &str,
        source: PhotoSource<'_>,
        photo: &NewPhoto,
    ) -> Result<RecordPhoto, CoreError> {
        let tag_label = self.photo_tag_label(&photo.tag)?;
        check_new_photo(photo)?;
        // Check the record and the field before the costly ingest, without holding the lock
        // through it.
        let (template_stamp, label_line, list) = self.with_record(id, |c| {
            DeviceCore::editable(c)?;
            let field = photo.field.as_deref().map(FieldPath::parse).transpose()?;
            let list = match &field {
                Some(f) => photo_list(&c.template, f)?,
                None => None,
            };
            let point = c
                .meta
                .planned_point
                .clone()
                .or_else(|| {
                    let name = c.template.record_name(&c.data, &c.meta.id);
                    name.is_ascii().then_some(name)
                })
                .unwrap_or_else(|| c.meta.id[c.meta.id.len() - 12..].to_string());
            Ok((
                c.template.photos.stamp,
                format!("{point}  {}", photo.tag),
                list,
            ))
        })?;

        let now = now_ms();
        let stamp = photo.stamp.unwrap_or(template_stamp);
        // The stamp needs the time and position before ingest; the camera's EXIF is read first.
        let bytes_owned;
        let bytes: &[u8] = match source {
            PhotoSource::Bytes(b) => b,
            PhotoSource::Path(p) => {
                bytes_owned = read_photo_file(p)?;
                &bytes_owned
            }
        };
        let PhotoOrigin {
            taken_at_ms,
            time_source,
            lat,
            lon,
            accuracy_m,
            position_source,
        } = photo_origin(&jingtu_media::read_exif(bytes), photo, now);
        let mut options = IngestOptions::default();
        if stamp {
            let mut lines = vec![stamp_time(taken_at_ms)];
            if let (Some(lat), Some(lon)) = (lat, lon) {
                lines.push(stamp_position(lat, lon, accuracy_m));
            }
            lines.push(label_line);
            options.stamp = Some(lines);
        }
        let Ingested {
            sha256,
            stored,
            width,
            height,
            thumbnail,
            ..
        } = jingtu_media::ingest(bytes, &options)?;

        let by = self.editor();
        let hash = jingtu_model::PhotoHash::parse(&sha256)
            .ok_or_else(|| CoreError::InvalidState(format!("a malformed photo hash {sha256}")))?;
        let entry = PhotoEntry {
            id: uuid::Uuid::now_v7().to_string(),
            sha256: hash,
            tag: photo.tag.clone(),
            field: photo.field.clone(),
            list: list.as_ref().map(|l| l.to_string()),
            taken_at_ms,
            time_source: time_source.into(),
            lat,
            lon,
            accuracy_m,
            position_source: position_source.map(str::to_string),
            width,
            height,
            size: stored.len() as u64,
            note: photo.note.clone().filter(|n| !n.trim().is_empty()),
            stamped: stamp,
            author: by.author.clone(),
            device: self.device_id(),
            added_at_ms: now,
            removed: None,
        };
        let blob = PhotoBlob {
            sha256,
            bytes: stored,
            thumb: thumbnail,
            width,
            height,
        };
        self.edit_with_photo(id, Some(&blob), |c, by| {
            DeviceCore::editable(c)?;
            c.doc.add_photo(&c.template, &entry, by)?;
            Ok(((), Touched::Photos(list.clone())))
        })?;
        Ok(RecordPhoto {
            entry,
            tag_label,
            has_full: true,
            has_thumb: true,
        })
    }

    /// The record's photos, oldest first; removed ones only when `include_removed`.
    pub fn photos(&self, id: &str, include_removed: bool) -> Result<Vec<RecordPhoto>, CoreError> {
        let entries = self.with_record(id, |c| Ok(c.photos.clone()))?;
        entries
            .into_iter()
            .filter(|e| include_removed || e.removed.is_none())
            .map(|e| self.record_photo(e))
            .collect()
    }

    pub(crate) fn record_photo(&self, entry: PhotoEntry) -> Result<RecordPhoto, CoreError> {
        let info = self.store.photo_info(entry.sha256.as_str())?;
        let tag_label = self
            .photo_tag_label(&entry.tag)
            .unwrap_or_else(|_| Label::new(entry.tag.clone(), entry.tag.clone()));
        Ok(RecordPhoto {
            has_full: info.as_ref().is_some_and(|i| i.has_full),
            has_thumb: info.as_ref().is_some_and(|i| i.has_thumb),
            entry,
            tag_label,
        })
    }

    /// The stored image (JPEG) of a photo, or its thumbnail, by content id.
    pub fn photo_bytes(&self, sha256: &str, thumbnail: bool) -> Result<Vec<u8>, CoreError> {
        let sha = sha256.trim().to_ascii_lowercase();
        if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(CoreError::InvalidValue {
                path: "sha256".into(),
                reason: "a photo id is 64 hexadecimal digits".into(),
            });
        }
        self.store
            .photo_bytes(&sha, thumbnail)?
            .ok_or(CoreError::PhotoNotFound(sha))
    }

    /// Removes a photo from its record (the entry stays in history, flagged); the bytes stay
    /// on the device while another record or entry still uses them.
    pub fn remove_photo(&self, id: &str, photo_id: &str) -> Result<(), CoreError> {
        self.edit_with_photo(id, None, |c, by| {
            DeviceCore::editable(c)?;
            if !c
                .photos
                .iter()
                .any(|p| p.id == photo_id && p.removed.is_none())
            {
                return Err(CoreError::PhotoNotFound(photo_id.to_string()));
            }
            let entry = c.doc.remove_photo(&c.template, photo_id, by)?;
            let list = entry.list.as_deref().and_then(|l| FieldPath::parse(l).ok());
            Ok(((), Touched::Photos(list)))
        })
    }

    /// How many photos the store holds, and how many of them no record uses (0 unless
    /// something went wrong).
    pub fn stored_photos(&self) -> Result<jingtu_store::PhotoCounts, CoreError> {
        Ok(self.store.photo_counts()?)
    }

    fn photo_tag_label(&self, tag: &str) -> Result<Label, CoreError> {
        self.template_set()
            .code_tables()
            .get(PHOTO_TYPE_TABLE)
            .and_then(|t| t.get(tag))
            .map(|c| Label::new(c.zh.clone(), c.en.clone()))
            .ok_or_else(|| CoreError::InvalidValue {
                path: "photo.tag".into(),
                reason: format!("'{tag}' is not a photo type ({PHOTO_TYPE_TABLE} table)"),
            })
    }
}

fn read_photo_file(path: &Path) -> Result<Vec<u8>, CoreError> {
    let limit = IngestOptions::default().max_input_bytes as u64;
    let meta = std::fs::metadata(path).map_err(|e| CoreError::InvalidValue {
        path: "photo".into(),
        reason: format!("{}: {e}", path.display()),
    })?;
    if meta.len() > limit {
        return Err(jingtu_media::MediaError::FileTooLarge {
            size: meta.len() as usize,
            limit: limit as usize,
        }
        .into());
    }
    std::fs::read(path).map_err(|e| CoreError::InvalidValue {
        path: "photo".into(),
        reason: format!("{}: {e}", path.display()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exif_times_with_and_without_offset() {
        assert_eq!(
            exif_time_ms("2024-05-12T10:31:02+08:00"),
            Some(1_715_481_062_000)
        );
        assert_eq!(exif_time_ms("2024-05-12T10:31:02"), Some(1_715_481_062_000));
        assert_eq!(
            exif_time_ms("2024-05-12T02:31:02+00:00"),
            Some(1_715_481_062_000)
        );
        assert_eq!(exif_time_ms("yesterday"), None);
        assert_eq!(stamp_time(1_715_481_062_000), "2024-05-12 10:31:02 +08:00");
        assert_eq!(
            stamp_position(34.5, -112.25, Some(3.2)),
            "N 34.500000  W 112.250000  +/-3 m"
        );
    }
}
