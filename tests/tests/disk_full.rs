//! A full disk and a read-only disk, on the server and on a device: a clear error, nothing
//! corrupted, nothing acknowledged lost, and everything works again when there is room.
//!
//! The data lives on a small tmpfs mounted for each test (`mount -t tmpfs`), so the tests need
//! root, as CI and this project's machines have; elsewhere they say so and stop early.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use jingtu_core::{CoreError, DeviceCore, NewPhoto, NewRecordPlace, PhotoSource, StoreError};
use jingtu_e2e::{ServerProcess, test_jpeg};
use serde_json::json;

const SERVER: &str = env!("CARGO_BIN_EXE_jingtu-e2e-server");

/// A tmpfs of `mb` megabytes at `dir`, unmounted when dropped.
struct Disk(PathBuf);

impl Disk {
    fn mount(dir: &Path, mb: u64) -> Option<Disk> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mb}m"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!(
                "SKIPPED: mounting a {mb} MB tmpfs at {} failed (these tests need root)",
                dir.display()
            );
            return None;
        }
        Some(Disk(dir.to_path_buf()))
    }

    fn remount(&self, mode: &str) {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,{mode}")])
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "remounting {} {mode}", self.0.display());
    }

    /// Fills the disk with a file of zeros until it is full (the file is returned).
    fn fill(&self) -> PathBuf {
        let path = self.0.join("filler");
        let mut f = std::fs::File::create(&path).unwrap();
        let block = vec![0u8; 64 * 1024];
        while f.write_all(&block).is_ok() {}
        let _ = f.flush();
        path
    }
}

impl Drop for Disk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn village(core: &DeviceCore, n: usize) -> String {
    let id = core
        .create_record("village_inspection", &NewRecordPlace::default())
        .unwrap()
        .id;
    core.set_field(&id, "village_name", &json!(format!("第{n}村")))
        .unwrap();
    core.set_field(
        &id,
        "notes",
        &json!("村内道路两侧堆放生活垃圾，".repeat(40)),
    )
    .unwrap();
    id
}

fn http_status(url: &str) -> (u16, String) {
    let r = reqwest::blocking::get(url).unwrap();
    (r.status().as_u16(), r.text().unwrap_or_default())
}

#[test]
fn a_full_or_read_only_server_disk_refuses_clearly_and_recovers_with_nothing_lost() {
    let dir = tempfile::tempdir().unwrap();
    let Some(disk) = Disk::mount(&dir.path().join("disk"), 48) else {
        return;
    };
    let data = disk.0.join("data");
    let mut server =
        ServerProcess::start_with_config(SERVER, &data, "[limits]\nmin_free_disk_mb = 1\n");
    let token = server.admin_token.clone().unwrap();
    let phone = DeviceCore::open(&dir.path().join("phone")).unwrap();
    phone.set_server(&server.url, &token).unwrap();
    for n in 0..5 {
        village(&phone, n);
    }
    assert_eq!(phone.sync(&mut |_| true).unwrap().records_pushed, 5);

    // The disk fills up: the pushes are refused as such, and the phone keeps its records.
    let filler = disk.fill();
    for n in 5..25 {
        village(&phone, n);
    }
    match phone.sync(&mut |_| true) {
        Err(CoreError::Sync(jingtu_core::ClientError::Refused { status, code, .. })) => {
            assert_eq!((status, code.as_str()), (507, "storage_full"));
        }
        other => panic!("a sync onto a full disk: {other:?}"),
    }
    assert_eq!(phone.sync_status().unwrap().records_pending, 20);
    let (status, body) = http_status(&format!("{}/readyz", server.url));
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("disk_full") || body.contains("storage_full"),
        "{body}"
    );
    assert_eq!(http_status(&format!("{}/healthz", server.url)).0, 200);

    // Room again: the same sync goes through.
    std::fs::remove_file(&filler).unwrap();
    let report = phone.sync(&mut |_| true).unwrap();
    assert_eq!(report.records_pushed, 20, "{report:?}");
    assert_eq!(http_status(&format!("{}/readyz", server.url)).0, 200);

    // The disk turns read-only (as Linux does after an I/O error) while the server is down:
    // it does not start, and says why; when the disk is writable again it serves all.
    server.kill();
    disk.remount("ro");
    let out = Command::new(SERVER)
        .arg("--data-dir")
        .arg(&data)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_remove("JINGTU_CONFIG")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "it served from a read-only disk");
    assert!(said.contains("read-only"), "{said}");
    disk.remount("rw");
    let late = village(&phone, 25);
    // Nothing is damaged: after a kill -9 and a restart a new device receives all 26.
    server.restart();
    phone.set_server(&server.url, &token).unwrap();
    assert_eq!(phone.sync(&mut |_| true).unwrap().records_pushed, 1);
    let fresh = DeviceCore::open(&dir.path().join("fresh")).unwrap();
    fresh.set_server(&server.url, &token).unwrap();
    let got = fresh.sync(&mut |_| true).unwrap();
    assert_eq!(got.records_received, 26, "{got:?}");
    assert_eq!(
        fresh.view(&late).unwrap().data["village_name"],
        json!("第25村")
    );
}

#[test]
fn a_full_device_store_refuses_the_write_clearly_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let Some(disk) = Disk::mount(&dir.path().join("disk"), 12) else {
        return;
    };
    // Room kept aside, given back later.
    let spare = disk.0.join("spare");
    std::fs::write(&spare, vec![0u8; 3 << 20]).unwrap();
    let store = disk.0.join("store");
    let core = DeviceCore::open(&store).unwrap();
    let mut acknowledged = Vec::new();
    let mut full = None;
    // Records and photos until the disk is full.
    for n in 0..2000 {
        let id = match core.create_record("village_inspection", &NewRecordPlace::default()) {
            Ok(s) => s.id,
            Err(e) => {
                full = Some(e);
                break;
            }
        };
        let photo = core.add_photo(
            &id,
            PhotoSource::Bytes(&test_jpeg(n, 1600, 1200)),
            &NewPhoto {
                tag: "before".into(),
                ..Default::default()
            },
        );
        match photo {
            Ok(_) => acknowledged.push(id),
            Err(e) => {
                full = Some(e);
                break;
            }
        }
    }
    let e = full.expect("the 12 MB disk filled up");
    assert!(
        matches!(e, CoreError::Storage(StoreError::Full)),
        "a full disk is said so: {e:?}"
    );
    assert!(e.to_string().contains("full"), "{e}");
    assert!(
        acknowledged.len() >= 5,
        "{} photos fitted",
        acknowledged.len()
    );
    // Everything acknowledged is there, after the store is opened again.
    drop(core);
    std::fs::remove_file(&spare).unwrap();
    let core = DeviceCore::open(&store).unwrap();
    for id in &acknowledged {
        assert_eq!(core.photos(id, false).unwrap().len(), 1, "record {id}");
    }
    // Room again: edits go on.
    let id = core
        .create_record("village_inspection", &NewRecordPlace::default())
        .unwrap()
        .id;
    core.set_field(&id, "village_name", &json!("腾出空间以后"))
        .unwrap();
    assert_eq!(
        core.view(&id).unwrap().data["village_name"],
        json!("腾出空间以后")
    );

    // A read-only disk: the store does not open, and says why; writable again, it does.
    drop(core);
    disk.remount("ro");
    let e = DeviceCore::open(&store).map(|_| ()).unwrap_err();
    assert!(
        e.to_string().to_lowercase().contains("read-only"),
        "a read-only store is said so: {e}"
    );
    disk.remount("rw");
    let core = DeviceCore::open(&store).unwrap();
    assert_eq!(
        core.view(&id).unwrap().data["village_name"],
        json!("腾出空间以后")
    );
}
