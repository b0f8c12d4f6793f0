//! The photo commands: add, list, get, remove.

use anyhow::{Context, Result};
use jingtu_core::{DeviceCore, NewPhoto, PhotoSource, RecordPhoto};
use serde_json::json;

use crate::{PhotoCommand, out};

pub(crate) fn photo(core: &DeviceCore, json: bool, cmd: PhotoCommand) -> Result<()> {
    match cmd {
        PhotoCommand::Add {
            id,
            path,
            file,
            tag,
            note,
            lat,
            lon,
            accuracy,
            stamp,
            no_stamp,
        } => {
            let id = core.resolve_id(&id)?;
            let field = match path.trim() {
                "" | "-" | "." => None,
                p => Some(p.to_string()),
            };
            let new = NewPhoto {
                tag,
                field,
                note,
                lat,
                lon,
                accuracy_m: accuracy,
                taken_at_ms: None,
                stamp: match (stamp, no_stamp) {
                    (true, _) => Some(true),
                    (_, true) => Some(false),
                    _ => None,
                },
            };
            let p = core.add_photo(&id, PhotoSource::Path(&file), &new)?;
            out(json, serde_json::to_value(&p)?, || {
                format!(
                    "photo {} ({} {}x{}, {} bytes) added to {}\nsha256 {}",
                    p.entry.id,
                    p.tag_label.zh,
                    p.entry.width,
                    p.entry.height,
                    p.entry.size,
                    id,
                    p.entry.sha256
                )
            });
        }
        PhotoCommand::List { id, all } => {
            let id = core.resolve_id(&id)?;
            let photos = core.photos(&id, all)?;
            let missing = core.view(&id)?.missing_photos;
            out(
                json,
                json!({"id": id, "photos": photos, "missing": missing}),
                || photo_table(&photos, &missing),
            );
        }
        PhotoCommand::Get {
            hash,
            out: file,
            thumb,
        } => {
            // A record received by sync brings only thumbnails: the full image is fetched
            // from the server when asked for (and kept).
            let bytes = if thumb {
                core.photo_bytes(&hash, true)?
            } else {
                core.fetch_photo(&hash)?
            };
            std::fs::write(&file, &bytes).with_context(|| format!("writing {}", file.display()))?;
            out(
                json,
                json!({"sha256": hash, "file": file, "bytes": bytes.len(), "thumbnail": thumb}),
                || format!("{} bytes written to {}", bytes.len(), file.display()),
            );
        }
        PhotoCommand::Remove { id, photo_id } => {
            let id = core.resolve_id(&id)?;
            core.remove_photo(&id, &photo_id)?;
            out(
                json,
                json!({"id": id, "photo_id": photo_id, "removed": true}),
                || format!("photo {photo_id} removed"),
            );
        }
    }
    Ok(())
}

pub(crate) fn photo_table(photos: &[RecordPhoto], missing: &[jingtu_core::MissingPhoto]) -> String {
    let mut lines: Vec<String> = photos
        .iter()
        .map(|p| {
            let e = &p.entry;
            let pos = match (e.lat, e.lon) {
                (Some(lat), Some(lon)) => format!("{lat:.5},{lon:.5}"),
                _ => "-".into(),
            };
            format!(
                "{}  {:12} {:24} {:8} {}  {}{}",
                e.id,
                e.tag,
                e.field.as_deref().unwrap_or("-"),
                e.size,
                pos,
                crate::short(&e.sha256, 12),
                if e.removed.is_some() {
                    "  (removed)"
                } else {
                    ""
                }
            )
        })
        .collect();
    if photos.is_empty() {
        lines.push("no photos".into());
    }
    for m in missing {
        lines.push(format!(
            "missing: {} {} ({})",
            m.tag, m.label.zh, m.label.en
        ));
    }
    lines.join("\n")
}
