//! Writes the committed seed corpora, `tests/fuzz/corpus/<target>/`: small valid inputs of
//! each target, made with the project's own code (the records come out the same at every run).
//! From the repository root:
//!
//!     CARGO_TARGET_DIR=/var/tmp/jingtu-fuzz-target \
//!         cargo +nightly fuzz build --fuzz-dir tests/fuzz --features seedgen make_seeds
//!     /var/tmp/jingtu-fuzz-target/x86_64-unknown-linux-gnu/release/make_seeds
//!
//! Run it again when the record layout, the templates or the wire types change.

use std::path::{Path, PathBuf};

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ROOT};
use exif::{Field, In, Rational, Tag, Value as ExifValue};
use image::ImageEncoder;
use jingtu_doc::{EventKind, PhotoEntry, RecordDoc};
use jingtu_fuzz::{
    BASES, INSPECTOR, OFFICE, RECORD_ID, SAMPLER, SUPERVISOR, T0, VILLAGE, actor, add_custody, by,
    commit, obj, set, write_review,
};
use jingtu_protocol as p;
use serde_json::json;

/// The first byte of a `push_apply` input: the role (`Role::ALL` order), bit 3 for the device
/// path as well.
const INSPECTOR_ROLE: u8 = 0;
const SAMPLER_ROLE: u8 = 1;
const SUPERVISOR_ROLE: u8 = 2;
const ADMIN_ROLE: u8 = 3;
const DEVICE_TOO: u8 = 8;

struct Corpus {
    dir: PathBuf,
}

impl Corpus {
    fn new(root: &Path, target: &str) -> Corpus {
        let dir = root.join(target);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).expect("clearing the old seeds");
        }
        std::fs::create_dir_all(&dir).expect("making the corpus folder");
        Corpus { dir }
    }

    fn put(&self, name: &str, bytes: &[u8]) {
        std::fs::write(self.dir.join(name), bytes).expect("writing a seed");
    }

    fn push(&self, name: &str, select: u8, changes: &[u8]) {
        let mut input = vec![select];
        input.extend_from_slice(changes);
        self.put(name, &input);
    }
}

/// `base` loaded on `device`, edited, and the changes made after `base` (what a device pushes).
fn edit(base: &[u8], device: u8, f: impl FnOnce(&mut RecordDoc)) -> Vec<u8> {
    let mut rd = RecordDoc::load(base, actor(device)).expect("the base loads");
    let heads = rd.heads();
    f(&mut rd);
    rd.save_after(&heads)
}

/// Like [`edit`] with raw Automerge edits, as a tampered app could make them.
fn edit_raw(base: &[u8], device: u8, f: impl FnOnce(&mut AutoCommit)) -> Vec<u8> {
    let mut doc = AutoCommit::load(base)
        .expect("the base loads")
        .with_actor(actor(device));
    let heads = doc.get_heads();
    f(&mut doc);
    doc.save_after(&heads)
}

fn push_seeds(root: &Path) -> Vec<Vec<u8>> {
    let c = Corpus::new(root, "push_apply");
    let draft = &BASES.draft;
    let approved = &BASES.approved;
    let mut pushes = Vec::new();
    let mut keep = |name: &str, select: u8, bytes: Vec<u8>| {
        c.push(name, select, &bytes);
        pushes.push(bytes);
    };

    // A whole record, new to the server (and already known for the fixed records).
    let mut rd = RecordDoc::load(draft, actor(INSPECTOR)).expect("draft");
    keep("whole_record", INSPECTOR_ROLE, rd.save());
    keep(
        "whole_record_uncompressed",
        INSPECTOR_ROLE | DEVICE_TOO,
        rd.save_uncompressed(),
    );
    keep("whole_approved", SUPERVISOR_ROLE, approved.clone());

    // Field work on the draft: allowed.
    keep(
        "inspector_sets_fields",
        INSPECTOR_ROLE | DEVICE_TOO,
        edit(draft, INSPECTOR, |rd| {
            set(rd, "township", json!("云阳镇"), "李巡查", T0 + 10_000);
            set(rd, "eval_half", json!(1), "李巡查", T0 + 10_001);
            set(
                rd,
                "checklist.clean_garbage.result",
                json!("pass"),
                "李巡查",
                T0 + 10_002,
            );
            set(
                rd,
                "position",
                json!({"lat": 33.488612, "lon": 112.431275, "accuracy_m": 4.5}),
                "李巡查",
                T0 + 10_003,
            );
        }),
    );
    keep(
        "inspector_types_notes",
        INSPECTOR_ROLE,
        edit(draft, INSPECTOR, |rd| {
            let long =
                "村西头道路两侧柴草、建筑材料乱堆乱放约15处，已责令村委会限期清理。".repeat(12);
            set(rd, "notes", json!(long), "李巡查", T0 + 11_000);
            set(rd, "notes", json!("已整改"), "李巡查", T0 + 11_001);
        }),
    );
    keep(
        "inspector_adds_photo",
        INSPECTOR_ROLE,
        edit(draft, INSPECTOR, |rd| {
            let entry = PhotoEntry {
                id: "0190a000-0000-7000-8000-0000000000a1".into(),
                sha256: jingtu_model::PhotoHash::parse(&"ab".repeat(32)).unwrap(),
                tag: "landscape_e".into(),
                field: Some("checklist.clean_garbage".into()),
                list: Some("checklist.clean_garbage.photos".into()),
                taken_at_ms: T0 + 12_000,
                time_source: "camera".into(),
                lat: Some(33.49),
                lon: Some(112.43),
                accuracy_m: Some(4.5),
                position_source: Some("camera".into()),
                width: 2048,
                height: 1536,
                size: 412_345,
                note: None,
                stamped: true,
                author: "李巡查".into(),
                device: "phone-11".into(),
                added_at_ms: T0 + 12_001,
                removed: None,
            };
            rd.add_photo(&VILLAGE, &entry, &by("李巡查", T0 + 12_001))
                .expect("a photo is added");
        }),
    );
    keep(
        "inspector_submits",
        INSPECTOR_ROLE,
        edit(draft, INSPECTOR, |rd| {
            rd.add_event(EventKind::Submitted, None, &by("李巡查", T0 + 13_000))
                .expect("submitted");
        }),
    );
    keep(
        "sampler_adds_custody",
        SAMPLER_ROLE,
        edit_raw(draft, SAMPLER, |d| {
            add_custody(d, "ev2", "李四", T0 + 14_000)
        }),
    );

    // Refused on the draft.
    keep(
        "inspector_approves",
        INSPECTOR_ROLE,
        edit(draft, INSPECTOR, |rd| {
            rd.add_event(EventKind::Submitted, None, &by("李巡查", T0 + 15_000))
                .expect("submitted");
            rd.add_event(EventKind::Approved, None, &by("李巡查", T0 + 15_001))
                .expect("approved");
        }),
    );
    keep(
        "inspector_writes_review",
        INSPECTOR_ROLE,
        edit_raw(draft, INSPECTOR, |d| {
            write_review(d, "r2", "approve", T0 + 16_000)
        }),
    );
    keep(
        "inspector_rewrites_meta",
        INSPECTOR_ROLE,
        edit_raw(draft, INSPECTOR, |d| {
            let meta = obj(d, "meta");
            d.put(&meta, "org_unit", "411321103000").expect("put");
            commit(d, r#"{"by":"李巡查","action":"set"}"#, T0 + 17_000);
        }),
    );
    keep(
        "sampler_edits_custody",
        SAMPLER_ROLE,
        edit_raw(draft, SAMPLER, |d| {
            let ev1 = obj(d, "custody/ev1");
            d.put(&ev1, "to_person", "王五").expect("put");
            commit(d, r#"{"by":"李采样","action":"custody"}"#, T0 + 18_000);
        }),
    );
    keep(
        "admin_replaces_review_map",
        ADMIN_ROLE,
        edit_raw(draft, OFFICE, |d| {
            d.put_object(ROOT, "review", ObjType::Map).expect("put");
            d.delete(ROOT, "custody").expect("delete");
            commit(d, r#"{"by":"admin","action":"set"}"#, T0 + 19_000);
        }),
    );
    keep(
        "inspector_edits_event",
        INSPECTOR_ROLE,
        edit_raw(approved, INSPECTOR, |d| {
            let first = obj(d, "events");
            let e = match automerge::ReadDoc::get(d, &first, 0usize) {
                Ok(Some((automerge::Value::Object(_), id))) => id,
                other => panic!("no first event: {other:?}"),
            };
            d.put(&e, "type", "approved").expect("put");
            d.insert(&first, 0, "x").expect("insert");
            commit(d, r#"{"by":"李巡查","action":"set"}"#, T0 + 20_000);
        }),
    );

    // On the approved record: a supervisor reopens (allowed), an inspector edits (refused).
    keep(
        "supervisor_reopens",
        SUPERVISOR_ROLE | DEVICE_TOO,
        edit(approved, SUPERVISOR, |rd| {
            rd.add_event(
                EventKind::Reopened,
                Some("补充照片"),
                &by("王审核", T0 + 21_000),
            )
            .expect("reopened");
        }),
    );
    // Reopening and editing in one push: the edit is refused (it must wait for the reopening).
    keep(
        "supervisor_reopens_and_edits",
        SUPERVISOR_ROLE,
        edit(approved, SUPERVISOR, |rd| {
            rd.add_event(
                EventKind::Reopened,
                Some("补充照片"),
                &by("王审核", T0 + 21_000),
            )
            .expect("reopened");
            set(rd, "notes", json!("重新打开"), "王审核", T0 + 21_001);
        }),
    );
    keep(
        "inspector_edits_approved",
        INSPECTOR_ROLE,
        edit(approved, INSPECTOR, |rd| {
            set(rd, "eval_year", json!(2025), "李巡查", T0 + 22_000);
        }),
    );
    // Two pushes' chunks one after the other, and a push that depends on an unknown change.
    let a = edit(draft, INSPECTOR, |rd| {
        set(rd, "township", json!("皇路店镇"), "李巡查", T0 + 23_000)
    });
    let mut both = a.clone();
    both.extend_from_slice(&edit(draft, SUPERVISOR, |rd| {
        rd.add_event(EventKind::Submitted, None, &by("王审核", T0 + 23_001))
            .expect("submitted");
    }));
    keep("two_chunks", SUPERVISOR_ROLE, both);
    let mut later = RecordDoc::load(draft, actor(INSPECTOR)).expect("draft");
    later.apply_changes(&a).expect("the first push applies");
    let heads = later.heads();
    set(&mut later, "eval_half", json!(2), "李巡查", T0 + 23_002);
    keep("missing_deps", INSPECTOR_ROLE, later.save_after(&heads));
    pushes
}

fn protocol_seeds(root: &Path, pushes: &[Vec<u8>]) {
    let c = Corpus::new(root, "protocol_decode");
    let small: Vec<&Vec<u8>> = {
        let mut v: Vec<&Vec<u8>> = pushes.iter().filter(|b| b.len() < 1500).collect();
        v.truncate(3);
        v
    };
    let request = |pushes: Vec<p::Push>| p::SyncRequest {
        protocol: p::PROTOCOL_VERSION,
        device: "c0".repeat(16),
        cursor: 42,
        pushes,
        max_response_bytes: Some(1 << 20),
        scope_seq: 3,
        scope_target: Some(4),
        scope_after: Some(RECORD_ID.into()),
        catalog: Some("d1".repeat(32)),
    };
    let empty = p::SyncRequest {
        protocol: p::PROTOCOL_VERSION,
        device: "c0".repeat(16),
        cursor: 0,
        pushes: vec![],
        max_response_bytes: None,
        scope_seq: 0,
        scope_target: None,
        scope_after: None,
        catalog: None,
    };
    c.put("sync_request_first", &p::encode(&empty).expect("encode"));
    let with_pushes = request(
        small
            .iter()
            .map(|b| p::Push {
                record: RECORD_ID.into(),
                changes: b.to_vec(),
            })
            .collect(),
    );
    c.put(
        "sync_request_pushes_plain",
        &p::encode_with_threshold(&with_pushes, usize::MAX).expect("encode"),
    );
    c.put(
        "sync_request_pushes_zstd",
        &p::encode_with_threshold(&with_pushes, 0).expect("encode"),
    );
    c.put(
        "catalog_request",
        &p::encode(&p::CatalogRequest {
            protocol: p::PROTOCOL_VERSION,
            want: vec!["ab".repeat(32), "cd".repeat(32)],
        })
        .expect("encode"),
    );
    c.put(
        "photo_status_request",
        &p::encode(&p::PhotoStatusRequest {
            protocol: p::PROTOCOL_VERSION,
            hashes: vec!["ab".repeat(32)],
        })
        .expect("encode"),
    );
    let response = p::SyncResponse {
        protocol: p::PROTOCOL_VERSION,
        results: vec![
            p::PushResult {
                record: RECORD_ID.into(),
                outcome: p::PushOutcome::Accepted,
                new_changes: 2,
                seq: Some(9),
                code: None,
                message: None,
                rule: None,
                path: None,
            },
            p::PushResult {
                record: RECORD_ID.into(),
                outcome: p::PushOutcome::Refused,
                new_changes: 0,
                seq: None,
                code: Some(p::refusal::FORBIDDEN.into()),
                message: Some("review_by_supervisor at 'review/r2'".into()),
                rule: Some("review_by_supervisor".into()),
                path: Some("review/r2".into()),
            },
        ],
        chunks: vec![p::FeedChunk {
            seq: 9,
            record: RECORD_ID.into(),
            bytes: small.first().map(|b| b.to_vec()).unwrap_or_default(),
        }],
        cursor: 9,
        more: true,
        server_time_ms: T0,
        scope: Some(p::ScopeUpdate {
            seq: 4,
            assignments: vec![p::Assignment {
                id: "as-7".into(),
                target_kind: p::AssignmentTarget::SamplingPoint,
                target: "NZ-017".into(),
                target_name: "17号点位".into(),
                kind: "soil_sample".into(),
                org_unit: "411321102000".into(),
                assignee: "李采样".into(),
                due_date: Some("2024-06-30".into()),
                note: None,
                assigned_by: "王审核".into(),
                assigned_at_ms: T0,
                planned_point: None,
            }],
            evict: vec![RECORD_ID.into()],
            records: vec![],
            next: Some("evict:1".into()),
        }),
        catalog: Some(p::CatalogListing {
            digest: "d1".repeat(32),
            entries: vec![p::CatalogEntry {
                id: p::CODE_TABLES_ID.into(),
                sha256: jingtu_model::PhotoHash::parse(&"ab".repeat(32)).unwrap(),
            }],
        }),
    };
    c.put(
        "sync_response",
        &p::encode_with_threshold(&response, usize::MAX).expect("encode"),
    );
    c.put(
        "catalog_response",
        &p::encode(&p::CatalogResponse {
            protocol: p::PROTOCOL_VERSION,
            items: vec![p::CatalogItem {
                id: "village_inspection.v2".into(),
                sha256: jingtu_model::PhotoHash::parse(&"ab".repeat(32)).unwrap(),
                text: r#"{"x-template":{"kind":"village_inspection","version":2}}"#.into(),
            }],
        })
        .expect("encode"),
    );
    c.put(
        "photo_status_response",
        &p::encode(&p::PhotoStatusResponse {
            protocol: p::PROTOCOL_VERSION,
            photos: vec![
                p::PhotoState {
                    hash: "ab".repeat(32),
                    state: p::PhotoStateKind::Partial,
                    offset: 4096,
                },
                p::PhotoState {
                    hash: "cd".repeat(32),
                    state: p::PhotoStateKind::Refused,
                    offset: 0,
                },
            ],
        })
        .expect("encode"),
    );
    c.put(
        "photo_upload_response",
        &p::encode(&p::PhotoUploadResponse {
            protocol: p::PROTOCOL_VERSION,
            hash: "ab".repeat(32),
            offset: 1 << 20,
            stored: false,
        })
        .expect("encode"),
    );
    c.put(
        "enroll_uri",
        p::EnrollPayload {
            server: "http://127.0.0.1:8470/jt".into(),
            code: "K7QM3ZP9ABCDEFGH".into(),
        }
        .to_uri()
        .as_bytes(),
    );
}

fn quadrants(w: u32, h: u32) -> image::RgbImage {
    image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb(match (x < w / 2, y < h / 2) {
            (true, true) => [220, 30, 30],
            (false, true) => [30, 200, 30],
            (true, false) => [30, 30, 220],
            (false, false) => [240, 240, 240],
        })
    })
}

fn exif_block(fields: &[Field]) -> Vec<u8> {
    let mut w = exif::experimental::Writer::new();
    for f in fields {
        w.push_field(f);
    }
    let mut out = std::io::Cursor::new(Vec::new());
    w.write(&mut out, false).expect("exif");
    out.into_inner()
}

fn image_seeds(root: &Path) {
    let c = Corpus::new(root, "image_ingest");
    // As tests/src/lib.rs `test_jpeg` makes them (jpeg-encoder, through jingtu-media).
    let img = quadrants(64, 48);
    c.put(
        "baseline_64x48.jpg",
        &jingtu_media::encode_rgb_jpeg(&img, 90).expect("jpeg"),
    );
    c.put(
        "tiny_1x1.jpg",
        &jingtu_media::encode_rgb_jpeg(&quadrants(1, 1), 50).expect("jpeg"),
    );
    // A phone's photo: EXIF time, position, orientation 6 (turned), from the image encoder.
    let r = |n: u32, d: u32| Rational { num: n, denom: d };
    let ascii = |tag, s: &str| Field {
        tag,
        ifd_num: In::PRIMARY,
        value: ExifValue::Ascii(vec![s.as_bytes().to_vec()]),
    };
    let fields = vec![
        ascii(Tag::DateTimeOriginal, "2024:07:16 09:30:05"),
        ascii(Tag::OffsetTimeOriginal, "+08:00"),
        ascii(Tag::GPSLatitudeRef, "N"),
        Field {
            tag: Tag::GPSLatitude,
            ifd_num: In::PRIMARY,
            value: ExifValue::Rational(vec![r(33, 1), r(29, 1), r(1860, 100)]),
        },
        ascii(Tag::GPSLongitudeRef, "E"),
        Field {
            tag: Tag::GPSLongitude,
            ifd_num: In::PRIMARY,
            value: ExifValue::Rational(vec![r(112, 1), r(25, 1), r(5250, 100)]),
        },
        Field {
            tag: Tag::GPSHPositioningError,
            ifd_num: In::PRIMARY,
            value: ExifValue::Rational(vec![r(45, 10)]),
        },
        Field {
            tag: Tag::Orientation,
            ifd_num: In::PRIMARY,
            value: ExifValue::Short(vec![6]),
        },
    ];
    let mut with_exif = Vec::new();
    let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut with_exif, 80);
    enc.set_exif_metadata(exif_block(&fields)).expect("exif");
    enc.write_image(img.as_raw(), 64, 48, image::ExtendedColorType::Rgb8)
        .expect("jpeg");
    c.put("exif_gps_orientation6.jpg", &with_exif);
    // Progressive and grey JPEG.
    let mut progressive = Vec::new();
    let mut enc = jpeg_encoder::Encoder::new(&mut progressive, 75);
    enc.set_progressive(true);
    enc.encode(img.as_raw(), 64, 48, jpeg_encoder::ColorType::Rgb)
        .expect("jpeg");
    c.put("progressive_64x48.jpg", &progressive);
    let grey: Vec<u8> = (0..32 * 24).map(|i| (i % 251) as u8).collect();
    let mut grey_jpeg = Vec::new();
    jpeg_encoder::Encoder::new(&mut grey_jpeg, 70)
        .encode(&grey, 32, 24, jpeg_encoder::ColorType::Luma)
        .expect("jpeg");
    c.put("grey_32x24.jpg", &grey_jpeg);
    // PNG: RGB, RGBA, grey, and one whose header claims 60,000 x 60,000 pixels (a bomb).
    let png = |raw: &[u8], w: u32, h: u32, ty: image::ExtendedColorType| {
        let mut out = Vec::new();
        image::codecs::png::PngEncoder::new(&mut out)
            .write_image(raw, w, h, ty)
            .expect("png");
        out
    };
    let small = quadrants(40, 30);
    c.put(
        "rgb_40x30.png",
        &png(small.as_raw(), 40, 30, image::ExtendedColorType::Rgb8),
    );
    let rgba: Vec<u8> = small
        .pixels()
        .flat_map(|p| [p.0[0], p.0[1], p.0[2], 128])
        .collect();
    c.put(
        "rgba_40x30.png",
        &png(&rgba, 40, 30, image::ExtendedColorType::Rgba8),
    );
    c.put(
        "grey_32x24.png",
        &png(&grey, 32, 24, image::ExtendedColorType::L8),
    );
    let mut bomb = png(&[0, 0, 0], 1, 1, image::ExtendedColorType::Rgb8);
    bomb[16..20].copy_from_slice(&60_000u32.to_be_bytes());
    bomb[20..24].copy_from_slice(&60_000u32.to_be_bytes());
    let crc = crc32(&bomb[12..29]);
    bomb[29..33].copy_from_slice(&crc.to_be_bytes());
    c.put("bomb_claims_60000x60000.png", &bomb);
    // WebP, lossless.
    let mut webp = Vec::new();
    image::codecs::webp::WebPEncoder::new_lossless(&mut webp)
        .write_image(small.as_raw(), 40, 30, image::ExtendedColorType::Rgb8)
        .expect("webp");
    c.put("lossless_40x30.webp", &webp);
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn template_seeds(root: &Path) {
    let c = Corpus::new(root, "template_load");
    let (templates, codes) = jingtu_model::TemplateSet::builtin_sources();
    for (name, text) in templates {
        c.put(name, text.as_bytes());
    }
    c.put("code_tables.json", codes.as_bytes());
    c.put(
        "small_template.json",
        json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "$defs": {"score": {"type": "number", "minimum": 0, "maximum": 100}},
            "x-template": {
                "kind": "small_check",
                "version": 2,
                "roles": ["inspector"],
                "label": {"zh": "小检查", "en": "Small check"},
                "name_field": "name",
                "computed": [{"id": "double", "expr": "has(data.score) ? data.score * 2.0 : null"}],
                "constraints": [{"id": "c1", "expr": "!has(data.score) || data.score < 90.0",
                                 "paths": ["score"], "severity": "warning"}],
            },
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "minLength": 1, "x-order": 1, "x-label": "名称"},
                "score": {"$ref": "#/$defs/score", "x-order": 2,
                          "x-relevant": "has(data.name)",
                          "x-constraint": {"expr": "value >= 10.0", "severity": "error"}},
                "items": {"type": "object", "x-codes": "photo_type",
                          "additionalProperties": {"type": "object", "properties": {
                              "ok": {"type": "boolean"}, "notes": {"type": "string", "x-widget": "textarea"}}}},
                "list": {"type": "array", "items": {"type": "object", "properties": {"n": {"type": "integer"}}}}
            }
        })
        .to_string()
        .as_bytes(),
    );
    c.put(
        "small_code_tables.json",
        r#"{"photo_type":{"label":{"zh":"照片类型","en":"Photo type"},"codes":[{"code":"extra","zh":"其他","en":"Other","group":"g"}]}}"#
            .as_bytes(),
    );
}

fn expression_seeds(root: &Path) {
    let c = Corpus::new(root, "expression_eval");
    let mut exprs: Vec<String> = Vec::new();
    let (templates, _) = jingtu_model::TemplateSet::builtin_sources();
    for (_, text) in templates {
        let v: serde_json::Value = serde_json::from_str(text).expect("template JSON");
        collect_exprs(&v, &mut exprs);
    }
    exprs.extend(
        [
            "value.eval_year >= 2024 && size(value.inspectors) >= 2",
            "distance_m(value.planned_position.lat, value.planned_position.lon, value.actual_position.lat, value.actual_position.lon) <= 50.0",
            "value.checklist.all(k, !has(value.checklist[k].score) || value.checklist[k].score >= 60.0)",
            "[1.0, 2.0, 3.0].map(x, x * 2.0).exists(y, y > 5.0)",
            "value.sample_code.startsWith(value.point_code) && value.admin_code.matches('^[0-9]{12}$')",
            "timestamp(value.inspected_at) < timestamp('2025-01-01T00:00:00Z')",
            "int(value.depth_top_cm) + 1 == 1 ? 'top' : string(value.depth_top_cm)",
            "{'a': 1, 'b': [true, null]}['b'][0] in [true, false]",
            "has(data.indicators) && data.indicators.households_total > 0.0",
            "computed.rectification",
            "meta.kind == 'village_inspection'",
        ]
        .map(str::to_string),
    );
    exprs.sort();
    exprs.dedup();
    for (i, e) in exprs.iter().enumerate() {
        c.put(&format!("expr_{i:02}"), e.as_bytes());
    }
}

fn collect_exprs(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(o) => {
            for (k, x) in o {
                match (k.as_str(), x) {
                    ("x-relevant" | "expr", serde_json::Value::String(s)) => out.push(s.clone()),
                    _ => collect_exprs(x, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|x| collect_exprs(x, out)),
        _ => {}
    }
}

/// tests/src/lib.rs `COUNTY_ORG_CSV`, and variants.
const COUNTY_ORG_CSV: &str = "code,name,level,parent
410000000000,河南省,,
411300000000,南阳市,,
411321000000,南召县,,
411321102000,云阳镇,,
411321103000,皇路店镇,,
411321102206,杨树沟村,,
411321103201,东岗村,,
";

fn org_seeds(root: &Path) {
    let c = Corpus::new(root, "org_csv");
    c.put("county.csv", COUNTY_ORG_CSV.as_bytes());
    c.put(
        "levels_parents_bom_crlf.csv",
        "\u{feff}Code,Name,Level,Parent\r\n410000000000,河南省,省,\r\n411300000000,南阳市,市,410000000000\r\n\r\n411321000000,\"南召县\",县级,411300000000\r\n441900003000,东莞市 东城街道,街道,441900000000\r\n"
            .as_bytes(),
    );
    c.put(
        "columns_reordered.csv",
        "name,code\n\"云阳镇, 南召县\",411321102000\n杨树沟村,411321102206,extra\n".as_bytes(),
    );
    c.put(
        "errors.csv",
        "code,name,level,parent\n41132110220,短码,,\n411321102206,杨树沟村,township,\n411321102206,重复,,\n".as_bytes(),
    );
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let pushes = push_seeds(&root);
    protocol_seeds(&root, &pushes);
    image_seeds(&root);
    template_seeds(&root);
    expression_seeds(&root);
    org_seeds(&root);
    println!("seeds written to {}", root.display());
}
