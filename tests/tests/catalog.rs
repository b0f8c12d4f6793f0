//! Templates and code tables reach devices through sync (docs/sync-protocol.md, "Catalog"),
//! through a real server process and device stores in temp dirs:
//!
//! - a template version an admin publishes reaches the devices of the roles that capture it
//!   (and supervisors) at their next sync, without an app update, and stays in the store;
//! - an assignment of another kind brings that kind's templates to a field user;
//! - published code tables reach every device; tables that would lose a code are refused;
//! - a record of a template a device does not know yet arrives with the template and opens.

use jingtu_core::{DeviceCore, NewRecordPlace, SyncReport};
use jingtu_e2e::ServerProcess;
use jingtu_model::TemplateSet;
use serde_json::{Value, json};
use tempfile::TempDir;

const SERVER: &str = env!("CARGO_BIN_EXE_jingtu-e2e-server");

struct World {
    server: ServerProcess,
    dir: TempDir,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let server = ServerProcess::start(SERVER, &dir.path().join("server"));
        server.county(&[
            ("insp", "inspector", "411321102000"),
            ("samp", "sampler", "411321102000"),
            ("sup", "supervisor", "411321000000"),
        ]);
        World { server, dir }
    }

    fn device(&self, name: &str, user: &str) -> DeviceCore {
        self.server
            .enrolled_device(&self.dir.path().join(name), user)
    }

    /// Writes a file and runs `admin <what> publish FILE`; returns the command's output or
    /// its failure.
    fn publish(&self, what: &str, name: &str, text: &str) -> Result<String, String> {
        let file = self.dir.path().join(name);
        std::fs::write(&file, text).unwrap();
        self.server
            .try_admin(&[what, "publish", file.to_str().unwrap()])
    }
}

fn sync(core: &DeviceCore) -> SyncReport {
    let r = core.sync(&mut |_| true).unwrap();
    assert!(r.refused.is_empty(), "{:?}", r.refused);
    r
}

fn builtin(kind: &str) -> Value {
    let (templates, _) = TemplateSet::builtin_sources();
    let text = templates
        .iter()
        .find(|(n, _)| n.starts_with(kind))
        .unwrap()
        .1;
    serde_json::from_str(text).unwrap()
}

/// The next version of a built-in template, with a `weather` field.
fn next_version(kind: &str) -> String {
    let mut v = builtin(kind);
    v["x-template"]["version"] = json!(3);
    v["properties"]["weather"] =
        json!({"type": "string", "x-label": {"zh": "天气", "en": "Weather"}});
    v.to_string()
}

fn template_ids(core: &DeviceCore) -> Vec<String> {
    core.templates().into_iter().map(|t| t.id).collect()
}

#[test]
fn a_published_template_reaches_the_roles_that_capture_it() {
    let w = World::new();
    let insp = w.device("insp", "insp");
    let samp = w.device("samp", "samp");
    let sup = w.device("sup", "sup");
    // Everything these devices need is built into the app: nothing to fetch.
    for d in [&insp, &samp, &sup] {
        let r = sync(d);
        assert_eq!(r.templates_received, 0);
        assert!(!r.code_tables_updated);
    }

    let out = w
        .publish("template", "v3.json", &next_version("village_inspection"))
        .unwrap();
    assert!(out.contains("village_inspection.v3"), "{out}");
    // Publishing the same file again changes nothing; other content under the same version
    // is refused.
    let again = w
        .publish("template", "v3.json", &next_version("village_inspection"))
        .unwrap();
    assert!(again.contains("already"), "{again}");
    let changed = next_version("village_inspection").replace("天气", "天候");
    let err = w.publish("template", "v3b.json", &changed).unwrap_err();
    assert!(err.contains("next version"), "{err}");

    let r = sync(&insp);
    assert_eq!(r.templates_received, 1);
    assert!(template_ids(&insp).contains(&"village_inspection.v3".to_string()));
    assert_eq!(sync(&sup).templates_received, 1);
    let r = sync(&samp);
    assert_eq!(
        r.templates_received, 0,
        "a sampler does not capture inspections"
    );
    assert!(!template_ids(&samp).contains(&"village_inspection.v3".to_string()));

    // The inspector fills the new field of the new version; the supervisor receives it.
    let rec = insp
        .create_record(
            "village_inspection",
            &NewRecordPlace {
                org_unit: Some("411321102206".into()),
                village: Some("杨树沟村".into()),
                ..Default::default()
            },
        )
        .unwrap();
    insp.set_field(&rec.id, "weather", &json!("晴")).unwrap();
    assert_eq!(
        insp.view(&rec.id).unwrap().template_id,
        "village_inspection.v3"
    );
    sync(&insp);
    sync(&sup);
    let seen = sup.view(&rec.id).unwrap();
    assert_eq!(seen.data["weather"], "晴");

    // Nothing arrives twice, and the answer carries no listing once taken in.
    let r = sync(&insp);
    assert_eq!(r.templates_received, 0);
    assert!(r.bytes_down < 1000, "{} bytes down", r.bytes_down);

    // Kept in the store: the app knows it after a restart.
    drop(insp);
    let insp = DeviceCore::open(&w.dir.path().join("insp")).unwrap();
    assert!(template_ids(&insp).contains(&"village_inspection.v3".to_string()));
    assert!(insp.view(&rec.id).unwrap().data["weather"] == "晴");
}

#[test]
fn an_assignment_brings_the_templates_of_its_kind() {
    let w = World::new();
    w.publish("template", "soil.json", &next_version("soil_sample"))
        .unwrap();
    let insp = w.device("insp", "insp");
    assert_eq!(sync(&insp).templates_received, 0);
    assert!(!template_ids(&insp).contains(&"soil_sample.v3".to_string()));
    w.server.admin(&[
        "assign",
        "insp",
        "--kind",
        "soil_sample",
        "--target-kind",
        "sampling_point",
        "--target",
        "NZ-001",
        "--org",
        "411321102000",
    ]);
    let r = sync(&insp);
    assert_eq!(r.assignments, 1);
    assert_eq!(r.templates_received, 1);
    assert!(template_ids(&insp).contains(&"soil_sample.v3".to_string()));
}

#[test]
fn published_code_tables_reach_every_device_and_never_lose_a_code() {
    let w = World::new();
    let samp = w.device("samp", "samp");
    sync(&samp);
    let (_, codes) = TemplateSet::builtin_sources();
    let mut tables: Value = serde_json::from_str(codes).unwrap();
    let table = tables.as_object().unwrap().keys().next().unwrap().clone();
    tables[&table]["codes"]
        .as_array_mut()
        .unwrap()
        .push(json!({"code": "zz_county_extra", "zh": "县级补充", "en": "County extra"}));
    let out = w
        .publish("code-tables", "codes.json", &tables.to_string())
        .unwrap();
    assert!(out.contains("code_tables"), "{out}");

    let r = sync(&samp);
    assert!(r.code_tables_updated);
    assert!(samp.code_tables_json().contains("zz_county_extra"));

    // Dropping the code again would orphan records that hold it: refused, devices unchanged.
    let err = w.publish("code-tables", "old.json", codes).unwrap_err();
    assert!(err.contains("zz_county_extra"), "{err}");
    let r = sync(&samp);
    assert!(!r.code_tables_updated);
    assert!(samp.code_tables_json().contains("zz_county_extra"));
    // Not a code tables file at all: refused with the reason.
    let err = w.publish("code-tables", "bad.json", "[1, 2]").unwrap_err();
    assert!(err.contains("code tables"), "{err}");
}

#[test]
fn a_record_of_a_new_template_opens_in_the_sync_that_brings_the_template() {
    let w = World::new();
    let insp = w.device("insp", "insp");
    let sup = w.device("sup", "sup");
    sync(&sup);
    w.publish("template", "v3.json", &next_version("village_inspection"))
        .unwrap();
    sync(&insp);
    let rec = insp
        .create_record(
            "village_inspection",
            &NewRecordPlace {
                org_unit: Some("411321102206".into()),
                ..Default::default()
            },
        )
        .unwrap();
    sync(&insp);
    // The supervisor's device took in the catalog before v3 was published: the answer that
    // brings the record lists v3 too, which is taken in first, so the record opens at once.
    let r = sync(&sup);
    assert_eq!(r.templates_received, 1);
    assert_eq!(r.parked, 0);
    assert_eq!(
        sup.view(&rec.id).unwrap().template_id,
        "village_inspection.v3"
    );
    assert!(sup.parked_records().unwrap().is_empty());
}
