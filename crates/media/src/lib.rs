//! jingtu-media: evidence photos, from the camera's bytes to what the device stores.
//!
//! [`ingest`] takes JPEG, PNG or WebP bytes (the iOS app hands over JPEG; Android cameras give
//! JPEG too), refuses what is not an image or would decode to more pixels than the budget
//! before allocating, reads the EXIF time, position and orientation, resizes to a long edge
//! (default 2048 px, Lanczos3 through `fast_image_resize`), turns the image upright, burns in
//! an optional evidence stamp (a font shipped by `noto-sans-mono-bitmap`), re-encodes it as
//! JPEG (`jpeg-encoder`, quality 85) with a thumbnail (320 px), and names it by the SHA-256
//! of the stored bytes.
//!
//! Pure: no storage, no network; it must never depend on other jingtu crates.

mod exif_info;
mod label;
mod stamp;

use std::io::Cursor;

use fast_image_resize::images::Image as FirImage;
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};
use sha2::{Digest, Sha256};
use thiserror::Error;

pub use exif_info::ExifInfo;
pub use image::{Rgb, RgbImage};
pub use label::{label_png, label_svg};

/// Why a photo was refused.
#[derive(Debug, Error)]
pub enum MediaError {
    #[error("not an image (JPEG, PNG or WebP expected)")]
    NotAnImage,
    #[error("{0} images are not accepted (JPEG, PNG or WebP expected)")]
    Unsupported(String),
    #[error(
        "{width} x {height} pixels would need {needed} bytes to decode, over the {budget}-byte budget"
    )]
    TooLarge {
        width: u32,
        height: u32,
        needed: u64,
        budget: u64,
    },
    #[error("the file is {size} bytes, over the {limit}-byte limit")]
    FileTooLarge { size: usize, limit: usize },
    #[error("the image is cut short (an incomplete file or transfer)")]
    Truncated,
    #[error("the image data is damaged: {0}")]
    Damaged(String),
    #[error("encoding the stored image failed: {0}")]
    Encode(String),
    #[error("reading {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// How photos are stored.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestOptions {
    /// Long edge of the stored image in pixels (never enlarged).
    pub long_edge: u32,
    /// JPEG quality of the stored image (1-100).
    pub quality: u8,
    /// Long edge of the thumbnail.
    pub thumb_edge: u32,
    pub thumb_quality: u8,
    /// Largest decoded size accepted (width x height x 4 bytes); refuses decompression bombs.
    pub max_decoded_bytes: u64,
    /// Largest input file accepted.
    pub max_input_bytes: usize,
    /// Lines burned into the bottom of the stored image, when given.
    pub stamp: Option<Vec<String>>,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            long_edge: 2048,
            quality: 85,
            thumb_edge: 320,
            thumb_quality: 80,
            // 64 megapixels of RGBA: generous for any phone camera, far below a bomb.
            max_decoded_bytes: 64 * 1024 * 1024 * 4,
            max_input_bytes: 64 * 1024 * 1024,
            stamp: None,
        }
    }
}

/// A photo ready to store.
#[derive(Debug, Clone)]
pub struct Ingested {
    /// SHA-256 (hex) of `stored`: the photo's content id.
    pub sha256: String,
    pub stored: Vec<u8>,
    pub width: u32,
    pub height: u32,
    pub thumbnail: Vec<u8>,
    pub thumb_width: u32,
    pub thumb_height: u32,
    /// What the camera recorded (time, position, orientation).
    pub exif: ExifInfo,
    /// `jpeg`, `png` or `webp`.
    pub source_format: &'static str,
}

/// What the camera recorded in a photo file (time, position, orientation), without decoding
/// the image: for the caller that needs them before [`ingest`] (to write the stamp).
pub fn read_exif(bytes: &[u8]) -> ExifInfo {
    ExifInfo::from_file_bytes(bytes)
}

/// Reads a photo file and ingests it.
pub fn ingest_path(
    path: &std::path::Path,
    options: &IngestOptions,
) -> Result<Ingested, MediaError> {
    let io = |source| MediaError::Io {
        path: path.display().to_string(),
        source,
    };
    let size = std::fs::metadata(path).map_err(io)?.len();
    if size > options.max_input_bytes as u64 {
        return Err(MediaError::FileTooLarge {
            size: size as usize,
            limit: options.max_input_bytes,
        });
    }
    let bytes = std::fs::read(path).map_err(io)?;
    ingest(&bytes, options)
}

/// Turns camera bytes into the stored image and its thumbnail.
pub fn ingest(bytes: &[u8], options: &IngestOptions) -> Result<Ingested, MediaError> {
    ingest_inner(bytes, options, true)
}

fn ingest_inner(
    bytes: &[u8],
    options: &IngestOptions,
    with_thumbnail: bool,
) -> Result<Ingested, MediaError> {
    if bytes.len() > options.max_input_bytes {
        return Err(MediaError::FileTooLarge {
            size: bytes.len(),
            limit: options.max_input_bytes,
        });
    }
    let format = image::guess_format(bytes).map_err(|_| MediaError::NotAnImage)?;
    let source_format = match format {
        ImageFormat::Jpeg => "jpeg",
        ImageFormat::Png => "png",
        ImageFormat::WebP => "webp",
        other => return Err(MediaError::Unsupported(format!("{other:?}"))),
    };
    // The JPEG decoder pads a cut-off file with grey instead of failing: look for the end.
    if format == ImageFormat::Jpeg && !has_jpeg_end(bytes) {
        return Err(MediaError::Truncated);
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_alloc = Some(options.max_decoded_bytes);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(decode_error)?;
    let (width, height) = decoder.dimensions();
    let needed = u64::from(width) * u64::from(height) * 4;
    if needed > options.max_decoded_bytes || width == 0 || height == 0 {
        return Err(MediaError::TooLarge {
            width,
            height,
            needed,
            budget: options.max_decoded_bytes,
        });
    }
    let exif = decoder
        .exif_metadata()
        .ok()
        .flatten()
        .map(ExifInfo::from_raw)
        .unwrap_or_default();
    let orientation = Orientation::from_exif(exif.orientation).unwrap_or(Orientation::NoTransforms);
    let full = DynamicImage::from_decoder(decoder).map_err(decode_error)?;
    let full = match full {
        DynamicImage::ImageRgb8(rgb) => rgb,
        other => other.into_rgb8(),
    };

    // Resize first, then turn upright: rotating the small image is cheap.
    let mut resizer = Resizer::new();
    let (w, h) = fit(width, height, options.long_edge);
    let small = resize(&mut resizer, full, w, h)?;
    let mut upright = DynamicImage::ImageRgb8(small);
    upright.apply_orientation(orientation);
    let mut upright = match upright {
        DynamicImage::ImageRgb8(rgb) => rgb,
        other => other.into_rgb8(),
    };
    if let Some(lines) = &options.stamp {
        stamp::draw(&mut upright, lines);
    }
    let stored = encode_rgb_jpeg(&upright, options.quality)?;
    let (sw, sh) = (upright.width(), upright.height());
    let (tw, th, thumbnail) = if with_thumbnail {
        let (tw, th) = fit(sw, sh, options.thumb_edge);
        let thumb = resize(&mut resizer, upright, tw, th)?;
        (tw, th, encode_rgb_jpeg(&thumb, options.thumb_quality)?)
    } else {
        (0, 0, Vec::new())
    };
    Ok(Ingested {
        sha256: hex::encode(Sha256::digest(&stored)),
        stored,
        width: sw,
        height: sh,
        thumbnail,
        thumb_width: tw,
        thumb_height: th,
        exif,
        source_format,
    })
}

/// Only the thumbnail of a photo (for example of a stored image received from elsewhere):
/// JPEG bytes and size. The same checks as [`ingest`]; no stamp.
pub fn thumbnail(bytes: &[u8], options: &IngestOptions) -> Result<(Vec<u8>, u32, u32), MediaError> {
    let opts = IngestOptions {
        long_edge: options.thumb_edge,
        quality: options.thumb_quality,
        stamp: None,
        ..options.clone()
    };
    let small = ingest_inner(bytes, &opts, false)?;
    Ok((small.stored, small.width, small.height))
}

/// The SHA-256 (hex) of some bytes: how stored photos are named.
pub fn content_id(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn has_jpeg_end(bytes: &[u8]) -> bool {
    // Some cameras pad after the end marker; look in the last few kilobytes.
    let tail = &bytes[bytes.len().saturating_sub(4096)..];
    tail.windows(2).any(|w| w == [0xFF, 0xD9])
}

fn decode_error(e: image::ImageError) -> MediaError {
    match e {
        image::ImageError::Limits(l) => MediaError::Damaged(format!("over the memory budget: {l}")),
        image::ImageError::Unsupported(u) => MediaError::Unsupported(u.to_string()),
        image::ImageError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            MediaError::Truncated
        }
        other => MediaError::Damaged(other.to_string()),
    }
}

/// The size that fits `long_edge`, keeping the aspect ratio, never enlarging.
fn fit(width: u32, height: u32, long_edge: u32) -> (u32, u32) {
    let long = width.max(height);
    if long <= long_edge {
        return (width, height);
    }
    let scale = f64::from(long_edge) / f64::from(long);
    let w = ((f64::from(width) * scale).round() as u32).max(1);
    let h = ((f64::from(height) * scale).round() as u32).max(1);
    (w, h)
}

fn resize(resizer: &mut Resizer, src: RgbImage, w: u32, h: u32) -> Result<RgbImage, MediaError> {
    if (src.width(), src.height()) == (w, h) {
        return Ok(src);
    }
    let (sw, sh) = (src.width(), src.height());
    let src = FirImage::from_vec_u8(sw, sh, src.into_raw(), PixelType::U8x3)
        .map_err(|e| MediaError::Damaged(e.to_string()))?;
    let mut dst = FirImage::new(w, h, PixelType::U8x3);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
    resizer
        .resize(&src, &mut dst, &options)
        .map_err(|e| MediaError::Encode(e.to_string()))?;
    RgbImage::from_raw(w, h, dst.into_vec())
        .ok_or_else(|| MediaError::Encode("resized buffer has the wrong size".into()))
}

/// Encodes RGB pixels as a baseline JPEG (`jpeg-encoder`).
pub fn encode_rgb_jpeg(img: &RgbImage, quality: u8) -> Result<Vec<u8>, MediaError> {
    let (w, h) = (img.width(), img.height());
    let (w16, h16) = match (u16::try_from(w), u16::try_from(h)) {
        (Ok(a), Ok(b)) => (a, b),
        _ => {
            return Err(MediaError::Encode(format!(
                "{w} x {h} is too large for JPEG"
            )));
        }
    };
    let mut out = Vec::with_capacity((w as usize * h as usize) / 4);
    let encoder = jpeg_encoder::Encoder::new(&mut out, quality.clamp(1, 100));
    encoder
        .encode(img.as_raw(), w16, h16, jpeg_encoder::ColorType::Rgb)
        .map_err(|e| MediaError::Encode(e.to_string()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_keeps_the_aspect_and_never_enlarges() {
        assert_eq!(fit(4000, 3000, 2048), (2048, 1536));
        assert_eq!(fit(3000, 4000, 2048), (1536, 2048));
        assert_eq!(fit(800, 600, 2048), (800, 600));
    }

    #[test]
    fn garbage_is_not_an_image() {
        assert!(matches!(
            ingest(b"hello world", &IngestOptions::default()),
            Err(MediaError::NotAnImage)
        ));
        assert!(matches!(
            ingest(&[], &IngestOptions::default()),
            Err(MediaError::NotAnImage)
        ));
    }
}
