use jingtu_core::{Assignment, DeviceCore};
use serde_json::json;
use std::time::Instant;
use rand::{Rng, SeedableRng};
#[test]
fn scratch_text_diff() {
    let dir = tempfile::tempdir().unwrap();
    let core = DeviceCore::open(dir.path()).unwrap();
    let id = core.create_record("village_inspection", &Assignment::default()).unwrap().id;
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    for n in [5_000usize, 5_000, 10_000, 10_000, 20_000, 20_000] {
        let note: String = (0..n).map(|_| char::from(rng.random_range(b' '..=b'~'))).collect();
        let t = Instant::now();
        let r = core.set_field(&id, "notes", &json!(note));
        eprintln!("notes {n}: {:?} {:?}", t.elapsed(), r.err());
    }
}
#[test]
fn scratch_scalar() {
    let dir = tempfile::tempdir().unwrap();
    let id = {
    let core = DeviceCore::open(dir.path()).unwrap();
    let id = core.create_record("village_inspection", &Assignment::default()).unwrap().id;
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    for _ in 0..4 {
        let n = 11_000_000;
        let note: String = (0..n).map(|_| char::from(rng.random_range(b' '..=b'~'))).collect();
        let t = Instant::now();
        let r = core.set_field(&id, "township", &json!(note));
        eprintln!("township {n}: {:?} {:?} export {}", t.elapsed(), r.err(), core.export(&id).map(|b| b.len()).unwrap_or(0));
    }
    id };
    let core = DeviceCore::open(dir.path()).unwrap();
    let t = Instant::now();
    eprintln!("after reopen: {:?} in {:?}", core.view(&id).map(|v| v.data["township"].as_str().map(|s| s.len())), t.elapsed());
}
