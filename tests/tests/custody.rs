//! A soil sample's chain of custody through the `jingtu` command line and a real server: the
//! sampler's phone hands a batch over while the county office's tablet, offline, confirms it
//! received; after syncing, both hold one verified chain in the same order. A step with a
//! wrong value is refused with its field; a broken seal and a short count are flagged.

mod common;

use common::cli::enrolled;
use common::web::install_tls;
use jingtu_e2e::ServerProcess;

const SERVER: &str = env!("CARGO_BIN_EXE_jingtu-e2e-server");

#[test]
fn a_batch_handed_over_and_received_offline_at_once_makes_one_verified_chain() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(SERVER, &dir.path().join("server"));
    server.county(&[
        ("samp_yy", "sampler", "411321102000"),
        ("sup_nz", "supervisor", "411321000000"),
    ]);
    let phone = enrolled(&server, dir.path(), "phone", "samp_yy");
    let tablet = enrolled(&server, dir.path(), "tablet", "sup_nz");
    let new_sample = || {
        phone.ok(&["new", "soil_sample", "--org-unit", "411321102206"])["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (a, b) = (new_sample(), new_sample());
    // Codes made offline from the point code; the second sample of the point is a duplicate.
    for id in [&a, &b] {
        phone.ok(&["set", id, "point_code", "411321YJ0087"]);
    }
    let code = phone.ok(&["custody", "code", &a]);
    assert_eq!(code["sample_code"], "411321YJ0087-T1");
    phone.fails(&["custody", "code", &b], "invalid_state");
    phone.ok(&["set", &b, "qc_type", "field_duplicate"]);
    assert_eq!(
        phone.ok(&["custody", "code", &b])["sample_code"],
        "411321YJ0087-T1P"
    );
    assert_eq!(
        phone.ok(&["custody", "find", "411321YJ0087-T1P"])["id"],
        b.as_str()
    );
    phone.fails(&["custody", "find", "411321YJ0087-T7"], "error");
    phone.ok(&[
        "custody",
        "add",
        &a,
        &b,
        "--step",
        r#"{"step": "collected"}"#,
    ]);
    phone.ok(&["sync"]);
    tablet.ok(&["sync"]);

    let sent = phone.ok(&[
        "custody",
        "handover",
        &a,
        &b,
        "--batch",
        "JJ-2024-07",
        "--to",
        "sup_nz",
        "--to-org",
        "县制备室",
    ]);
    assert_eq!(sent.as_array().unwrap().len(), 2);
    assert_eq!(sent[0]["step"]["samples_expected"], 2);
    // The tablet has not seen the hand-over: one bag's seal is broken, one sample is missing.
    let got = tablet.ok(&[
        "custody",
        "receive",
        &a,
        "--batch",
        "JJ-2024-07",
        "--received",
        "1",
        "--scanned",
        "--seal-broken",
    ]);
    assert_eq!(got[0]["issues"][0]["code"], "seal_broken");
    tablet.ok(&["sync"]);
    phone.ok(&["sync"]);
    tablet.ok(&["sync"]);

    let on_phone = phone.ok(&["custody", "show", &a]);
    let on_tablet = tablet.ok(&["custody", "show", &a]);
    assert_eq!(on_phone, on_tablet, "both devices compute the same chain");
    let steps: Vec<&str> = on_phone["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["step"]["step"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["collected", "handed_over", "received"]);
    assert_eq!(on_phone["intact"], true);
    let codes: Vec<&str> = on_phone["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["count_mismatch", "seal_broken"], "{on_phone}");

    // A wrong step is refused with its field, and nothing of it is kept.
    let refused = phone.fails(
        &[
            "custody",
            "add",
            &a,
            "--step",
            r#"{"step": "fine_ground", "mesh": 80}"#,
        ],
        "invalid_value",
    );
    assert!(refused.to_string().contains("custody.mesh"), "{refused}");
    let bad_json = phone.fails(&["custody", "add", &a, "--step", "grind it"], "error");
    assert!(bad_json.to_string().contains("fine_ground"), "{bad_json}");
    assert_eq!(
        phone.ok(&["custody", "show", &a])["events"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    // The human form says the chain is intact and lists the findings in Chinese.
    let (ok, text) = phone.run(&["custody", "show", &a], false);
    assert!(
        ok && text.contains("chain verified: intact") && text.contains("实收 1 个"),
        "{text}"
    );

    // The batch's hand-over sheet: both samples on the phone, one confirmed short on the
    // tablet; as CSV for a spreadsheet, with Chinese headings.
    phone.ok(&["sync"]);
    let csv = dir.path().join("JJ-2024-07.csv");
    let sheet = phone.ok(&[
        "custody",
        "sheet",
        "JJ-2024-07",
        "--csv",
        csv.to_str().unwrap(),
    ]);
    assert_eq!(sheet.as_array().unwrap().len(), 2, "{sheet}");
    let row_a = sheet
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == a.as_str())
        .unwrap();
    assert_eq!(
        (row_a["expected"].as_u64(), row_a["received"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(row_a["seal"], "破损");
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(
        text.starts_with("\u{feff}样品,记录编号,点位,交接时间"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 3, "{text}");
    phone.fails(&["custody", "sheet", "JJ-0000"], "not_found");

    // The batch's quality control against the template's ratios: a routine sample and its
    // field duplicate; no blind duplicate, no lab duplicate, no reference material yet.
    let qc = phone.ok(&["custody", "qc", "JJ-2024-07"]);
    let check = |item: &str| {
        let c = qc["qc"]["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["item"] == item)
            .unwrap()
            .clone();
        (
            c["count"].as_u64().unwrap(),
            c["required"].as_u64().unwrap(),
            c["status"].as_str().unwrap().to_string(),
        )
    };
    assert_eq!(
        (qc["qc"]["samples"].as_u64(), qc["qc"]["routine"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(check("field_duplicate"), (1, 1, "met".into()), "{qc}");
    assert_eq!(check("blind_duplicate"), (0, 1, "short".into()));
    assert_eq!(check("lab_duplicate"), (0, 1, "short".into()));
    assert_eq!(check("crm"), (0, 1, "short".into()));
    assert_eq!(qc["qc"]["met"], false);
    assert_eq!(
        qc["plan"]["field_duplicate"]["max"], 0.1,
        "the template's ratios: {qc}"
    );
    let (ok, text) = phone.run(&["custody", "qc", "JJ-2024-07"], false);
    assert!(
        ok && text.contains("密码平行样") && text.contains("不足"),
        "{text}"
    );

    // The same sheet as an Excel workbook, with its Chinese headings and the batch named.
    let xlsx = dir.path().join("JJ-2024-07.xlsx");
    phone.ok(&[
        "custody",
        "sheet",
        "JJ-2024-07",
        "--xlsx",
        xlsx.to_str().unwrap(),
    ]);
    let mut book = zip::ZipArchive::new(std::fs::File::open(&xlsx).unwrap()).unwrap();
    let mut strings = String::new();
    std::io::Read::read_to_string(
        &mut book.by_name("xl/sharedStrings.xml").unwrap(),
        &mut strings,
    )
    .unwrap();
    for want in [
        "土壤样品交接单 批次 JJ-2024-07",
        "交接数量",
        "实收数量",
        "破损",
        a.as_str(),
        "批次 JJ-2024-07 质量控制",
        "现场平行样",
        "本批次质控未达标",
    ] {
        assert!(strings.contains(want), "{want} in {strings}");
    }
    let mut sheet1 = String::new();
    std::io::Read::read_to_string(
        &mut book.by_name("xl/worksheets/sheet1.xml").unwrap(),
        &mut sheet1,
    )
    .unwrap();
    assert!(
        sheet1.contains("<v>2</v>") && sheet1.contains("<v>1</v>"),
        "counts as numbers: {sheet1}"
    );

    // The server's record detail (the console's sample page reads it) shows the same chain.
    install_tls(&server.url);
    let body = reqwest::blocking::Client::new()
        .get(format!("{}/v1/records/{a}", server.url))
        .bearer_auth(server.admin_token.as_deref().unwrap())
        .send()
        .unwrap()
        .text()
        .unwrap();
    let detail: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(detail["custody"], on_phone, "{detail}");
}

/// Tamper evidence on the server: a phone's custody events carry the key it enrolled with
/// and are taken; events the same phone signs with another key (a stolen store's key swapped,
/// a tampered app) are refused with `custody_signature`, and the chain on the server stays
/// as it was.
#[test]
fn custody_events_signed_with_a_key_the_phone_did_not_enroll_with_are_refused() {
    use jingtu_core::{CustodyStep, NewRecordPlace};
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(SERVER, &dir.path().join("server"));
    server.county(&[("samp_yy", "sampler", "411321102000")]);
    let phone = server.enrolled_device(&dir.path().join("phone"), "samp_yy");
    let enrolled_key = phone.custody_public_key().unwrap();
    let place = NewRecordPlace {
        org_unit: Some("411321102206".into()),
        ..Default::default()
    };
    let id = phone.create_record("soil_sample", &place).unwrap().id;
    let collected = phone
        .add_custody_event(
            &id,
            &CustodyStep::Collected {
                note: String::new(),
            },
        )
        .unwrap();
    assert_eq!(collected.key.as_deref(), Some(enrolled_key.as_str()));
    assert!(collected.signed);
    let report = phone.sync(&mut |_| true).unwrap();
    assert!(report.refused.is_empty(), "{:?}", report.refused);

    // The same phone, now signing with a key it did not enroll with.
    phone.set_custody_signer(std::sync::Arc::new(jingtu_core::DeviceKey::generate()));
    assert_ne!(phone.custody_public_key().unwrap(), enrolled_key);
    let packed = phone
        .add_custody_event(
            &id,
            &CustodyStep::Packed {
                seal_no: Some("F-77".into()),
                container: "布袋".into(),
            },
        )
        .unwrap();
    assert!(
        packed.signed,
        "its own signature holds: only the server knows the key is wrong"
    );
    let report = phone.sync(&mut |_| true).unwrap();
    let refused = &report.refused[0];
    assert_eq!(
        (refused.code.as_str(), refused.rule.as_deref()),
        ("forbidden", Some("custody_signature")),
        "{refused:?}"
    );
    assert_eq!(
        refused.path.as_deref(),
        Some(format!("custody/{}", packed.id).as_str())
    );

    // A fresh device sees the chain as the server keeps it: the collection only.
    let other = server.enrolled_device(&dir.path().join("other"), "samp_yy");
    other.sync(&mut |_| true).unwrap();
    let chain = other.custody(&id).unwrap();
    assert_eq!(chain.events.len(), 1);
    assert!(
        chain.intact && chain.events[0].signed,
        "{:?}",
        chain.findings
    );

    // Carried by file: a third device, enrolled with its own key, writes a step and gives the
    // record to `other`, which pushes it: its key is the one that device enrolled with.
    let third = server.enrolled_device(&dir.path().join("third"), "samp_yy");
    third.sync(&mut |_| true).unwrap();
    let split = third
        .add_custody_event(&id, &CustodyStep::Split { parts: 4 })
        .unwrap();
    other.import(&third.export(&id).unwrap()).unwrap();
    let report = other.sync(&mut |_| true).unwrap();
    assert!(report.refused.is_empty(), "{:?}", report.refused);
    assert!(
        other
            .custody(&id)
            .unwrap()
            .events
            .iter()
            .any(|e| e.id == split.id)
    );
    // The tampered phone's next event, carried the same way before the phone syncs, names a
    // device whose enrolled key is not the one it is signed with: refused, whoever pushes it.
    phone.sync(&mut |_| true).unwrap();
    phone
        .add_custody_event(&id, &CustodyStep::FineGround { mesh: 100 })
        .unwrap();
    let forged = other.import(&phone.export(&id).unwrap()).unwrap();
    assert!(forged.new_changes > 0);
    let report = other.sync(&mut |_| true).unwrap();
    let refused = report
        .refused
        .iter()
        .find(|r| r.record == id)
        .unwrap_or_else(|| panic!("{:?}", report.refused));
    assert_eq!(refused.rule.as_deref(), Some("custody_signature"));
    assert!(
        refused.message.contains("did not enroll with")
            && refused.message.contains(&phone.device_id()),
        "{refused:?}"
    );
}

/// The admin imports the planned point list and assigns it in one go; the sampler's phone
/// receives the points with their positions, a record started from one is filled in from the
/// list, and the way there is worked out offline. A bad list is refused whole, every problem
/// named with its line.
#[test]
fn an_imported_point_list_reaches_the_samplers_phone_with_positions() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(SERVER, &dir.path().join("server"));
    server.county(&[("samp_yy", "sampler", "411321102000")]);
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "点位编码,经度,纬度,土地利用类型,行政区划代码\n\
         YJ-0087,112.4312,33.4886,水田,411321102206\n\
         YJ-0087,112.4400,33.4900,旱地,411321102206\n\
         YJ-0088,212.0,33.49,果园,411321102206\n\
         YJ-0089,112.45,33.49,沙漠,411399999999\n",
    )
    .unwrap();
    let err = server
        .try_admin(&["points", "import", bad.to_str().unwrap()])
        .unwrap_err();
    for want in [
        "nothing was imported",
        "line 3: point code YJ-0087 is already at line 2",
        "line 4: longitude 212",
        "line 5: land_use '沙漠' is not in code table land_use",
        "line 5: org unit 411399999999 is not known",
    ] {
        assert!(err.contains(want), "{want} in {err}");
    }
    assert_eq!(
        server.admin(&["points", "list"]),
        "",
        "nothing of it was stored"
    );

    let geojson = dir.path().join("points.geojson");
    std::fs::write(
        &geojson,
        r#"{"type": "FeatureCollection", "features": [
          {"type": "Feature", "geometry": {"type": "Point", "coordinates": [112.4312, 33.4886]},
           "properties": {"code": "YJ-0087", "name": "杨树沟17号", "land_use": "水田",
                          "task": "early_warning", "org_unit": "411321102206"}},
          {"type": "Feature", "geometry": {"type": "Point", "coordinates": [112.4401, 33.4911]},
           "properties": {"code": "YJ-0088", "land_use": "dryland_0103",
                          "org_unit": "411321102206"}}]}"#,
    )
    .unwrap();
    let out = server.admin(&[
        "points",
        "import",
        geojson.to_str().unwrap(),
        "--assign-to",
        "samp_yy",
        "--due",
        "2024-06-30",
    ]);
    assert!(
        out.contains("2 planned points: 2 new, 0 replaced") && out.contains("2 points assigned"),
        "{out}"
    );
    let listed = server.admin(&["points", "list", "--under", "411321102000", "--json"]);
    let first: serde_json::Value = serde_json::from_str(listed.lines().next().unwrap()).unwrap();
    assert_eq!(
        first["land_use"], "paddy_0101",
        "a label became its code: {first}"
    );

    let phone = enrolled(&server, dir.path(), "phone", "samp_yy");
    phone.ok(&["sync"]);
    let held = phone.ok(&["assignments"]);
    let asg = held
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["target"] == "YJ-0087")
        .unwrap_or_else(|| panic!("{held}"));
    assert_eq!(asg["target_name"], "杨树沟17号");
    assert_eq!(asg["planned_point"]["lat"], 33.4886);
    let started = phone.ok(&["start", asg["id"].as_str().unwrap()]);
    let id = started["id"].as_str().unwrap();
    let record = phone.ok(&["show", id]);
    let data = &record["data"];
    assert_eq!(data["point_code"], "YJ-0087", "{record}");
    assert_eq!(data["planned_position"]["lon"], 112.4312);
    assert_eq!(
        (&data["land_use"], &data["monitoring_task"]),
        (
            &serde_json::json!("paddy_0101"),
            &serde_json::json!("early_warning")
        )
    );
    let way = phone.ok(&[
        "custody", "guide", id, "--lat", "33.4886", "--lon", "112.4322",
    ]);
    assert!(
        way["exceeded"] == true && way["direction"]["zh"] == "西",
        "{way}"
    );
    assert_eq!(
        phone.ok(&["custody", "code", id])["sample_code"],
        "YJ-0087-T1"
    );
    phone.ok(&["sync"]);

    // The list can be imported again: the same codes are replaced, not doubled.
    let again = server.admin(&["points", "import", geojson.to_str().unwrap()]);
    assert!(again.contains("0 new, 2 replaced"), "{again}");
}

/// A sample handed over by name to a user of another township's preparation room reaches
/// that user's device at its next sync (and no other sample does); the receiver confirms and
/// logs preparation, and the server takes custody events from them and nothing else.
#[test]
fn the_receiver_named_at_hand_over_holds_the_sample_and_writes_only_its_custody() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(SERVER, &dir.path().join("server"));
    server.county(&[
        ("samp_yy", "sampler", "411321102000"),
        ("prep_hl", "sampler", "411321103000"),
    ]);
    let phone = enrolled(&server, dir.path(), "phone", "samp_yy");
    let room = enrolled(&server, dir.path(), "room", "prep_hl");
    let new_sample = |point: &str| {
        let id = phone.ok(&["new", "soil_sample", "--org-unit", "411321102206"])["id"]
            .as_str()
            .unwrap()
            .to_string();
        phone.ok(&["set", &id, "point_code", point]);
        phone.ok(&["custody", "code", &id]);
        phone.ok(&["custody", "add", &id, "--step", r#"{"step": "collected"}"#]);
        id
    };
    let (a, b) = (new_sample("YJ-0087"), new_sample("YJ-0088"));
    phone.ok(&["sync"]);
    room.ok(&["sync"]);
    assert_eq!(
        room.ok(&["list"]).as_array().unwrap().len(),
        0,
        "another township's samples are not the room's"
    );
    phone.ok(&[
        "custody",
        "handover",
        &a,
        "--batch",
        "JJ-2024-09",
        "--to",
        "prep_hl",
        "--to-org",
        "皇路店镇制备室",
    ]);
    phone.ok(&["sync"]);

    let got = room.ok(&["sync"]);
    assert_eq!(got["records_received"], 1, "{got}");
    let held = room.ok(&["list"]);
    let ids: Vec<&str> = held
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [a.as_str()], "only the sample handed to them: {held}");
    assert_ne!(ids[0], b);
    let found = room.ok(&["custody", "find", "YJ-0087-T1"]);
    assert_eq!(found["id"], a.as_str());
    room.ok(&[
        "custody",
        "receive",
        &a,
        "--batch",
        "JJ-2024-09",
        "--received",
        "1",
        "--scanned",
    ]);
    room.ok(&[
        "custody",
        "add",
        &a,
        "--step",
        r#"{"step": "air_dried", "started_at_ms": 1720000000000, "ended_at_ms": 1720200000000, "weight_before_g": 1150, "weight_after_g": 980}"#,
    ]);
    let pushed = room.ok(&["sync"]);
    assert_eq!(pushed["refused"].as_array().unwrap().len(), 0, "{pushed}");
    phone.ok(&["sync"]);
    let chain = phone.ok(&["custody", "show", &a]);
    let steps: Vec<&str> = chain["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["step"]["step"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["collected", "handed_over", "received", "air_dried"]);
    assert_eq!(chain["intact"], true, "{chain}");

    // Anything else of the sample is not the receiver's to change.
    room.ok(&["set", &a, "notes", "改一下"]);
    let (ok, out) = room.run(&["sync"], true);
    assert!(!ok, "{out}");
    let refused: serde_json::Value =
        serde_json::from_str(out.trim().lines().next().unwrap()).unwrap();
    let r = &refused["refused"][0];
    assert_eq!(
        (r["code"].as_str(), r["rule"].as_str()),
        (Some("forbidden"), Some("custody_holder")),
        "{refused}"
    );
}
