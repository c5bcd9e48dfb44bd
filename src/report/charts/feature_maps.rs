//! Every channel of each convolution and pooling layer's output for one input image.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::parts::{draw_pixels, title_block};
use super::style::{font, viridis};
use super::{Chart, DrawResult};

/// One layer's output for one input, as `h × w × c` (channels last).
#[derive(Clone, Debug)]
pub struct FeatureMap<'a> {
    pub label: String,
    pub h: usize,
    pub w: usize,
    pub c: usize,
    pub values: &'a [f32],
}

/// The input digit, then every channel of each given layer output as a small image (viridis,
/// each channel scaled to its own range so weak channels still show their pattern).
pub struct FeatureMaps<'a> {
    pub title: String,
    pub input: FeatureMap<'a>,
    pub layers: Vec<FeatureMap<'a>>,
}

const FM_COLS: usize = 16;
const FM_TILE: i32 = 64;
const FM_GAP: i32 = 6;
const FM_HEAD: i32 = 34;

impl FeatureMaps<'_> {
    fn block_height(m: &FeatureMap) -> i32 {
        let rows = m.c.div_ceil(FM_COLS).max(1) as i32;
        FM_HEAD + rows * (FM_TILE + FM_GAP) + 8
    }
}

impl Chart for FeatureMaps<'_> {
    fn kind(&self) -> &'static str {
        "feature maps"
    }
    fn size(&self) -> (u32, u32) {
        let input = FM_HEAD + 2 * FM_TILE + 16;
        let h: i32 = 60 + input + self.layers.iter().map(Self::block_height).sum::<i32>();
        ((FM_COLS as i32 * (FM_TILE + FM_GAP) + 40) as u32, h as u32)
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        title_block(root, &self.title, None)?;
        let left = 20 + FM_GAP / 2;
        let mut y = 52;
        let head = |y: i32, text: String| {
            root.draw(&Text::new(text, (left, y + FM_HEAD / 2), font(16.0).pos(Pos::new(HPos::Left, VPos::Center))))
        };
        let map_tile = |m: &FeatureMap, ch: usize, (x0, y0): (i32, i32), size: i32| -> DrawResult {
            let at = |r: usize, c: usize| m.values.get((r * m.w + c) * m.c + ch).copied().unwrap_or(0.0);
            let (mut lo, mut hi) = (f32::MAX, f32::MIN);
            for r in 0..m.h {
                for c in 0..m.w {
                    let v = at(r, c);
                    if v.is_finite() {
                        (lo, hi) = (lo.min(v), hi.max(v));
                    }
                }
            }
            let span = if hi > lo { hi - lo } else { 1.0 };
            let scale = (size / m.h.max(m.w).max(1) as i32).max(1);
            let lo_c = lo;
            draw_pixels(root, (x0, y0), scale, (m.h, m.w), at, viridis(0.0), |v| {
                let t = (v - lo_c) / span;
                (t > 0.004).then(|| viridis(t))
            })?;
            Ok(())
        };
        head(y, format!("input: {} ({}×{})", self.input.label, self.input.h, self.input.w))?;
        map_tile(&self.input, 0, (left, y + FM_HEAD), 2 * FM_TILE)?;
        y += FM_HEAD + 2 * FM_TILE + 16;
        for m in &self.layers {
            head(y, format!("{}: {}×{}×{}", m.label, m.h, m.w, m.c))?;
            for ch in 0..m.c {
                let x0 = left + (ch % FM_COLS) as i32 * (FM_TILE + FM_GAP);
                let y0 = y + FM_HEAD + (ch / FM_COLS) as i32 * (FM_TILE + FM_GAP);
                map_tile(m, ch, (x0, y0), FM_TILE)?;
            }
            y += Self::block_height(m);
        }
        Ok(())
    }
}
