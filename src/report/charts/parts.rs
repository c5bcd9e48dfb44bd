//! Drawing pieces several charts share: a title block, a "no data" note, pixel images and
//! their outlines.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::DrawResult;
use super::style::{GREY, centered};

/// A centred "no data" note, so an empty chart says why it is empty.
pub(super) fn no_data<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, what: &str) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let (w, h) = area.dim_in_pixel();
    area.draw(&Text::new(what.to_string(), (w as i32 / 2, h as i32 / 2), centered(16.0).color(&GREY)))?;
    Ok(())
}

/// Draws a `rows × cols` single-channel image with its top-left corner at `(x0, y0)`, each
/// value a `scale × scale` square coloured by `color` (`None`: leave the background).
/// Background pixels are skipped, which keeps SVG files of sparse images (digits, ReLU maps) small.
#[allow(clippy::too_many_arguments)]
pub(super) fn draw_pixels<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    (x0, y0): (i32, i32),
    scale: i32,
    (rows, cols): (usize, usize),
    value: impl Fn(usize, usize) -> f32,
    background: RGBColor,
    color: impl Fn(f32) -> Option<RGBColor>,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let (w, h) = (cols as i32 * scale, rows as i32 * scale);
    area.draw(&Rectangle::new([(x0, y0), (x0 + w, y0 + h)], background.filled()))?;
    for r in 0..rows {
        for c in 0..cols {
            if let Some(col) = color(value(r, c)) {
                let (x, y) = (x0 + c as i32 * scale, y0 + r as i32 * scale);
                area.draw(&Rectangle::new([(x, y), (x + scale, y + scale)], col.filled()))?;
            }
        }
    }
    Ok(())
}

pub(super) fn outline<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    (x0, y0): (i32, i32),
    (w, h): (i32, i32),
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    area.draw(&Rectangle::new([(x0 - 1, y0 - 1), (x0 + w, y0 + h)], ShapeStyle::from(&RGBColor(190, 190, 190))))?;
    Ok(())
}

pub(super) fn title_block<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    subtitle: Option<&str>,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let (w, _) = area.dim_in_pixel();
    area.draw(&Text::new(title.to_string(), (w as i32 / 2, 22), centered(22.0)))?;
    if let Some(s) = subtitle {
        area.draw(&Text::new(s.to_string(), (w as i32 / 2, 48), centered(14.0).color(&GREY)))?;
    }
    Ok(())
}
