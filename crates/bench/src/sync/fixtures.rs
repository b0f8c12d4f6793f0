//! Test data of the sync suite: villages, filled inspections, photos with camera noise.

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use jingtu_core::DeviceCore;
use serde_json::{Value, json};

/// The stored size a test photo aims at, after ingest (re-encoded at quality 85).
const PHOTO_W: u32 = 1280;
const PHOTO_H: u32 = 960;
const PHOTO_NOISE: i32 = 4;

pub(super) const VILLAGES: &[&str] = &[
    "杨树沟",
    "云阳",
    "皇路店",
    "马市坪",
    "崔庄",
    "留山",
    "白土岗",
    "板山坪",
    "石门",
    "南河店",
    "小店",
    "太山庙",
    "乔端",
    "城郊",
    "四棵树",
    "桐树庄",
];
pub(crate) const TOWNSHIPS: &[&str] = &["云阳镇", "皇路店镇", "南河店镇", "板山坪镇", "白土岗镇"];
/// The county of the concurrent part's inspectors (division code), and its townships' codes.
pub(crate) const COUNTY: &str = "411321000000";

pub(crate) fn township_code(t: usize) -> String {
    format!("411321{:03}000", 100 + t)
}
pub(crate) const INSPECTORS: &[&str] = &["王建军", "李秀兰", "张伟", "刘芳", "陈志强", "赵丽娟"];
/// Checklist items set on every record (one of them failed, with its issue).
pub(super) const ITEMS: &[&str] = &[
    "clean_garbage",
    "clean_sewage",
    "clean_ponds_ditches",
    "clean_clutter",
    "disorder_building",
    "disorder_stacking",
    "disorder_dumping",
    "toilet_upgrade_coverage",
    "toilet_septic_intact",
    "waste_bins",
    "waste_collected_on_time",
    "sewage_facility_running",
];
/// The failed item, which the photos prove.
pub(super) const FAILED_ITEM: &str = "disorder_stacking";

pub(crate) fn village(i: usize) -> String {
    format!(
        "{}{}村",
        VILLAGES[i % VILLAGES.len()],
        i / VILLAGES.len() + 1
    )
}

/// About 30 fields of a village inspection, values as in the template's examples; returns
/// the number of fields set.
pub(super) fn fill_inspection(core: &DeviceCore, id: &str, i: usize) -> Result<usize> {
    let fields = inspection_fields(i);
    for (path, value) in &fields {
        core.set_field(id, path, value)
            .with_context(|| format!("setting {path}"))?;
    }
    Ok(fields.len())
}

/// The fields of the `i`th test inspection, by path.
pub(crate) fn inspection_fields(i: usize) -> Vec<(String, Value)> {
    let households = 180 + (i * 37) % 600;
    let mut fields: Vec<(String, Value)> = vec![
        ("village_name".into(), json!(village(i))),
        (
            "admin_code".into(),
            json!(format!("411321{:06}", 100_000 + (i * 7919) % 900_000)),
        ),
        ("township".into(), json!(TOWNSHIPS[i % TOWNSHIPS.len()])),
        (
            "position".into(),
            json!({"lat": 33.40 + (i % 997) as f64 * 1.3e-4,
                   "lon": 112.35 + (i % 991) as f64 * 1.7e-4,
                   "accuracy_m": 3.0 + (i % 5) as f64 * 0.5}),
        ),
        ("eval_year".into(), json!(2024)),
        ("eval_half".into(), json!(1 + i % 2)),
        ("eval_level".into(), json!("county_self")),
        (
            "inspected_at".into(),
            json!(format!(
                "2024-07-{:02}T{:02}:{:02}:00+08:00",
                1 + i % 28,
                8 + i % 9,
                (i * 7) % 60
            )),
        ),
        (
            "inspectors".into(),
            json!([
                INSPECTORS[i % INSPECTORS.len()],
                INSPECTORS[(i + 1) % INSPECTORS.len()]
            ]),
        ),
        (
            "indicators.sewage_treatment_rate_pct".into(),
            json!(55.0 + (i % 400) as f64 / 10.0),
        ),
        ("indicators.bow_remediation_rate_pct".into(), json!(100)),
        (
            "indicators.water_source_completion_pct".into(),
            json!(80 + i % 21),
        ),
        ("indicators.households_total".into(), json!(households)),
        (
            "indicators.households_sewage_treated".into(),
            json!(households * 2 / 3),
        ),
        ("indicators.sewage_mode".into(), json!("decentralized")),
        ("indicators.facility_status".into(), json!("normal")),
        ("resident_approval".into(), json!(true)),
        (
            "notes".into(),
            json!(format!(
                "上半年县级自评。{}问题已当场交办，8月中旬复查。",
                village(i)
            )),
        ),
    ];
    for item in ITEMS {
        let value = if *item == FAILED_ITEM {
            json!({"result": "fail",
                   "issue": format!("村西头道路两侧柴草、建筑材料乱堆乱放约{}处", 5 + i % 20),
                   "deadline": "2024-08-10",
                   "owner": "村委会 张明",
                   "score": 60})
        } else {
            json!({"result": "pass", "score": 100})
        };
        fields.push((format!("checklist.{item}"), value));
    }
    fields
}

/// A JPEG of the test photo size with field-like gradients and sensor noise; `seed` makes
/// every photo different (photos are stored once by content).
pub(super) fn noisy_photo(seed: u64) -> Result<Vec<u8>> {
    let (w, h) = (PHOTO_W, PHOTO_H);
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut noise = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % (2 * PHOTO_NOISE as u64 + 1)) as i32 - PHOTO_NOISE
    };
    let shift = (seed % 97) as f32 / 97.0;
    let mut rgb = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        let fy = y as f32 / h as f32;
        for x in 0..w {
            let fx = x as f32 / w as f32;
            let (r, g, b) = if fy < 0.4 {
                (120.0 + 80.0 * fy, 160.0 + 60.0 * fy, 230.0 - 40.0 * fx)
            } else {
                let furrow = ((fx * 150.0 + fy * 40.0 + shift * 6.0).sin() * 0.5 + 0.5) * 40.0;
                (
                    90.0 + furrow,
                    110.0 + 0.6 * furrow + 40.0 * fy,
                    50.0 + 20.0 * fx,
                )
            };
            let n = noise() as f32;
            rgb.push((r + n).clamp(0.0, 255.0) as u8);
            rgb.push((g + n).clamp(0.0, 255.0) as u8);
            rgb.push((b + n).clamp(0.0, 255.0) as u8);
        }
    }
    let img = jingtu_media::RgbImage::from_raw(w, h, rgb).context("buffer size")?;
    jingtu_media::encode_rgb_jpeg(&img, 92).map_err(|e| anyhow!("test photo: {e}"))
}

pub(super) fn open_device(dir: &Path, user: &str) -> Result<DeviceCore> {
    let core = DeviceCore::open(dir)?;
    core.set_user(user)?;
    Ok(core)
}
