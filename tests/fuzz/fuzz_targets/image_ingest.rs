//! Photos as a device ingests them from the camera (`jingtu_media::ingest`) and as the server
//! makes a thumbnail of an uploaded one (`jingtu_media::thumbnail`), and the EXIF read on its
//! own (`read_exif`).
//!
//! The decode budget is 4 megapixels here instead of the default 64: the same check refuses
//! larger images before anything is decoded (a few-byte header may claim any size, and the
//! fuzzer finds such headers at once), and images under it decode fast enough to fuzz. An
//! input of odd length asks for the evidence stamp too, its lines the input's last bytes as
//! text.
#![no_main]

use jingtu_media::{IngestOptions, MediaError, ingest, read_exif, thumbnail};
use libfuzzer_sys::fuzz_target;

/// 4 megapixels of RGBA.
const BUDGET: u64 = 4 * 1024 * 1024 * 4;

fuzz_target!(|data: &[u8]| {
    jingtu_fuzz::run(|| {
        let stamp = match data.len() % 2 {
            1 => {
                let tail = &data[data.len().saturating_sub(48)..];
                Some(
                    String::from_utf8_lossy(tail)
                        .split('\n')
                        .map(str::to_string)
                        .collect(),
                )
            }
            _ => None,
        };
        let options = IngestOptions {
            long_edge: 512,
            thumb_edge: 96,
            max_decoded_bytes: BUDGET,
            stamp,
            ..IngestOptions::default()
        };
        match ingest(data, &options) {
            Ok(out) => {
                assert!(out.width.max(out.height) <= options.long_edge);
                assert!(out.width > 0 && out.height > 0);
                assert!(out.thumb_width.max(out.thumb_height) <= options.thumb_edge);
                assert_eq!(out.sha256, jingtu_media::content_id(&out.stored));
                // What a device stores is taken again by the server's thumbnailer.
                let (thumb, w, h) =
                    thumbnail(&out.stored, &options).expect("a stored image makes a thumbnail");
                assert!(!thumb.is_empty() && w.max(h) <= options.thumb_edge);
            }
            Err(MediaError::TooLarge { needed, budget, .. }) => {
                assert!(needed > budget || needed == 0)
            }
            Err(_) => {}
        }
        let _ = thumbnail(data, &options);
        let exif = read_exif(data);
        assert!((1..=8).contains(&exif.orientation));
    });
});
