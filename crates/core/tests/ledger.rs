//! The county ledgers on a device: water bodies through their lifecycle (a relapse flagged, a
//! refused transition listed) and a sewage facility's missed quarter, from records made,
//! filled and submitted the way an app does it.

use jingtu_core::{
    BowStatus, CoreError, DeviceCore, Lifecycle, NewPhoto, PeriodState, PhotoSource, Status,
};
use jingtu_media::RgbImage;
use serde_json::{Value, json};

fn store() -> (tempfile::TempDir, DeviceCore) {
    let dir = tempfile::tempdir().unwrap();
    let core = DeviceCore::open(&dir.path().join("store")).unwrap();
    core.set_user("王巡查").unwrap();
    (dir, core)
}

fn jpeg(seed: u32) -> Vec<u8> {
    let img = RgbImage::from_fn(64, 48, |x, y| {
        jingtu_media::Rgb([(x * (seed + 1) % 256) as u8, (y % 256) as u8, seed as u8])
    });
    jingtu_media::encode_rgb_jpeg(&img, 85).unwrap()
}

/// Creates a record of `kind`, writes `data` field by field, adds the photos the template
/// asks for and submits it; `false` from `submit` leaves it a draft.
fn record(core: &DeviceCore, kind: &str, data: Value, submit: bool) -> String {
    let id = core.create_record(kind, &Default::default()).unwrap().id;
    for (k, v) in data.as_object().unwrap() {
        core.set_field(&id, k, v)
            .unwrap_or_else(|e| panic!("{kind}.{k}: {e}"));
    }
    add_missing_photos(core, &id);
    if submit {
        let s = core
            .submit(&id)
            .unwrap_or_else(|e| panic!("{kind} does not submit: {e}"));
        assert_eq!(s.status, Status::Submitted);
    }
    id
}

/// Adds a photo of each kind the template asks for and the record lacks.
fn add_missing_photos(core: &DeviceCore, id: &str) {
    let missing = core.view(id).unwrap().missing_photos;
    for (n, m) in missing.iter().enumerate() {
        let photo = NewPhoto {
            tag: m.tag.clone(),
            ..Default::default()
        };
        core.add_photo(id, PhotoSource::Bytes(&jpeg(n as u32)), &photo)
            .unwrap();
    }
}

fn check(at: &str, check_type: &str, lifecycle: &str, color: &str) -> Value {
    json!({
        "body_code": "411321102206001", "body_name": "杨树沟村东坑塘", "body_type": "pond",
        "check_type": check_type, "admin_code": "411321102206", "village_name": "杨树沟村",
        "checked_at": at, "location": {"lat": 33.488612, "lon": 112.431275},
        "sensory": {"color": color, "odor": "none"},
        "survey": {"n_total": 20, "n_yes": 1},
        "measurement_points": [{"point_id": "P1", "depth_cm": 80, "transparency_cm": 40,
                                "do_mg_l": 5.5, "nh3n_mg_l": 1.2}],
        "lifecycle": lifecycle
    })
}

#[test]
fn a_body_relapses_after_acceptance_and_the_ledger_says_so() {
    let (_d, core) = store();
    let mut never = |_: u64, _: u64| true;
    record(
        &core,
        "water_body_check",
        check(
            "2024-03-01T10:00:00+08:00",
            "screening",
            "identified",
            "black",
        ),
        true,
    );
    record(
        &core,
        "water_body_check",
        check(
            "2024-05-01T10:00:00+08:00",
            "recheck",
            "under_treatment",
            "blackish",
        ),
        true,
    );
    record(
        &core,
        "water_body_check",
        check(
            "2024-08-01T10:00:00+08:00",
            "recheck",
            "completed",
            "normal",
        ),
        true,
    );
    record(
        &core,
        "water_body_check",
        check("2024-10-01T10:00:00+08:00", "recheck", "accepted", "normal"),
        true,
    );
    // A draft does not count.
    record(
        &core,
        "water_body_check",
        check(
            "2024-11-01T10:00:00+08:00",
            "recheck",
            "maintenance",
            "normal",
        ),
        false,
    );
    let ledger = core.water_body_ledger(&mut never).unwrap();
    assert_eq!(ledger.len(), 1);
    let body = &ledger[0];
    assert_eq!(body.state, Some(Lifecycle::Accepted));
    assert_eq!(body.checks.len(), 4);
    assert!(body.problems.is_empty(), "{:?}", body.problems);

    // Greenish water the next spring: black-odorous again after acceptance (返黑返臭). The
    // record must say "relapsed"; called "accepted" it is refused at submit.
    let wrong = record(
        &core,
        "water_body_check",
        check(
            "2025-04-01T10:00:00+08:00",
            "recheck",
            "accepted",
            "greenish",
        ),
        false,
    );
    match core.submit(&wrong) {
        Err(CoreError::SubmitBlocked { issues }) => {
            assert!(issues.iter().any(|i| i.path == "lifecycle"), "{issues:?}")
        }
        other => panic!("expected a blocked submit, got {other:?}"),
    }
    core.set_field(&wrong, "lifecycle", &json!("relapsed"))
        .unwrap();
    core.submit(&wrong).unwrap();
    let body = &core.water_body_ledger(&mut never).unwrap()[0];
    assert_eq!(body.state, Some(Lifecycle::Relapsed));
    assert_eq!(body.status, Some(BowStatus::BlackOdorous));
    assert!(body.relapsed && body.relapses == 1);
    assert!(body.problems.is_empty());

    // Accepted straight from treatment: listed as a refused transition.
    record(
        &core,
        "water_body_check",
        check(
            "2025-06-01T10:00:00+08:00",
            "recheck",
            "under_treatment",
            "normal",
        ),
        true,
    );
    record(
        &core,
        "water_body_check",
        check("2025-07-01T10:00:00+08:00", "recheck", "accepted", "normal"),
        true,
    );
    let body = &core.water_body_ledger(&mut never).unwrap()[0];
    assert_eq!(body.problems.len(), 1);
    assert_eq!(body.problems[0].code, "refused_transition");

    // Progress is reported per record and stops when asked.
    let mut seen = Vec::new();
    let mut stop_at_two = |done: u64, total: u64| {
        seen.push((done, total));
        done < 2
    };
    assert!(matches!(
        core.water_body_ledger(&mut stop_at_two),
        Err(CoreError::Cancelled)
    ));
    assert_eq!(seen, [(1, 7), (2, 7)]);
}

fn inspection(kind: &str, at: &str) -> Value {
    let mut v = json!({
        "facility_name": "云阳镇污水处理站", "facility_code": "WS-411321102",
        "admin_code": "411321102000", "design_capacity_t_d": 300, "actual_flow_t_d": 180,
        "inspection_type": kind, "inspected_at": at, "facility_status": "normal",
        "inspectors": ["王巡查"],
        "online_monitoring": {"flow_meter": true, "video": true}
    });
    if kind == "half_year_monitoring" {
        v["inlet"] = json!({"cod_mg_l": 260, "nh3n_mg_l": 30, "ph": 7.4,
                            "sampled_at": "2024-06-05T09:20:00+08:00"});
        v["outlet"] = json!({"cod_mg_l": 40, "nh3n_mg_l": 5, "tn_mg_l": 15, "tp_mg_l": 0.8,
                             "ss_mg_l": 12, "ph": 7.2, "sampled_at": "2024-06-05T09:40:00+08:00"});
    }
    v
}

/// Task 19 on the device: Q1 inspected and the first half monitored; on 15 August Q2 is
/// listed as missed.
#[test]
fn a_facility_missing_its_second_quarter_inspection() {
    let (_d, core) = store();
    let mut never = |_: u64, _: u64| true;
    record(
        &core,
        "sewage_facility_inspection",
        inspection("quarterly_inspection", "2024-03-12T09:00:00+08:00"),
        true,
    );
    record(
        &core,
        "sewage_facility_inspection",
        inspection("half_year_monitoring", "2024-06-05T09:00:00+08:00"),
        true,
    );
    let out = core
        .sewage_facility_schedule(2024, (2024, 8, 15), &mut never)
        .unwrap();
    assert_eq!(out.len(), 1);
    let f = &out[0];
    assert_eq!(f.scale_t_d, Some(300.0));
    assert_eq!(f.schedule_required, Some(true));
    assert_eq!(f.missed, ["2024-Q2"]);
    assert_eq!(f.quarters[2].state, PeriodState::Due);
    assert_eq!(f.halves[0].state, PeriodState::Done);
    assert!(matches!(
        core.sewage_facility_schedule(20240, (2024, 8, 15), &mut never),
        Err(CoreError::InvalidValue { .. })
    ));
}

/// Records of the first versions still open, are checked by the same rules and submit: a v1
/// water body check with v1's "other abnormal" colour is black-odorous now (the guideline's
/// "颜色明显异常"), and a v1 village inspection's untouched items are open.
#[test]
fn records_of_version_1_still_open_and_follow_the_rules() {
    let (_d, core) = store();
    let id = core
        .create_record("water_body_check.v1", &Default::default())
        .unwrap()
        .id;
    let mut data = check(
        "2024-03-01T10:00:00+08:00",
        "screening",
        "identified",
        "other_abnormal",
    );
    data.as_object_mut().unwrap().remove("lifecycle");
    for (k, v) in data.as_object().unwrap() {
        core.set_field(&id, k, v).unwrap();
    }
    let v = core.view(&id).unwrap();
    assert_eq!(v.template_id, "water_body_check.v1");
    assert_eq!(v.computed["classification"]["status"], "black_odorous");
    // v1 has no "greenish": the v1 form refuses it, as it always did.
    assert!(matches!(
        core.set_field(&id, "sensory.color", &json!("greenish")),
        Err(CoreError::InvalidValue { .. })
    ));
    assert!(
        v.missing_photos.iter().all(|m| m.tag != "before"),
        "v1 asks no before photo"
    );
    add_missing_photos(&core, &id);
    assert_eq!(core.submit(&id).unwrap().status, Status::Submitted);

    let village = core
        .create_record("village_inspection.v1", &Default::default())
        .unwrap()
        .id;
    let v = core.view(&village).unwrap();
    assert_eq!(v.template_id, "village_inspection.v1");
    assert!(v.issues.iter().any(|i| i.code == "item_open"));
    assert!(matches!(
        core.submit(&village),
        Err(CoreError::SubmitBlocked { .. })
    ));
}
