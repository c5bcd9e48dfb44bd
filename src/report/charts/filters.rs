//! The filters of a convolution layer as small red/blue images.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::parts::{draw_pixels, outline, title_block};
use super::style::{GREY, centered, diverging};
use super::{Chart, DrawResult};

/// The filters of a convolution layer: one tile per output channel, weights coloured red
/// (positive) and blue (negative) on a scale shared by all filters. With several input
/// channels a tile shows their mean.
pub struct ConvFilters<'a> {
    pub title: String,
    /// Keras layout `[kh, kw, c_in, c_out]`.
    pub kernel: &'a [f32],
    pub shape: [usize; 4],
}

impl ConvFilters<'_> {
    fn layout(&self) -> (i32, usize, usize) {
        let [kh, kw, _, cout] = self.shape;
        let scale = (72 / kh.max(kw).max(1)).max(2) as i32;
        let cols = cout.clamp(1, 16);
        (scale, cols, cout.div_ceil(cols).max(1))
    }
}

impl Chart for ConvFilters<'_> {
    fn kind(&self) -> &'static str {
        "convolution filters"
    }
    fn size(&self) -> (u32, u32) {
        let [kh, kw, _, _] = self.shape;
        let (s, cols, rows) = self.layout();
        let (tw, th) = (kw as i32 * s + 14, kh as i32 * s + 30);
        ((cols as i32 * tw + 40).max(520) as u32, (80 + rows as i32 * th + 10) as u32)
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let [kh, kw, cin, cout] = self.shape;
        let max = self.kernel.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-12);
        title_block(
            root,
            &self.title,
            Some(&format!("{kh}×{kw} weights per filter; red positive, blue negative, scale ±{max:.3}")),
        )?;
        let (s, cols, _) = self.layout();
        let (w, _) = root.dim_in_pixel();
        let (tw, th) = (kw as i32 * s + 14, kh as i32 * s + 30);
        let x_start = (w as i32 - cols as i32 * tw) / 2;
        let mean = |r: usize, c: usize, f: usize| -> f32 {
            let base = (r * kw + c) * cin * cout;
            (0..cin).map(|i| self.kernel.get(base + i * cout + f).copied().unwrap_or(0.0)).sum::<f32>()
                / cin.max(1) as f32
        };
        for f in 0..cout {
            let (gx, gy) = (x_start + (f % cols) as i32 * tw, 70 + (f / cols) as i32 * th);
            root.draw(&Text::new(f.to_string(), (gx + tw / 2, gy + 8), centered(12.0).color(&GREY)))?;
            let (x0, y0) = (gx + 7, gy + 18);
            draw_pixels(root, (x0, y0), s, (kh, kw), |r, c| mean(r, c, f), WHITE, |v| Some(diverging(v / max)))?;
            outline(root, (x0, y0), (kw as i32 * s, kh as i32 * s))?;
        }
        Ok(())
    }
}
