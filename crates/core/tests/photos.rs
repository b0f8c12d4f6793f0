//! Evidence photos in records: stored once, linked to fields, required ones reported missing,
//! removal keeps bytes while something still uses them, concurrent adds merge.

use jingtu_core::{CoreError, DeviceCore, NewPhoto, PhotoSource};
use jingtu_media::RgbImage;
use serde_json::json;

fn store() -> (tempfile::TempDir, DeviceCore) {
    let dir = tempfile::tempdir().unwrap();
    let core = DeviceCore::open(&dir.path().join("store")).unwrap();
    core.set_user("李采样").unwrap();
    (dir, core)
}

/// A small photograph-like JPEG (gradients), different for each `seed`.
fn jpeg(seed: u32) -> Vec<u8> {
    let img = RgbImage::from_fn(320, 240, |x, y| {
        image_pixel(x.wrapping_mul(seed + 1), y, seed)
    });
    jingtu_media::encode_rgb_jpeg(&img, 90).unwrap()
}

fn image_pixel(x: u32, y: u32, seed: u32) -> jingtu_media::Rgb<u8> {
    jingtu_media::Rgb([
        (x % 256) as u8,
        (y % 256) as u8,
        ((x + y + seed * 40) % 256) as u8,
    ])
}

fn tagged(tag: &str) -> NewPhoto {
    NewPhoto {
        tag: tag.into(),
        lat: Some(34.7466),
        lon: Some(113.6253),
        accuracy_m: Some(3.0),
        ..Default::default()
    }
}

#[test]
fn a_photo_on_a_checklist_item_is_linked_stored_once_and_readable() {
    let (_dir, core) = store();
    let id = core
        .create_record("village_inspection", &Default::default())
        .unwrap()
        .id;
    let bytes = jpeg(1);
    let photo = NewPhoto {
        field: Some("checklist.clean_garbage".into()),
        note: Some("村口垃圾堆".into()),
        ..tagged("before")
    };
    let added = core
        .add_photo(&id, PhotoSource::Bytes(&bytes), &photo)
        .unwrap();
    assert_eq!(added.entry.tag, "before");
    assert_eq!(added.tag_label.zh, "整治前");
    assert_eq!(
        added.entry.list.as_deref(),
        Some("checklist.clean_garbage.photos")
    );
    assert_eq!(added.entry.position_source.as_deref(), Some("device"));
    assert!(
        !added.entry.stamped,
        "village photos are not stamped by default"
    );
    let view = core.view(&id).unwrap();
    assert_eq!(
        view.data["checklist"]["clean_garbage"]["photos"],
        json!([added.entry.id])
    );
    assert_eq!(view.photos.len(), 1);
    assert!(view.photos[0].has_full && view.photos[0].has_thumb);
    let full = core.photo_bytes(&added.entry.sha256, false).unwrap();
    assert_eq!(jingtu_media::content_id(&full), added.entry.sha256);
    let thumb = core.photo_bytes(&added.entry.sha256, true).unwrap();
    assert!(thumb.len() < full.len());

    // The same file again, in the same record and in another: one blob.
    let again = core
        .add_photo(&id, PhotoSource::Bytes(&bytes), &photo)
        .unwrap();
    assert_eq!(again.entry.sha256, added.entry.sha256);
    assert_ne!(again.entry.id, added.entry.id);
    let other = core
        .create_record("village_inspection", &Default::default())
        .unwrap()
        .id;
    core.add_photo(&other, PhotoSource::Bytes(&bytes), &tagged("team"))
        .unwrap();
    assert_eq!(
        core.stored_photos().unwrap(),
        jingtu_core::PhotoCounts {
            held: 1,
            unreferenced: 0
        }
    );

    // Removing entries keeps the bytes while one still uses them.
    core.remove_photo(&id, &added.entry.id).unwrap();
    core.remove_photo(&id, &again.entry.id).unwrap();
    let view = core.view(&id).unwrap();
    assert!(view.photos.is_empty());
    assert!(
        view.data["checklist"]["clean_garbage"]
            .get("photos")
            .is_none()
    );
    assert_eq!(
        core.photos(&id, true).unwrap().len(),
        2,
        "history keeps removed entries"
    );
    assert!(core.photos(&id, true).unwrap()[0].entry.removed.is_some());
    assert!(core.photo_bytes(&added.entry.sha256, false).is_ok());
    let last = core.photos(&other, false).unwrap()[0].entry.id.clone();
    core.remove_photo(&other, &last).unwrap();
    assert!(matches!(
        core.photo_bytes(&added.entry.sha256, false),
        Err(CoreError::PhotoNotFound(_))
    ));
    assert_eq!(
        core.stored_photos().unwrap(),
        jingtu_core::PhotoCounts {
            held: 0,
            unreferenced: 0
        }
    );
    assert!(matches!(
        core.remove_photo(&other, &last),
        Err(CoreError::PhotoNotFound(_))
    ));
}

#[test]
fn required_photos_are_reported_missing_block_submit_then_are_satisfied() {
    let (_dir, core) = store();
    let id = core
        .create_record("soil_sample", &Default::default())
        .unwrap()
        .id;
    let view = core.view(&id).unwrap();
    let mut missing: Vec<&str> = view.missing_photos.iter().map(|m| m.tag.as_str()).collect();
    missing.sort();
    assert_eq!(
        missing,
        [
            "gnss_screen",
            "landscape_e",
            "landscape_n",
            "landscape_s",
            "landscape_w",
            "mixing",
            "sample_bag",
            "sampling"
        ]
    );
    assert!(
        view.issues
            .iter()
            .any(|i| i.code == "photo_missing" && i.path == "photos.landscape_e")
    );
    let tags = [
        "landscape_e",
        "landscape_s",
        "landscape_w",
        "landscape_n",
        "sampling",
        "mixing",
        "sample_bag",
        "gnss_screen",
    ];
    let mut ids = Vec::new();
    for (i, tag) in tags.iter().enumerate() {
        let p = core
            .add_photo(&id, PhotoSource::Bytes(&jpeg(i as u32 + 10)), &tagged(tag))
            .unwrap();
        assert!(p.entry.stamped, "soil photos carry the evidence stamp");
        ids.push(p.entry.id);
    }
    let view = core.view(&id).unwrap();
    assert!(view.missing_photos.is_empty(), "{:?}", view.missing_photos);
    assert!(!view.issues.iter().any(|i| i.code == "photo_missing"));
    core.remove_photo(&id, &ids[6]).unwrap();
    let view = core.view(&id).unwrap();
    assert_eq!(view.missing_photos.len(), 1);
    assert_eq!(view.missing_photos[0].tag, "sample_bag");
    match core.submit(&id) {
        Err(CoreError::SubmitBlocked { issues }) => {
            assert!(
                issues.iter().any(|i| i.path == "photos.sample_bag"),
                "{issues:?}"
            )
        }
        other => panic!("submitted without its sample bag photo: {other:?}"),
    }
    assert_eq!(
        core.list(&Default::default()).unwrap()[0].error_count as usize,
        core.view(&id)
            .unwrap()
            .issues
            .iter()
            .filter(|i| i.severity == jingtu_core::Severity::Error)
            .count()
    );
}

#[test]
fn bad_photos_and_bad_requests_get_clear_errors_and_store_nothing() {
    let (dir, core) = store();
    let id = core
        .create_record("soil_sample", &Default::default())
        .unwrap()
        .id;
    let good = jpeg(3);
    let bad_tag = core.add_photo(&id, PhotoSource::Bytes(&good), &tagged("selfie"));
    assert!(
        matches!(bad_tag, Err(CoreError::InvalidValue { ref path, .. }) if path == "photo.tag")
    );
    let not_image = core.add_photo(
        &id,
        PhotoSource::Bytes(b"GIF89a not really"),
        &tagged("sampling"),
    );
    assert!(
        matches!(not_image, Err(CoreError::BadPhoto(_))),
        "{not_image:?}"
    );
    let cut = core.add_photo(
        &id,
        PhotoSource::Bytes(&good[..good.len() / 2]),
        &tagged("sampling"),
    );
    assert!(matches!(cut, Err(CoreError::BadPhoto(_))), "{cut:?}");
    let bad_field = NewPhoto {
        field: Some("no_such_field".into()),
        ..tagged("sampling")
    };
    assert!(matches!(
        core.add_photo(&id, PhotoSource::Bytes(&good), &bad_field),
        Err(CoreError::UnknownField { .. })
    ));
    let bad_lat = NewPhoto {
        lat: Some(134.0),
        ..tagged("sampling")
    };
    assert!(matches!(
        core.add_photo(&id, PhotoSource::Bytes(&good), &bad_lat),
        Err(CoreError::InvalidValue { .. })
    ));
    let missing_file = dir.path().join("nope.jpg");
    assert!(matches!(
        core.add_photo(&id, PhotoSource::Path(&missing_file), &tagged("sampling")),
        Err(CoreError::InvalidValue { .. })
    ));
    assert!(matches!(
        core.photo_bytes("abc", false),
        Err(CoreError::InvalidValue { .. })
    ));
    assert!(core.view(&id).unwrap().photos.is_empty());
    assert_eq!(
        core.stored_photos().unwrap(),
        jingtu_core::PhotoCounts {
            held: 0,
            unreferenced: 0
        }
    );
    // From a file, it works.
    let file = dir.path().join("bag.jpg");
    std::fs::write(&file, &good).unwrap();
    core.add_photo(&id, PhotoSource::Path(&file), &tagged("sample_bag"))
        .unwrap();
    assert_eq!(
        core.stored_photos().unwrap(),
        jingtu_core::PhotoCounts {
            held: 1,
            unreferenced: 0
        }
    );
}

#[test]
fn photos_added_on_two_devices_both_survive_the_merge() {
    let (_a_dir, a) = store();
    let (_b_dir, b) = store();
    let id = a
        .create_record("water_body_check", &Default::default())
        .unwrap()
        .id;
    b.import(&a.export(&id).unwrap()).unwrap();
    let pa = a
        .add_photo(&id, PhotoSource::Bytes(&jpeg(21)), &tagged("water_color"))
        .unwrap();
    let pb = b
        .add_photo(&id, PhotoSource::Bytes(&jpeg(22)), &tagged("outfall"))
        .unwrap();
    b.import(&a.export(&id).unwrap()).unwrap();
    a.import(&b.export(&id).unwrap()).unwrap();
    for core in [&a, &b] {
        let mut ids: Vec<String> = core
            .photos(&id, false)
            .unwrap()
            .into_iter()
            .map(|p| p.entry.id)
            .collect();
        ids.sort();
        let mut want = vec![pa.entry.id.clone(), pb.entry.id.clone()];
        want.sort();
        assert_eq!(ids, want);
    }
    // Each device holds the bytes it took; the other's arrive by sync, not by export.
    let on_a = a.photos(&id, false).unwrap();
    let theirs = on_a.iter().find(|p| p.entry.id == pb.entry.id).unwrap();
    assert!(!theirs.has_full);
    assert!(a.view(&id).unwrap().missing_photos.is_empty());
}

#[test]
fn a_submitted_record_takes_no_photos() {
    let (_dir, core) = store();
    let id = core
        .create_record("sewage_facility_inspection", &Default::default())
        .unwrap()
        .id;
    let (data, _) = example();
    for (k, v) in data.as_object().unwrap() {
        core.set_field(&id, k, v).unwrap();
    }
    core.submit(&id).unwrap();
    assert!(matches!(
        core.add_photo(&id, PhotoSource::Bytes(&jpeg(5)), &tagged("after")),
        Err(CoreError::InvalidState(_))
    ));
}

fn example() -> (serde_json::Value, ()) {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../schemas/examples/sewage_facility_inspection.v2"
    );
    let name = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("valid-")
        })
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(name).unwrap()).unwrap();
    (v.get("data").cloned().unwrap_or(v), ())
}
