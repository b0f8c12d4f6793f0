//! Device stores driven through the `jingtu` command line (built as `jingtu-e2e-cli` of this
//! package), and a complete village inspection made with it.

use std::path::{Path, PathBuf};
use std::process::Command;

use jingtu_e2e::ServerProcess;
use serde_json::Value;

const CLI: &str = env!("CARGO_BIN_EXE_jingtu-e2e-cli");

/// One device store used through the command line.
pub struct Device {
    pub store: PathBuf,
}

impl Device {
    pub fn run(&self, args: &[&str], json: bool) -> (bool, String) {
        let mut cmd = Command::new(CLI);
        cmd.arg("--store").arg(&self.store);
        if json {
            cmd.arg("--json");
        }
        let out = cmd
            .args(args)
            .env_remove("JINGTU_STORE")
            .output()
            .expect("running jingtu");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }

    /// `jingtu --json ARGS`, which must succeed; its answer.
    pub fn ok(&self, args: &[&str]) -> Value {
        let (ok, out) = self.run(args, true);
        assert!(ok, "jingtu {args:?} failed: {out}");
        serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
    }

    /// `jingtu --json ARGS`, which must fail with `code`.
    pub fn fails(&self, args: &[&str], code: &str) -> Value {
        let (ok, out) = self.run(args, true);
        assert!(!ok, "jingtu {args:?} should have failed: {out}");
        let v: Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(v["error"]["code"], code, "{args:?}: {v}");
        v
    }
}

pub fn enrolled(server: &ServerProcess, dir: &Path, name: &str, user: &str) -> Device {
    let d = Device {
        store: dir.join(name),
    };
    let code = server.enroll_code(user);
    let who = d.ok(&["enroll", &server.url, &code, "--label", name]);
    assert_eq!(who["user"], user, "{who}");
    d
}

pub fn checklist_items() -> Vec<String> {
    let t = jingtu_model::TemplateSet::builtin()
        .unwrap()
        .latest("village_inspection")
        .unwrap();
    let checklist = t.root.child("checklist").expect("a checklist");
    checklist.property_names.clone().unwrap_or_else(|| {
        checklist
            .properties
            .iter()
            .map(|(k, _)| k.clone())
            .collect()
    })
}

/// A complete inspection of 杨树沟村 with every item passed, one with a photo; its id and the
/// photo's hash.
pub fn inspection(yy: &Device, dir: &Path, items: &[String]) -> (String, String) {
    let rec = yy.ok(&[
        "new",
        "village_inspection",
        "--org-unit",
        "411321102206",
        "--village",
        "杨树沟村",
    ]);
    let id = rec["id"].as_str().unwrap().to_string();
    for (path, value) in [
        ("village_name", "杨树沟村"),
        ("admin_code", "411321102206"),
        ("township", "云阳镇"),
        ("eval_year", "2024"),
        ("eval_half", "1"),
        ("eval_level", "county_self"),
        ("inspected_at", "2024-07-16T09:30:00+08:00"),
        (
            "position",
            r#"{"lat":33.488612,"lon":112.431275,"accuracy_m":4.5}"#,
        ),
        ("indicators.sewage_treatment_rate_pct", "65.5"),
        ("indicators.bow_remediation_rate_pct", "100"),
        ("indicators.water_source_completion_pct", "85"),
    ] {
        yy.ok(&["set", &id, path, value]);
    }
    yy.ok(&["append", &id, "inspectors", "\"王建军\""]);
    for item in items {
        yy.ok(&["check", &id, item, "pass"]);
    }
    let jpeg = dir.join("sewage.jpg");
    std::fs::write(&jpeg, jingtu_e2e::test_jpeg(7, 1024, 768)).unwrap();
    let photo = yy.ok(&[
        "photo",
        "add",
        &id,
        &format!("checklist.{}", items[1]),
        &jpeg.to_string_lossy(),
        "--tag",
        "before",
        "--lat",
        "33.4886",
        "--lon",
        "112.4312",
    ]);
    let sha = photo["sha256"]
        .as_str()
        .unwrap_or_else(|| panic!("{photo}"))
        .to_string();
    (id, sha)
}
