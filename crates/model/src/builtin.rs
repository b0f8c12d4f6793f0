//! The templates and code tables shipped in `schemas/`, embedded at build time.
include!(concat!(env!("OUT_DIR"), "/builtin.rs"));
