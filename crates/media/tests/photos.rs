//! Photos as a field phone takes them: turned by EXIF orientation, stamped with time and place,
//! some damaged or hostile. Each test writes the image it needs.

use exif::{Field, In, Rational, Tag, Value};
use image::codecs::jpeg::JpegEncoder;
use image::metadata::Orientation;
use image::{DynamicImage, ImageEncoder, Rgb, RgbImage};
use jingtu_media::{IngestOptions, MediaError, content_id, ingest};

const RED: [u8; 3] = [220, 30, 30];
const GREEN: [u8; 3] = [30, 200, 30];
const BLUE: [u8; 3] = [30, 30, 220];
const WHITE: [u8; 3] = [240, 240, 240];

/// An upright picture with a different colour in each quadrant.
fn quadrants(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        Rgb(match (x < w / 2, y < h / 2) {
            (true, true) => RED,
            (false, true) => GREEN,
            (true, false) => BLUE,
            (false, false) => WHITE,
        })
    })
}

fn exif_block(fields: &[Field]) -> Vec<u8> {
    let mut w = exif::experimental::Writer::new();
    for f in fields {
        w.push_field(f);
    }
    let mut out = std::io::Cursor::new(Vec::new());
    w.write(&mut out, false).unwrap();
    out.into_inner()
}

fn jpeg_with_exif(img: &RgbImage, exif: Option<Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = JpegEncoder::new_with_quality(&mut out, 92);
    if let Some(e) = exif {
        enc.set_exif_metadata(e).unwrap();
    }
    enc.write_image(
        img.as_raw(),
        img.width(),
        img.height(),
        image::ExtendedColorType::Rgb8,
    )
    .unwrap();
    out
}

fn mean(img: &RgbImage, x0: u32, y0: u32, x1: u32, y1: u32) -> [f64; 3] {
    let mut sum = [0.0; 3];
    let mut n = 0.0;
    for y in y0..y1 {
        for x in x0..x1 {
            let p = img.get_pixel(x, y).0;
            for c in 0..3 {
                sum[c] += f64::from(p[c]);
            }
            n += 1.0;
        }
    }
    sum.map(|s| s / n)
}

fn close(a: [f64; 3], b: [u8; 3]) -> bool {
    a.iter()
        .zip(b)
        .all(|(x, y)| (x - f64::from(y)).abs() < 40.0)
}

fn decode(bytes: &[u8]) -> RgbImage {
    image::load_from_memory(bytes).unwrap().into_rgb8()
}

/// The EXIF orientation that undoes `o` (6 and 8 undo each other; the rest undo themselves).
fn inverse(o: u8) -> u8 {
    match o {
        6 => 8,
        8 => 6,
        other => other,
    }
}

#[test]
fn all_eight_exif_orientations_end_upright() {
    let upright = quadrants(160, 120);
    for o in 1..=8u8 {
        // What the camera stored: the scene turned so that applying `o` makes it upright.
        let mut stored = DynamicImage::ImageRgb8(upright.clone());
        stored.apply_orientation(Orientation::from_exif(inverse(o)).unwrap());
        let orientation = Field {
            tag: Tag::Orientation,
            ifd_num: In::PRIMARY,
            value: Value::Short(vec![u16::from(o)]),
        };
        let bytes = jpeg_with_exif(&stored.into_rgb8(), Some(exif_block(&[orientation])));
        let out = ingest(&bytes, &IngestOptions::default()).unwrap();
        assert_eq!(out.exif.orientation, o);
        assert_eq!((out.width, out.height), (160, 120), "orientation {o}");
        let img = decode(&out.stored);
        let (w, h) = (img.width(), img.height());
        let q = |x: u32, y: u32| mean(&img, x + 10, y + 10, x + w / 2 - 10, y + h / 2 - 10);
        assert!(
            close(q(0, 0), RED),
            "orientation {o}: top left {:?}",
            q(0, 0)
        );
        assert!(close(q(w / 2, 0), GREEN), "orientation {o}: top right");
        assert!(close(q(0, h / 2), BLUE), "orientation {o}: bottom left");
        assert!(
            close(q(w / 2, h / 2), WHITE),
            "orientation {o}: bottom right"
        );
    }
}

#[test]
fn exif_time_and_gps_are_read_from_the_file() {
    let r = |n: u32, d: u32| Rational { num: n, denom: d };
    let fields = vec![
        Field {
            tag: Tag::DateTimeOriginal,
            ifd_num: In::PRIMARY,
            value: Value::Ascii(vec![b"2024:07:16 09:30:05".to_vec()]),
        },
        Field {
            tag: Tag::OffsetTimeOriginal,
            ifd_num: In::PRIMARY,
            value: Value::Ascii(vec![b"+08:00".to_vec()]),
        },
        Field {
            tag: Tag::GPSLatitudeRef,
            ifd_num: In::PRIMARY,
            value: Value::Ascii(vec![b"N".to_vec()]),
        },
        Field {
            tag: Tag::GPSLatitude,
            ifd_num: In::PRIMARY,
            value: Value::Rational(vec![r(33, 1), r(29, 1), r(1860, 100)]),
        },
        Field {
            tag: Tag::GPSLongitudeRef,
            ifd_num: In::PRIMARY,
            value: Value::Ascii(vec![b"E".to_vec()]),
        },
        Field {
            tag: Tag::GPSLongitude,
            ifd_num: In::PRIMARY,
            value: Value::Rational(vec![r(112, 1), r(25, 1), r(5250, 100)]),
        },
        Field {
            tag: Tag::GPSHPositioningError,
            ifd_num: In::PRIMARY,
            value: Value::Rational(vec![r(45, 10)]),
        },
    ];
    let bytes = jpeg_with_exif(&quadrants(64, 48), Some(exif_block(&fields)));
    let out = ingest(&bytes, &IngestOptions::default()).unwrap();
    assert_eq!(
        out.exif.taken_at.as_deref(),
        Some("2024-07-16T09:30:05+08:00")
    );
    let lat = out.exif.lat.unwrap();
    let lon = out.exif.lon.unwrap();
    assert!(
        (lat - (33.0 + 29.0 / 60.0 + 18.6 / 3600.0)).abs() < 1e-9,
        "{lat}"
    );
    assert!(
        (lon - (112.0 + 25.0 / 60.0 + 52.5 / 3600.0)).abs() < 1e-9,
        "{lon}"
    );
    assert_eq!(out.exif.accuracy_m, Some(4.5));
}

#[test]
fn a_large_photo_is_resized_with_a_thumbnail_and_named_by_its_hash() {
    let bytes = jpeg_with_exif(&quadrants(4000, 3000), None);
    let out = ingest(&bytes, &IngestOptions::default()).unwrap();
    assert_eq!((out.width, out.height), (2048, 1536));
    assert_eq!((out.thumb_width, out.thumb_height), (320, 240));
    let stored = decode(&out.stored);
    assert_eq!((stored.width(), stored.height()), (2048, 1536));
    let thumb = decode(&out.thumbnail);
    assert_eq!((thumb.width(), thumb.height()), (320, 240));
    assert_eq!(out.sha256, content_id(&out.stored));
    assert_eq!(out.sha256.len(), 64);
    // The same photo twice is the same content: stored once by its id.
    let again = ingest(&bytes, &IngestOptions::default()).unwrap();
    assert_eq!(again.sha256, out.sha256);
}

#[test]
fn png_and_webp_are_accepted() {
    let img = quadrants(300, 200);
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(img.as_raw(), 300, 200, image::ExtendedColorType::Rgb8)
        .unwrap();
    assert_eq!(
        ingest(&png, &IngestOptions::default())
            .unwrap()
            .source_format,
        "png"
    );
    let mut webp = Vec::new();
    image::codecs::webp::WebPEncoder::new_lossless(&mut webp)
        .write_image(img.as_raw(), 300, 200, image::ExtendedColorType::Rgb8)
        .unwrap();
    let out = ingest(&webp, &IngestOptions::default()).unwrap();
    assert_eq!(out.source_format, "webp");
    assert!(close(mean(&decode(&out.stored), 10, 10, 140, 90), RED));
}

#[test]
fn the_evidence_stamp_is_burned_into_the_bottom_left() {
    let grey = RgbImage::from_pixel(1200, 900, Rgb([128, 128, 128]));
    let bytes = jpeg_with_exif(&grey, None);
    let options = IngestOptions {
        stamp: Some(vec![
            "2024-07-16 09:30 +08:00".into(),
            "33.488612 N 112.431275 E +-4.5 m".into(),
            "411321-T-0012".into(),
        ]),
        ..IngestOptions::default()
    };
    let plain = decode(&ingest(&bytes, &IngestOptions::default()).unwrap().stored);
    let stamped = decode(&ingest(&bytes, &options).unwrap().stored);
    // The band is dark with bright letters; the top of the picture is untouched.
    let band = mean(&stamped, 0, 800, 400, 900);
    let before = mean(&plain, 0, 800, 400, 900);
    assert!(band[0] < before[0] - 30.0, "band {band:?} vs {before:?}");
    let bright = (800..900)
        .flat_map(|y| (0..400).map(move |x| (x, y)))
        .filter(|&(x, y)| stamped.get_pixel(x, y).0[0] > 200)
        .count();
    assert!(bright > 500, "letters: {bright} bright pixels");
    assert!(close(mean(&stamped, 0, 0, 1200, 400), [128, 128, 128]));
}

#[test]
fn not_images_and_cut_files_get_clear_errors() {
    let opts = IngestOptions::default();
    assert!(matches!(
        ingest(b"%PDF-1.7 not a photo", &opts),
        Err(MediaError::NotAnImage)
    ));
    let jpeg = jpeg_with_exif(&quadrants(400, 300), None);
    for cut in [jpeg.len() / 2, jpeg.len() - 3, 200] {
        let err = ingest(&jpeg[..cut], &opts).unwrap_err();
        assert!(matches!(err, MediaError::Truncated), "cut at {cut}: {err}");
    }
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(
            quadrants(400, 300).as_raw(),
            400,
            300,
            image::ExtendedColorType::Rgb8,
        )
        .unwrap();
    let err = ingest(&png[..png.len() / 2], &opts).unwrap_err();
    assert!(
        matches!(err, MediaError::Truncated | MediaError::Damaged(_)),
        "{err}"
    );
    assert!(!err.to_string().is_empty());
}

/// A PNG whose header claims `w` x `h` pixels, with no pixel data to speak of.
fn png_claiming(w: u32, h: u32) -> Vec<u8> {
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(&[0, 0, 0], 1, 1, image::ExtendedColorType::Rgb8)
        .unwrap();
    // IHDR data starts at byte 16 (8 signature + 4 length + 4 type); its CRC follows 13 bytes.
    png[16..20].copy_from_slice(&w.to_be_bytes());
    png[20..24].copy_from_slice(&h.to_be_bytes());
    let crc = crc32fast::hash(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    png
}

#[test]
fn a_decompression_bomb_is_refused_before_decoding() {
    let bomb = png_claiming(60_000, 60_000);
    match ingest(&bomb, &IngestOptions::default()) {
        Err(MediaError::TooLarge { width, height, .. }) => {
            assert_eq!((width, height), (60_000, 60_000));
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    // A smaller budget refuses an ordinary photo the same way.
    let small = IngestOptions {
        max_decoded_bytes: 1000,
        ..IngestOptions::default()
    };
    let jpeg = jpeg_with_exif(&quadrants(100, 100), None);
    assert!(matches!(
        ingest(&jpeg, &small),
        Err(MediaError::TooLarge { .. })
    ));
}
