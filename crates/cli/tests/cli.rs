//! A pilot's day with the real `jingtu` binary, `--json` on every command: two inspectors on
//! two devices fill one village inspection, carry it back and forth as files, edit the same
//! field on both, see the conflict and resolve it. Then evidence photos: added, listed,
//! written out, removed, and the mistakes made with them.
//!
use std::path::{Path, PathBuf};
use std::process::Command;

use jingtu_core::DeviceCore;
use serde_json::{Value, json};

fn jingtu_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_jingtu"))
}

/// One device: a store folder driven through the binary.
struct Device {
    bin: PathBuf,
    store: PathBuf,
}

impl Device {
    fn new(bin: &Path, store: PathBuf) -> Device {
        Device {
            bin: bin.to_path_buf(),
            store,
        }
    }

    /// Runs `jingtu --store S --json ARGS`; returns the exit code and the JSON printed.
    fn run(&self, args: &[&str]) -> (i32, Value) {
        let out = Command::new(&self.bin)
            .arg("--store")
            .arg(&self.store)
            .arg("--json")
            .args(args)
            .env_remove("JINGTU_STORE")
            .output()
            .expect("running jingtu");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let json = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
            panic!("jingtu {args:?}: stdout is not one JSON value ({e}):\n{stdout}\n{stderr}")
        });
        (out.status.code().expect("jingtu exited by a signal"), json)
    }

    /// Runs `jingtu --store S ARGS` without `--json`; returns what it printed for people.
    fn human(&self, args: &[&str]) -> String {
        let out = Command::new(&self.bin)
            .arg("--store")
            .arg(&self.store)
            .args(args)
            .env_remove("JINGTU_STORE")
            .output()
            .expect("running jingtu");
        assert!(out.status.success(), "jingtu {args:?}: {out:?}");
        String::from_utf8(out.stdout).expect("UTF-8 output")
    }

    fn ok(&self, args: &[&str]) -> Value {
        let (code, json) = self.run(args);
        assert_eq!(code, 0, "jingtu {args:?} failed: {json}");
        assert!(json.get("error").is_none(), "jingtu {args:?}: {json}");
        json
    }

    /// The command fails with exit code 1 and the JSON error `code`.
    fn fails(&self, args: &[&str], code: &str) -> Value {
        let (exit, json) = self.run(args);
        assert_eq!(exit, 1, "jingtu {args:?} should fail with {code}: {json}");
        assert_eq!(json["error"]["code"], code, "jingtu {args:?}: {json}");
        assert!(
            json["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "jingtu {args:?}: no message: {json}"
        );
        json
    }
}

fn conflict_at<'a>(conflicts: &'a Value, path: &str) -> &'a Value {
    let list = conflicts.as_array().expect("conflicts is a list");
    assert_eq!(list.len(), 1, "one conflict expected: {conflicts}");
    assert_eq!(list[0]["path"], path);
    &list[0]
}

#[test]
fn a_pilot_day_two_inspectors_one_village_one_conflict_resolved() {
    let bin = jingtu_bin();
    let dir = tempfile::tempdir().unwrap();
    let wang = Device::new(&bin, dir.path().join("wang"));
    let li = Device::new(&bin, dir.path().join("li"));
    let file = |name: &str| dir.path().join(name).to_string_lossy().into_owned();

    // Morning: both devices set up.
    let w = wang.ok(&["init", "--user", "王建军"]);
    assert_eq!(w["user"], "王建军");
    assert_eq!(w["records"], 0);
    let l = li.ok(&["init", "--user", "李秀兰"]);
    assert_eq!(l["user"], "李秀兰");
    assert_ne!(w["device"], l["device"], "two stores, two device ids");
    assert!(w["device"].as_str().is_some_and(|d| !d.is_empty()));

    let templates = wang.ok(&["templates"]);
    let ids: Vec<&str> = templates
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    for t in [
        "soil_sample.v1",
        "village_inspection.v1",
        "water_body_check.v1",
        "sewage_facility_inspection.v1",
        "soil_sample.v2",
        "village_inspection.v2",
        "water_body_check.v2",
        "sewage_facility_inspection.v2",
    ] {
        assert!(ids.contains(&t), "{t} missing from {ids:?}");
    }

    // In the village: Wang starts the inspection.
    let rec = wang.ok(&[
        "new",
        "village_inspection",
        "--org-unit",
        "411321",
        "--village",
        "杨树沟村",
    ]);
    let id = rec["id"].as_str().unwrap().to_string();
    assert_eq!(rec["kind"], "village_inspection");
    assert_eq!(rec["status"], "draft");
    assert_eq!(rec["village"], "杨树沟村");
    let id = id.as_str();
    for (path, value) in [
        ("village_name", "杨树沟村"),
        ("admin_code", "411321102206"),
        ("eval_year", "2024"),
        ("eval_half", "1"),
        ("eval_level", "county_self"),
        ("inspected_at", "2024-07-16T09:30:00+08:00"),
        ("inspectors", r#"["王建军","李秀兰"]"#),
        ("indicators.households_total", "412"),
        ("indicators.households_sewage_treated", "270"),
    ] {
        let r = wang.ok(&["set", id, path, value]);
        assert_eq!(r["ok"], true);
        assert_eq!(r["path"], path);
    }
    wang.ok(&["check", id, "clean_garbage", "pass"]);
    let r = wang.ok(&[
        "check",
        id,
        "disorder_stacking",
        "fail",
        "--issue",
        "村西头道路两侧柴草乱堆约15处",
    ]);
    assert_eq!(r["result"], "fail");
    let e = wang.fails(&["check", id, "clean_garbage", "ok"], "invalid_value");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("checklist.clean_garbage.result")
    );
    // A typo is refused with its field named, and changes nothing.
    let e = wang.fails(&["set", id, "eval_year", "二〇二四"], "invalid_value");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("eval_year")
    );
    wang.fails(&["set", id, "eval_year", "1999"], "invalid_value");

    let show = wang.ok(&["show", id]);
    assert_eq!(show["id"], id);
    assert_eq!(show["name"], "杨树沟村");
    assert_eq!(show["data"]["eval_year"], 2024);
    assert_eq!(show["data"]["indicators"]["households_total"], 412);
    assert_eq!(show["data"]["inspectors"], json!(["王建军", "李秀兰"]));
    assert_eq!(
        show["data"]["checklist"]["disorder_stacking"]["result"],
        "fail"
    );
    assert_eq!(
        show["data"]["checklist"]["disorder_stacking"]["issue"],
        "村西头道路两侧柴草乱堆约15处"
    );
    let pct = show["completion_pct"].as_f64().unwrap();
    assert!(pct > 0.0 && pct < 100.0, "completion {pct}");
    let issues = show["issues"].as_array().unwrap();
    assert!(
        issues.iter().any(|i| i["severity"] == "error"),
        "an unfinished inspection shows errors: {issues:?}"
    );
    let rate = show["computed"]["sewage_rate_from_households"]
        .as_f64()
        .unwrap_or_else(|| panic!("computed: {}", show["computed"]));
    assert!((rate - 100.0 * 270.0 / 412.0).abs() < 0.01, "rate {rate}");

    let found = wang.ok(&["list", "--search", "杨树"]);
    let found = found.as_array().unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["id"], id);
    assert!((found[0]["completion_pct"].as_f64().unwrap() - pct).abs() < 1e-9);
    assert_eq!(wang.ok(&["list", "--search", "柳树湾"]), json!([]));

    // Not finished: submit is refused with exit code 1.
    let e = wang.fails(&["submit", id], "submit_blocked");
    assert!(e["error"]["message"].as_str().unwrap().contains("error"));
    assert_eq!(wang.ok(&["show", id])["status"], "draft");

    // Wang hands the record to Li as a file.
    let x = wang.ok(&["export", id, &file("wang-1.jtr")]);
    assert!(x["bytes"].as_u64().unwrap() > 0);
    let i = li.ok(&["import", &file("wang-1.jtr")]);
    assert_eq!(i["id"], id);
    assert_eq!(i["created"], true);
    let on_li = li.ok(&["show", id]);
    assert_eq!(on_li["data"], show["data"]);

    // Both count the households again, apart, and get different numbers.
    wang.ok(&["set", id, "indicators.households_total", "415"]);
    li.ok(&["set", id, "indicators.households_total", "418"]);

    // Evening: the files go both ways.
    wang.ok(&["export", id, &file("wang-2.jtr")]);
    li.ok(&["export", id, &file("li-2.jtr")]);
    let i = li.ok(&["import", &file("wang-2.jtr")]);
    assert_eq!(i["created"], false);
    assert!(i["new_changes"].as_u64().unwrap() >= 1);
    let i = wang.ok(&["import", &file("li-2.jtr")]);
    assert_eq!(i["created"], false);
    assert!(i["new_changes"].as_u64().unwrap() >= 1);

    let path = "indicators.households_total";
    let on_wang = wang.ok(&["conflicts", id]);
    let on_li = li.ok(&["conflicts", id]);
    let mut shown = Vec::new();
    for conflicts in [&on_wang, &on_li] {
        let c = conflict_at(conflicts, path);
        let values = c["values"].as_array().unwrap();
        assert_eq!(values.len(), 2, "{c}");
        let mut numbers: Vec<i64> = values
            .iter()
            .map(|v| v["value"].as_f64().unwrap() as i64)
            .collect();
        numbers.sort();
        assert_eq!(numbers, [415, 418]);
        let mut authors: Vec<&str> = values
            .iter()
            .map(|v| v["author"].as_str().unwrap())
            .collect();
        authors.sort();
        assert_eq!(authors, ["李秀兰", "王建军"]);
        let s: Vec<&Value> = values.iter().filter(|v| v["shown"] == true).collect();
        assert_eq!(s.len(), 1, "exactly one value is shown: {c}");
        shown.push(s[0]["value"].clone());
    }
    assert_eq!(shown[0], shown[1], "both devices show the same value");
    assert_eq!(
        wang.ok(&["show", id])["data"]["indicators"]["households_total"],
        shown[0]
    );
    let listed = wang.ok(&["list", "--search", "杨树"]);
    assert_eq!(listed[0]["conflict_count"], 1);

    // Wang settles it with the number from the village register.
    let r = wang.ok(&["resolve", id, path, "416"]);
    assert_eq!(r["ok"], true);
    assert_eq!(wang.ok(&["conflicts", id]), json!([]));
    assert_eq!(
        wang.ok(&["show", id])["data"]["indicators"]["households_total"],
        416
    );
    wang.fails(&["resolve", id, path, "417"], "invalid_state");

    // The resolution travels to Li.
    wang.ok(&["export", id, &file("wang-3.jtr")]);
    li.ok(&["import", &file("wang-3.jtr")]);
    assert_eq!(li.ok(&["conflicts", id]), json!([]));
    assert_eq!(
        li.ok(&["show", id])["data"]["indicators"]["households_total"],
        416
    );

    // Who did what.
    let history = wang.ok(&["history", id]);
    let history = history.as_array().unwrap();
    let authors: Vec<&str> = history
        .iter()
        .filter_map(|h| h["author"].as_str())
        .collect();
    assert!(authors.contains(&"王建军"), "{authors:?}");
    assert!(authors.contains(&"李秀兰"), "{authors:?}");
    assert!(
        history
            .iter()
            .any(|h| h["author"] == "李秀兰"
                && h["paths"].as_array().unwrap().iter().any(|p| p == path)),
        "Li's count is in the history: {history:?}"
    );
    assert!(
        history
            .iter()
            .any(|h| h["author"] == "王建军" && h["action"] == "create")
    );
    // Without --json, times read as dates in China Standard Time; the JSON keeps milliseconds.
    let first_ms = history[0]["time_ms"].as_i64().expect("time_ms");
    let text = wang.human(&["history", id]);
    let first_line = text.lines().next().unwrap_or_default();
    let date = &first_line[..first_line.find("+08:00").expect(first_line) + 6];
    assert_eq!(date.len(), 26, "{first_line}");
    assert!(!text.contains(&first_ms.to_string()), "{text}");
    assert!(wang.human(&["status"]).contains("last sync never"));
}

#[test]
fn mistakes_on_the_command_line_get_an_error_code_and_exit_1() {
    let bin = jingtu_bin();
    let dir = tempfile::tempdir().unwrap();
    let dev = Device::new(&bin, dir.path().join("store"));
    dev.ok(&["init", "--user", "王建军"]);
    dev.fails(&["new", "fish_count"], "unknown_template");
    let rec = dev.ok(&["new", "soil_sample"]);
    let id = rec["id"].as_str().unwrap();
    dev.fails(
        &["show", "01900000-0000-7000-8000-000000000000"],
        "not_found",
    );
    dev.fails(&["set", id, "soil_colour", "brown"], "unknown_field");
    dev.fails(&["set", id, "lab_results.ph", "15"], "invalid_value");
    dev.fails(&["set", id, "land_use", "paddy"], "invalid_value");
    dev.fails(&["set", id, "lab_results..ph", "6"], "bad_path");
    dev.fails(&["append", id, "notes", "x"], "bad_path");
    std::fs::write(dir.path().join("junk.jtr"), b"not a record at all").unwrap();
    dev.fails(
        &["import", &dir.path().join("junk.jtr").to_string_lossy()],
        "bad_record",
    );
    // Nothing was written (an empty record's data prints as null or {}).
    let data = &dev.ok(&["show", id])["data"];
    assert!(data.is_null() || data == &json!({}), "{data}");
    // The store held open by another program.
    let held = DeviceCore::open(&dir.path().join("store")).unwrap();
    dev.fails(&["show", id], "store_locked");
    drop(held);
    dev.ok(&["show", id]);
}

/// A small photograph-like JPEG (gradients and a checker pattern).
fn test_jpeg() -> Vec<u8> {
    let img = jingtu_media::RgbImage::from_fn(320, 240, |x, y| {
        jingtu_media::Rgb([
            (x * 255 / 320) as u8,
            (y * 255 / 240) as u8,
            (((x / 16 + y / 16) % 2) * 150 + 50) as u8,
        ])
    });
    jingtu_media::encode_rgb_jpeg(&img, 90).expect("encoding a test JPEG")
}

fn tags_of(list: &Value) -> Vec<&str> {
    let mut tags: Vec<&str> = list
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|m| m["tag"].as_str().unwrap())
        .collect();
    tags.sort();
    tags
}

#[test]
fn photos_are_added_listed_written_out_and_removed() {
    let bin = jingtu_bin();
    let dir = tempfile::tempdir().unwrap();
    let dev = Device::new(&bin, dir.path().join("store"));
    let file = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    dev.ok(&["init", "--user", "李采样"]);
    let jpeg = file("camera.jpg");
    std::fs::write(&jpeg, test_jpeg()).unwrap();

    // A soil sample wants eight photos and has none.
    let soil = dev.ok(&["new", "soil_sample"]);
    let soil = soil["id"].as_str().unwrap();
    let list = dev.ok(&["photo", "list", soil]);
    assert_eq!(list["id"], soil);
    assert_eq!(list["photos"], json!([]));
    assert_eq!(
        tags_of(&list["missing"]),
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

    // The east landscape, of the whole record, at the phone's position fix.
    let east = dev.ok(&[
        "photo",
        "add",
        soil,
        "-",
        &jpeg,
        "--tag",
        "landscape_e",
        "--lat",
        "34.7",
        "--lon",
        "113.6",
        "--accuracy",
        "3",
    ]);
    assert_eq!(east["tag"], "landscape_e");
    assert_eq!(east["field"], Value::Null);
    assert_eq!(east["lat"], 34.7);
    assert_eq!(east["lon"], 113.6);
    assert_eq!(east["accuracy_m"], 3.0);
    assert_eq!(east["position_source"], "device");
    assert_eq!(
        east["stamped"], true,
        "soil photos carry the evidence stamp"
    );
    assert_eq!(east["author"], "李采样");
    assert_eq!(east["has_full"], true);
    assert_eq!(east["has_thumb"], true);
    assert_eq!(east["width"], 320);
    assert_eq!(east["height"], 240);
    let east_id = east["id"].as_str().unwrap();
    let east_hash = east["sha256"].as_str().unwrap();
    assert_eq!(east_hash.len(), 64);
    let list = dev.ok(&["photo", "list", soil]);
    assert_eq!(list["photos"].as_array().unwrap().len(), 1);
    assert_eq!(list["photos"][0]["id"], east_id);
    assert_eq!(list["missing"].as_array().unwrap().len(), 7);
    assert!(!tags_of(&list["missing"]).contains(&"landscape_e"));

    // The full image and the thumbnail, written out by content id.
    let out = dev.ok(&["photo", "get", east_hash, &file("east.jpg")]);
    let full = std::fs::read(file("east.jpg")).unwrap();
    assert_eq!(jingtu_media::content_id(&full), east_hash);
    assert_eq!(out["bytes"], full.len());
    assert_eq!(east["size"], full.len());
    assert_eq!(out["thumbnail"], false);
    let out = dev.ok(&[
        "photo",
        "get",
        east_hash,
        &file("east-thumb.jpg"),
        "--thumb",
    ]);
    let thumb = std::fs::read(file("east-thumb.jpg")).unwrap();
    assert_eq!(out["bytes"], thumb.len());
    assert_eq!(out["thumbnail"], true);
    assert!(
        !thumb.is_empty() && thumb.len() < full.len(),
        "thumbnail {} bytes, image {}",
        thumb.len(),
        full.len()
    );

    // A village inspection: a photo proving a checklist item lands in the item's photo list.
    let village = dev.ok(&["new", "village_inspection", "--village", "杨树沟村"]);
    let village = village["id"].as_str().unwrap();
    let before = dev.ok(&[
        "photo",
        "add",
        village,
        "checklist.clean_garbage",
        &jpeg,
        "--tag",
        "before",
        "--note",
        "村口垃圾堆",
    ]);
    assert_eq!(before["field"], "checklist.clean_garbage");
    assert_eq!(before["list"], "checklist.clean_garbage.photos");
    assert_eq!(before["note"], "村口垃圾堆");
    assert_eq!(before["stamped"], false, "village photos are not stamped");
    assert_eq!(before["position_source"], Value::Null);
    let before_id = before["id"].as_str().unwrap();
    let before_hash = before["sha256"].as_str().unwrap();
    assert_ne!(before_hash, east_hash, "the stamp changed the soil photo");
    let show = dev.ok(&["show", village]);
    assert_eq!(
        show["data"]["checklist"]["clean_garbage"]["photos"],
        json!([before_id])
    );
    assert_eq!(show["photos"].as_array().unwrap().len(), 1);
    let copy = file("before.jpg");
    dev.ok(&["photo", "get", before_hash, &copy]);
    assert_eq!(
        jingtu_media::content_id(&std::fs::read(&copy).unwrap()),
        before_hash
    );

    // Removed: gone from the item and the list, kept in the history; its bytes are dropped
    // as no record uses them any more.
    let r = dev.ok(&["photo", "remove", village, before_id]);
    assert_eq!(r["removed"], true);
    assert_eq!(r["photo_id"], before_id);
    assert_eq!(dev.ok(&["photo", "list", village])["photos"], json!([]));
    let all = dev.ok(&["photo", "list", village, "--all"]);
    let all = all["photos"].as_array().unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["id"], before_id);
    assert_eq!(all[0]["removed"]["by"], "李采样");
    let photos = &dev.ok(&["show", village])["data"]["checklist"]["clean_garbage"]["photos"];
    assert!(
        photos.is_null() || photos == &json!([]),
        "the removed photo is still listed: {photos}"
    );
    dev.fails(&["photo", "remove", village, before_id], "not_found");
    dev.fails(
        &["photo", "get", before_hash, &file("gone.jpg")],
        "not_found",
    );
    assert!(!Path::new(&file("gone.jpg")).exists());

    // Mistakes: each is refused and stores nothing.
    let e = dev.fails(
        &["photo", "add", soil, "-", &jpeg, "--tag", "selfie"],
        "invalid_value",
    );
    assert!(
        e["error"]["message"].as_str().unwrap().contains("selfie"),
        "{e}"
    );
    let text = file("notes.txt");
    std::fs::write(&text, "采样点位于村东头，土壤湿润。\n").unwrap();
    dev.fails(
        &["photo", "add", soil, "-", &text, "--tag", "sampling"],
        "bad_photo",
    );
    let (exit, e) = dev.run(&[
        "photo",
        "add",
        soil,
        "-",
        &file("no-such-photo.jpg"),
        "--tag",
        "sampling",
    ]);
    assert_eq!(exit, 1, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("no-such-photo.jpg")),
        "the missing file is named: {e}"
    );
    dev.fails(
        &["photo", "get", "not-a-hash", &file("bad.jpg")],
        "invalid_value",
    );
    dev.fails(
        &["photo", "get", &"0".repeat(64), &file("bad.jpg")],
        "not_found",
    );
    assert!(!Path::new(&file("bad.jpg")).exists());
    let list = dev.ok(&["photo", "list", soil, "--all"]);
    assert_eq!(list["photos"].as_array().unwrap().len(), 1);
    assert_eq!(list["missing"].as_array().unwrap().len(), 7);
}

/// A record file whose photo entry names its image by something that is not a SHA-256 (a
/// path, a short string): refused on import with the reason, never a crash.
#[test]
fn a_record_file_with_a_malformed_photo_hash_is_refused_with_the_reason() {
    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, ObjType, ROOT, ReadDoc};
    let tmp = tempfile::tempdir().unwrap();
    let bin = jingtu_bin();
    let a = Device::new(&bin, tmp.path().join("a"));
    a.ok(&["init", "--user", "张三"]);
    let id = a.ok(&["new", "village_inspection"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let good = tmp.path().join("good.automerge");
    a.ok(&["export", &id, good.to_str().unwrap()]);
    for bad_hash in ["../../etc/passwd", "ab", "", &"AB".repeat(32)] {
        let mut doc = AutoCommit::load(&std::fs::read(&good).unwrap()).unwrap();
        let photos = match doc.get(ROOT, "photos").unwrap() {
            Some((_, p)) => p,
            None => panic!("no photos map"),
        };
        let p = doc.put_object(&photos, "p1", ObjType::Map).unwrap();
        doc.put(&p, "sha256", bad_hash).unwrap();
        doc.put(&p, "tag", "before").unwrap();
        let crafted = tmp.path().join("crafted.automerge");
        std::fs::write(&crafted, doc.save()).unwrap();
        let b = Device::new(&bin, tmp.path().join(format!("b{}", bad_hash.len())));
        b.ok(&["init", "--user", "李四"]);
        let e = b.fails(&["import", crafted.to_str().unwrap()], "bad_record");
        assert!(
            e["error"]["message"].as_str().unwrap().contains("SHA-256"),
            "{e}"
        );
        // Merged into the record the device holds: refused alike, the record as it was.
        let e = a.fails(&["import", crafted.to_str().unwrap()], "bad_record");
        assert!(e["error"]["message"].as_str().unwrap().contains("SHA-256"));
        assert_eq!(a.ok(&["photo", "list", &id])["photos"], json!([]));
    }
}

/// `jingtu ledger`: a facility of 180 t/day inspected in Q1 and monitored in H1 shows Q2 as
/// missed on 15 August (task 19), in JSON and for people; a bad date is refused.
#[test]
fn the_facility_ledger_lists_a_missed_quarter() {
    let bin = jingtu_bin();
    let dir = tempfile::tempdir().unwrap();
    let d = Device::new(&bin, dir.path().join("insp"));
    d.ok(&["init", "--user", "王巡查"]);
    assert_eq!(d.ok(&["ledger", "water-bodies"]), json!([]));
    for (kind, at) in [
        ("quarterly_inspection", "2024-03-12T09:00:00+08:00"),
        ("half_year_monitoring", "2024-06-05T09:00:00+08:00"),
    ] {
        let id = d.ok(&["new", "sewage_facility_inspection"])["id"]
            .as_str()
            .unwrap()
            .to_string();
        let mut fields = vec![
            ("facility_name", "云阳镇污水处理站".to_string()),
            ("facility_code", "WS-411321102".into()),
            ("admin_code", "411321102000".into()),
            ("design_capacity_t_d", "120".into()),
            ("actual_flow_t_d", "180".into()),
            ("inspection_type", kind.into()),
            ("inspected_at", at.into()),
            ("facility_status", "normal".into()),
            ("inspectors", r#"["王巡查"]"#.into()),
            (
                "online_monitoring",
                r#"{"flow_meter": true, "video": false}"#.into(),
            ),
        ];
        if kind == "half_year_monitoring" {
            fields.push((
                "inlet",
                r#"{"cod_mg_l": 250, "nh3n_mg_l": 30, "sampled_at": "2024-06-05T09:20:00+08:00"}"#
                    .into(),
            ));
            fields.push((
                "outlet",
                r#"{"cod_mg_l": 45, "nh3n_mg_l": 12, "sampled_at": "2024-06-05T09:40:00+08:00"}"#
                    .into(),
            ));
        }
        for (path, value) in &fields {
            d.ok(&["set", &id, path, value]);
        }
        let shown = d.ok(&["show", &id]);
        if kind == "half_year_monitoring" {
            // The outlet's ammonia above the limit: a warning naming the limits' source.
            let warned = shown["issues"].as_array().unwrap().iter().any(|i| {
                i["path"] == "outlet.nh3n_mg_l"
                    && i["severity"] == "warning"
                    && i["message"]["zh"]
                        .as_str()
                        .is_some_and(|m| m.contains("DB41/1820-2019"))
            });
            assert!(warned, "{shown}");
        }
        d.ok(&["submit", &id]);
    }
    let list = d.ok(&[
        "ledger",
        "facilities",
        "--year",
        "2024",
        "--as-of",
        "2024-08-15",
    ]);
    let f = &list[0];
    assert_eq!(f["facility_code"], "WS-411321102");
    assert_eq!(f["scale_t_d"], 180.0);
    assert_eq!(f["missed"], json!(["2024-Q2"]));
    assert_eq!(f["online_duty"]["kind"], "flow_and_video");
    assert_eq!(f["online_duty"]["met"], false);
    let text = d.human(&[
        "ledger",
        "facilities",
        "--year",
        "2024",
        "--as-of",
        "2024-08-15",
    ]);
    assert!(text.contains("漏查/漏测: 2024-Q2"), "{text}");
    assert!(text.contains("2024-Q3 进行中"), "{text}");
    d.fails(&["ledger", "facilities", "--as-of", "15/08/2024"], "error");
}
