//! Embeds the templates and code tables of `schemas/` into the crate as the built-in set.

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let schemas = manifest.join("../../schemas");
    println!("cargo:rerun-if-changed={}", schemas.display());
    let templates_dir = schemas.join("templates");
    println!("cargo:rerun-if-changed={}", templates_dir.display());
    let mut files: Vec<PathBuf> = std::fs::read_dir(&templates_dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    let mut out = String::from("pub const TEMPLATES: &[(&str, &str)] = &[\n");
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        writeln!(
            out,
            "    ({name:?}, include_str!({:?})),",
            f.display().to_string()
        )
        .ok();
    }
    out.push_str("];\n");
    let codes = schemas.join("code_tables.json");
    println!("cargo:rerun-if-changed={}", codes.display());
    if codes.exists() {
        writeln!(
            out,
            "pub const CODE_TABLES: &str = include_str!({:?});",
            codes.display().to_string()
        )
        .ok();
    } else {
        out.push_str("pub const CODE_TABLES: &str = \"{}\";\n");
    }
    let dest = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it")).join("builtin.rs");
    std::fs::write(dest, out).expect("OUT_DIR is writable");
}
