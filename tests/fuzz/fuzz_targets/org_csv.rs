//! An org unit file as `jingtu-server admin org import` reads it
//! (`jingtu_server::people::org::read_csv`). What it accepts are valid units with line numbers
//! inside the file.
#![no_main]

use jingtu_server::people::org::{is_within, level_of, parent_of, read_csv};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    jingtu_fuzz::run(|| {
        let lines = data.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
        match read_csv(data) {
            Ok(units) => {
                for (line, unit) in &units {
                    assert!(*line >= 1 && *line <= lines, "line {line} of {lines}");
                    let level = level_of(&unit.code).expect("an accepted code is valid");
                    let parent = parent_of(&unit.code).expect("an accepted code has a parent");
                    assert_eq!(unit.level, level);
                    assert_eq!(unit.parent, parent);
                    if let Some(p) = &parent {
                        assert!(is_within(&unit.code, p));
                    }
                }
            }
            Err(e) => {
                assert!(e.line <= lines, "error at line {} of {lines}", e.line);
                let _ = e.to_string();
            }
        }
    });
});
