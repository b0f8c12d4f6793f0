//! Sample labels (样品标签): a sample's code as a QR code with the code in text under it, as
//! SVG (prints sharp at any size, and carries further lines such as the point in any script)
//! and as PNG (for a label printer or the phone's share sheet). Scanning the QR gives the code,
//! which `findSample` resolves to the sample offline.

use image::{ImageEncoder, Rgb, RgbImage};
use qrcode::{Color, EcLevel, QrCode};

use crate::MediaError;

/// Modules of white around the QR code (the standard's quiet zone).
const QUIET: usize = 4;

fn qr(code: &str) -> Result<(usize, Vec<bool>), MediaError> {
    let code = code.trim();
    if code.is_empty() || code.len() > 200 {
        return Err(MediaError::Encode(
            "a label's code is 1 to 200 bytes".into(),
        ));
    }
    let q = QrCode::with_error_correction_level(code.as_bytes(), EcLevel::M)
        .map_err(|e| MediaError::Encode(format!("the QR code: {e}")))?;
    let dark = q
        .to_colors()
        .into_iter()
        .map(|c| c == Color::Dark)
        .collect();
    Ok((q.width(), dark))
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The label as SVG: the QR code of `code`, the code in large text under it, and `lines`
/// (the point, the date) in smaller text. Units are QR modules; print it at any size.
pub fn label_svg(code: &str, lines: &[String]) -> Result<String, MediaError> {
    let (w, dark) = qr(code)?;
    let side = w + 2 * QUIET;
    let text_h = 4 + 3 * lines.len();
    let height = side + text_h;
    let mut path = String::new();
    for y in 0..w {
        let mut x = 0;
        while x < w {
            if dark[y * w + x] {
                let start = x;
                while x < w && dark[y * w + x] {
                    x += 1;
                }
                path.push_str(&format!(
                    "M{} {}h{}v1h-{}z",
                    start + QUIET,
                    y + QUIET,
                    x - start,
                    x - start
                ));
            } else {
                x += 1;
            }
        }
    }
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {side} {height}\" \
         role=\"img\" aria-label=\"{code}\"><rect width=\"{side}\" height=\"{height}\" \
         fill=\"#fff\"/><path d=\"{path}\" fill=\"#000\"/>\
         <text x=\"{mid}\" y=\"{code_y}\" font-family=\"monospace\" font-size=\"3\" \
         font-weight=\"bold\" text-anchor=\"middle\">{code}</text>",
        code = xml_escape(code.trim()),
        mid = side as f64 / 2.0,
        code_y = side + 2,
    );
    for (i, line) in lines.iter().enumerate() {
        svg.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" font-family=\"sans-serif\" font-size=\"2.2\" \
             text-anchor=\"middle\">{}</text>",
            side as f64 / 2.0,
            side + 5 + 3 * i,
            xml_escape(line)
        ));
    }
    svg.push_str("</svg>");
    Ok(svg)
}

/// The label as PNG: the QR code of `code` at `module_px` pixels per module (1 to 32) and the
/// code in text under it (the bitmap font has Latin letters, digits and signs: sample codes).
pub fn label_png(code: &str, module_px: u32) -> Result<Vec<u8>, MediaError> {
    let (w, dark) = qr(code)?;
    let m = module_px.clamp(1, 32);
    let side = (w + 2 * QUIET) as u32 * m;
    let code = code.trim();
    let scale = (m / 8).max(1);
    let text_w = crate::stamp::text_width(code.chars().count(), scale);
    let width = side.max(text_w + 2 * m * QUIET as u32);
    let line_h = crate::stamp::line_height(scale);
    let height = side + line_h + m * 2;
    let mut img = RgbImage::from_pixel(width, height, Rgb([255, 255, 255]));
    let left = (width - side) / 2;
    for y in 0..w {
        for x in 0..w {
            if !dark[y * w + x] {
                continue;
            }
            let (px, py) = (left + (x + QUIET) as u32 * m, (y + QUIET) as u32 * m);
            for dy in 0..m {
                for dx in 0..m {
                    img.put_pixel(px + dx, py + dy, Rgb([0, 0, 0]));
                }
            }
        }
    }
    crate::stamp::text(&mut img, (width - text_w) / 2, side, code, scale, 0);
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(img.as_raw(), width, height, image::ExtendedColorType::Rgb8)
        .map_err(|e| MediaError::Encode(e.to_string()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_label_carries_its_code_as_qr_and_text() {
        let svg = label_svg("411321YJ0087-T1", &["点位 411321YJ0087 <旱地>".into()]).unwrap();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains(">411321YJ0087-T1</text>"));
        assert!(svg.contains("&lt;旱地&gt;"), "escaped: {svg}");
        assert!(
            svg.contains("<path d=\"M4 4h7v1h-7z"),
            "a finder pattern's top row: {svg}"
        );
        let png = label_png("411321YJ0087-T1", 8).unwrap();
        let img = image::load_from_memory(&png).unwrap().to_rgb8();
        // Quiet zone white, the finder pattern's corner black, some ink in the text band.
        assert_eq!(img.get_pixel(2, 2).0, [255, 255, 255]);
        let left = (img.width() - (img.height() - 32 - 16)) / 2;
        assert_eq!(img.get_pixel(left + 4 * 8 + 1, 4 * 8 + 1).0, [0, 0, 0]);
        let side = img.height() - 32 - 16;
        let inked = (side..img.height())
            .flat_map(|y| (0..img.width()).map(move |x| (x, y)))
            .filter(|&(x, y)| img.get_pixel(x, y).0[0] < 128)
            .count();
        assert!(
            inked > 50,
            "the code is written under the QR ({inked} dark pixels)"
        );
        assert!(label_png("", 8).is_err() && label_svg(&"x".repeat(300), &[]).is_err());
        // A scanner reads the code back from the printed PNG.
        let gray = image::load_from_memory(&png).unwrap().to_luma8();
        let mut prepared = rqrr::PreparedImage::prepare(gray);
        let grids = prepared.detect_grids();
        assert_eq!(grids.len(), 1);
        let (_, content) = grids[0].decode().unwrap();
        assert_eq!(content, "411321YJ0087-T1");
    }
}
