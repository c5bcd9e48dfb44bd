//! Colours and text styles shared by the charts: one palette, one font, two colour maps.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::SANS;

/// matplotlib's "tab10": distinct colours that readers of the notebooks know.
pub const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];
pub(super) const TEXT: RGBColor = RGBColor(30, 30, 30);
pub(super) const GRID: RGBColor = RGBColor(232, 232, 232);
pub(super) const GREY: RGBColor = RGBColor(110, 110, 110);

pub(super) fn font(size: f64) -> TextStyle<'static> {
    TextStyle::from((SANS, size).into_font()).color(&TEXT)
}

pub(super) fn centered(size: f64) -> TextStyle<'static> {
    font(size).pos(Pos::new(HPos::Center, VPos::Center))
}

pub(super) fn mix(a: RGBColor, b: RGBColor, t: f64) -> RGBColor {
    let t = t.clamp(0.0, 1.0);
    let l = |x: u8, y: u8| (x as f64 + (y as f64 - x as f64) * t).round() as u8;
    RGBColor(l(a.0, b.0), l(a.1, b.1), l(a.2, b.2))
}

pub(super) fn dark(c: RGBColor) -> bool {
    (0.299 * c.0 as f64 + 0.587 * c.1 as f64 + 0.114 * c.2 as f64) < 140.0
}

/// Viridis (matplotlib's default colour map) by linear interpolation between nine stops.
pub(super) fn viridis(t: f32) -> RGBColor {
    const STOPS: [(u8, u8, u8); 9] = [
        (68, 1, 84),
        (71, 44, 122),
        (59, 81, 139),
        (44, 113, 142),
        (33, 144, 141),
        (39, 173, 129),
        (92, 200, 99),
        (170, 220, 50),
        (253, 231, 37),
    ];
    let t = if t.is_finite() { t.clamp(0.0, 1.0) as f64 } else { 0.0 };
    let x = t * (STOPS.len() - 1) as f64;
    let i = (x.floor() as usize).min(STOPS.len() - 2);
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    mix(RGBColor(a.0, a.1, a.2), RGBColor(b.0, b.1, b.2), x - i as f64)
}

/// Blue for negative, white for zero, red for positive; `t` in [-1, 1].
pub(super) fn diverging(t: f32) -> RGBColor {
    let t = if t.is_finite() { t.clamp(-1.0, 1.0) as f64 } else { 0.0 };
    if t < 0.0 { mix(WHITE, RGBColor(33, 102, 172), -t) } else { mix(WHITE, RGBColor(178, 24, 43), t) }
}
