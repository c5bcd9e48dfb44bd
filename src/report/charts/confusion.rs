//! The confusion matrix as a heatmap of counts: true classes on rows, predicted on columns.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::parts::{no_data, title_block};
use super::style::{TEXT, centered, dark, mix};
use super::{Chart, DrawResult};

/// The confusion matrix as a heatmap with the counts in the cells: rows are true classes,
/// columns predicted ones. Correct predictions are blue, mistakes red, darker for more.
pub struct ConfusionHeatmap<'a> {
    pub title: String,
    /// `matrix[true][predicted]` counts.
    pub matrix: &'a [Vec<u64>],
}

/// One cell of the heatmap as it is drawn: which count stands in which row and column, and where.
/// The layout is data so tests can check the orientation without reading pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeatmapCell {
    /// The true class: the row, counted from the top.
    pub row: usize,
    /// The predicted class: the column, counted from the left.
    pub col: usize,
    /// The count written in the cell, `matrix[row][col]`.
    pub count: u64,
    /// The cell's top-left corner in pixels.
    pub x: i32,
    pub y: i32,
    /// The cell's side in pixels.
    pub side: i32,
    pub fill: RGBColor,
}

/// The grid's top-left corner in pixels: room for the class labels and the axis names.
const LEFT: i32 = 100;
const TOP: i32 = 120;

impl ConfusionHeatmap<'_> {
    /// The side of one cell: the grid fills the chart below the title.
    fn side(&self) -> i32 {
        let (w, h) = self.size();
        ((w as i32 - LEFT - 30).min(h as i32 - TOP - 70) / self.matrix.len().max(1) as i32).max(8)
    }

    /// Every cell in the order it is drawn (row by row). Correct counts are blue by their share
    /// of the row, mistakes red by their size against the largest mistake.
    pub fn cells(&self) -> Vec<HeatmapCell> {
        let m = self.matrix;
        let side = self.side();
        let off_diagonal =
            m.iter().enumerate().flat_map(|(t, row)| row.iter().enumerate().filter(move |(p, _)| *p != t));
        let max_off = off_diagonal.map(|(_, &n)| n).max().unwrap_or(0).max(1);
        let mut cells = Vec::new();
        for (t, row) in m.iter().enumerate() {
            let row_total = row.iter().sum::<u64>().max(1);
            for (p, &n) in row.iter().enumerate() {
                let fill = if t == p {
                    mix(WHITE, RGBColor(31, 119, 180), 0.25 + 0.75 * n as f64 / row_total as f64)
                } else if n > 0 {
                    mix(WHITE, RGBColor(214, 39, 40), 0.12 + 0.83 * (n as f64 / max_off as f64).sqrt())
                } else {
                    RGBColor(250, 250, 250)
                };
                let (x, y) = (LEFT + p as i32 * side, TOP + t as i32 * side);
                cells.push(HeatmapCell { row: t, col: p, count: n, x, y, side, fill });
            }
        }
        cells
    }
}

impl Chart for ConfusionHeatmap<'_> {
    fn kind(&self) -> &'static str {
        "confusion matrix"
    }
    fn size(&self) -> (u32, u32) {
        (760, 800)
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let k = self.matrix.len();
        title_block(
            root,
            &self.title,
            Some("rows: true class · columns: predicted class · blue: correct, red: mistakes"),
        )?;
        if k == 0 {
            return no_data(root, "no predictions");
        }
        let side = self.side();
        let grid = side * k as i32;
        root.draw(&Text::new("predicted", (LEFT + grid / 2, TOP - 44), centered(16.0)))?;
        root.draw(&Text::new("true", (LEFT - 70, TOP + grid / 2), centered(16.0).transform(FontTransform::Rotate270)))?;
        for i in 0..k {
            let c = LEFT + i as i32 * side + side / 2;
            root.draw(&Text::new(i.to_string(), (c, TOP - 16), centered(15.0)))?;
            let r = TOP + i as i32 * side + side / 2;
            root.draw(&Text::new(i.to_string(), (LEFT - 18, r), centered(15.0)))?;
        }
        let fsize = (side as f64 * 0.3).clamp(9.0, 18.0);
        let (mut total, mut correct) = (0u64, 0u64);
        for c in self.cells() {
            let (x, y, s) = (c.x, c.y, c.side);
            root.draw(&Rectangle::new([(x, y), (x + s, y + s)], c.fill.filled()))?;
            root.draw(&Rectangle::new([(x, y), (x + s, y + s)], ShapeStyle::from(&WHITE).stroke_width(1)))?;
            let ink = if dark(c.fill) {
                WHITE
            } else if c.count == 0 {
                RGBColor(200, 200, 200)
            } else {
                TEXT
            };
            root.draw(&Text::new(c.count.to_string(), (x + s / 2, y + s / 2), centered(fsize).color(&ink)))?;
            total += c.count;
            correct += if c.row == c.col { c.count } else { 0 };
        }
        let acc = if total > 0 { 100.0 * correct as f64 / total as f64 } else { 0.0 };
        root.draw(&Text::new(
            format!("{correct} of {total} correct ({acc:.2}%), {} mistakes", total - correct),
            (LEFT + grid / 2, TOP + grid + 30),
            centered(15.0),
        ))?;
        Ok(())
    }
}
