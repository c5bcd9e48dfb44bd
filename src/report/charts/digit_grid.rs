//! A grid of captioned digit images: a data set's labelled samples, a model's mistakes.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::parts::{draw_pixels, no_data, outline, title_block};
use super::style::{centered, mix};
use super::{Chart, DrawResult};

/// One digit image with a caption of one or more lines.
#[derive(Clone, Debug)]
pub struct DigitTile {
    /// `rows × cols` values in [0, 1] (ink = 1).
    pub pixels: Vec<f32>,
    pub caption: Vec<String>,
}

/// A grid of captioned digit images: the labelled samples of the data view and the model's
/// most confident mistakes use the same code.
pub struct DigitGrid {
    pub title: String,
    pub subtitle: Option<String>,
    /// Image size (rows, cols).
    pub image: (usize, usize),
    pub tiles: Vec<DigitTile>,
    pub columns: usize,
    /// Screen pixels per image pixel.
    pub scale: u32,
}

impl DigitGrid {
    fn caption_lines(&self) -> usize {
        self.tiles.iter().map(|t| t.caption.len()).max().unwrap_or(0)
    }
    fn cell(&self) -> (i32, i32) {
        let (r, c) = self.image;
        let s = self.scale as i32;
        ((c as i32 * s).max(60) + 16, r as i32 * s + 18 * self.caption_lines() as i32 + 16)
    }
    fn header(&self) -> i32 {
        if self.subtitle.is_some() { 70 } else { 48 }
    }
}

impl Chart for DigitGrid {
    fn kind(&self) -> &'static str {
        "digit grid"
    }
    fn size(&self) -> (u32, u32) {
        let cols = self.columns.max(1).min(self.tiles.len().max(1));
        let rows = self.tiles.len().div_ceil(self.columns.max(1)).max(1);
        let (cw, ch) = self.cell();
        ((cols as i32 * cw + 40).max(480) as u32, (self.header() + rows as i32 * ch + 16) as u32)
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        title_block(root, &self.title, self.subtitle.as_deref())?;
        if self.tiles.is_empty() {
            return no_data(root, "nothing to show");
        }
        let (w, _) = root.dim_in_pixel();
        let cols = self.columns.max(1).min(self.tiles.len());
        let (cw, ch) = self.cell();
        let x_start = (w as i32 - cols as i32 * cw) / 2;
        let (ir, ic) = self.image;
        let s = self.scale as i32;
        let lines = self.caption_lines() as i32;
        for (i, t) in self.tiles.iter().enumerate() {
            let (gx, gy) = (x_start + (i % cols) as i32 * cw, self.header() + (i / cols) as i32 * ch);
            for (j, line) in t.caption.iter().enumerate() {
                root.draw(&Text::new(line.clone(), (gx + cw / 2, gy + 9 + 18 * j as i32), centered(14.0)))?;
            }
            let (x0, y0) = (gx + (cw - ic as i32 * s) / 2, gy + 18 * lines + 4);
            draw_pixels(
                root,
                (x0, y0),
                s,
                (ir, ic),
                |r, c| t.pixels.get(r * ic + c).copied().unwrap_or(0.0),
                WHITE,
                |v| {
                    // Dark ink on white, as digits are written.
                    (v > 0.03).then(|| mix(WHITE, BLACK, v as f64))
                },
            )?;
            outline(root, (x0, y0), (ic as i32 * s, ir as i32 * s))?;
        }
        Ok(())
    }
}
