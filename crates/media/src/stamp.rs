//! The evidence stamp: lines of text (time, coordinates, point code) burned into the bottom
//! left of the stored image over a dark band, in the Noto Sans Mono bitmap font that the
//! `noto-sans-mono-bitmap` crate ships.

use image::RgbImage;
use noto_sans_mono_bitmap::{FontWeight, RasterHeight, get_raster, get_raster_width};

const HEIGHT: RasterHeight = RasterHeight::Size32;
const WEIGHT: FontWeight = FontWeight::Bold;

pub(crate) fn draw(img: &mut RgbImage, lines: &[String]) {
    let lines: Vec<&String> = lines.iter().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return;
    }
    // Scale the 32 px font with the image: about 1/40 of the short edge per line.
    let short = img.width().min(img.height());
    let scale = ((short / 40) / HEIGHT.val() as u32).max(1);
    let glyph_w = get_raster_width(WEIGHT, HEIGHT) as u32 * scale;
    let line_h = HEIGHT.val() as u32 * scale;
    let margin = line_h / 3;
    let longest = lines.iter().map(|l| l.chars().count()).max().unwrap_or(0) as u32;
    let band_w = (longest * glyph_w + 2 * margin).min(img.width());
    let band_h = (lines.len() as u32 * line_h + 2 * margin).min(img.height());
    let top = img.height() - band_h;
    // Darken the band to 35 % so white text reads on any background.
    for y in top..img.height() {
        for x in 0..band_w {
            let p = img.get_pixel_mut(x, y);
            for c in p.0.iter_mut() {
                *c = (u16::from(*c) * 35 / 100) as u8;
            }
        }
    }
    for (row, line) in lines.iter().enumerate() {
        let y0 = top + margin + row as u32 * line_h;
        text(img, margin, y0, line, scale, 255);
    }
}

/// The width in pixels of `chars` characters at `scale`.
pub(crate) fn text_width(chars: usize, scale: u32) -> u32 {
    chars as u32 * get_raster_width(WEIGHT, HEIGHT) as u32 * scale
}

/// The height in pixels of a line at `scale`.
pub(crate) fn line_height(scale: u32) -> u32 {
    HEIGHT.val() as u32 * scale
}

/// Draws `line` with its top left at (`x0`, `y0`), each glyph pixel `scale` pixels, blended
/// towards the grey level `ink` (255 white, 0 black). Characters the font lacks show as `?`.
pub(crate) fn text(img: &mut RgbImage, x0: u32, y0: u32, line: &str, scale: u32, ink: u8) {
    let glyph_w = get_raster_width(WEIGHT, HEIGHT) as u32 * scale;
    for (col, ch) in line.chars().enumerate() {
        let raster = get_raster(ch, WEIGHT, HEIGHT).or_else(|| get_raster('?', WEIGHT, HEIGHT));
        let Some(raster) = raster else { continue };
        let gx0 = x0 + col as u32 * glyph_w;
        for (gy, glyph_row) in raster.rows().enumerate() {
            for (gx, &alpha) in glyph_row.iter().enumerate() {
                if alpha == 0 {
                    continue;
                }
                for sy in 0..scale {
                    for sx in 0..scale {
                        let x = gx0 + gx as u32 * scale + sx;
                        let y = y0 + gy as u32 * scale + sy;
                        if x < img.width() && y < img.height() {
                            let p = img.get_pixel_mut(x, y);
                            for c in p.0.iter_mut() {
                                let blended = u16::from(*c) * u16::from(255 - alpha) / 255
                                    + u16::from(ink) * u16::from(alpha) / 255;
                                *c = blended.min(255) as u8;
                            }
                        }
                    }
                }
            }
        }
    }
}
