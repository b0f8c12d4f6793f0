//! Frames as the server and the devices receive them: `jingtu_protocol::decode` of every message
//! type either side decodes, under a 1 MiB limit (the server's is configurable, 64 MiB at most).
//! A message that decodes must encode again and decode to the same value. The helpers that read
//! what people type or scan (enrollment codes, QR payloads, record and photo ids) get the bytes
//! as text.
#![no_main]

use jingtu_protocol::{
    CatalogRequest, CatalogResponse, EnrollPayload, MAX_MESSAGE_BYTES, PhotoStatusRequest,
    PhotoStatusResponse, PhotoUploadResponse, SyncRequest, SyncResponse, decode, encode,
};
use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;

const LIMIT: usize = 1 << 20;

/// Decodes `frame` as a `T`; what decodes round-trips.
fn check<T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug>(frame: &[u8]) {
    let Ok(message) = decode::<T>(frame, LIMIT) else {
        return;
    };
    let again = encode(&message).expect("a decoded message encodes");
    let back: T = decode(&again, MAX_MESSAGE_BYTES).expect("an encoded message decodes");
    assert_eq!(back, message, "the message changed in a round trip");
}

fuzz_target!(|data: &[u8]| {
    jingtu_fuzz::run(|| {
        // What the server decodes (POST /v1/sync, /v1/catalog, /v1/photos/status) ...
        check::<SyncRequest>(data);
        check::<CatalogRequest>(data);
        check::<PhotoStatusRequest>(data);
        // ... and what a device decodes from the server's answers.
        check::<SyncResponse>(data);
        check::<CatalogResponse>(data);
        check::<PhotoStatusResponse>(data);
        check::<PhotoUploadResponse>(data);

        if let Ok(text) = std::str::from_utf8(data) {
            if let Some(p) = EnrollPayload::parse(text) {
                assert_eq!(
                    EnrollPayload::parse(&p.to_uri()).as_ref(),
                    Some(&p),
                    "an enrollment payload changed in a round trip"
                );
            }
            if let Some(code) = jingtu_protocol::normalize_enrollment_code(text) {
                let shown = jingtu_protocol::format_enrollment_code(&code);
                assert_eq!(
                    jingtu_protocol::normalize_enrollment_code(&shown).as_deref(),
                    Some(code.as_str())
                );
            }
            let _ = jingtu_protocol::is_record_id(text);
            let _ = jingtu_protocol::is_photo_hash(text);
        }
    });
});
