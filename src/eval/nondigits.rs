//! Things a digit reader meets that are no digit — letters, shapes and scribbles — drawn here
//! (not taken from MNIST) with dark ink on white paper and prepared as any picture is
//! ([`crate::data::picture::preprocess_luma`]), to measure how many a model answers "unsure".

use crate::data::picture::preprocess_luma;
use crate::rng::Rng;
use plotters::prelude::*;

/// The canvas the non-digits are drawn on, before preparation to 28×28.
const CANVAS: u32 = 112;
/// Letters that do not read as a digit (no O, I, l, S, Z, B, G, q).
const LETTERS: &str = "ACEFHKMNPRTUVWXY";

/// The kinds, in turn: a letter, a polygon, a scribble.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Letter,
    Shape,
    Scribble,
}

/// `count` prepared non-digits (28×28 each, 0..1, ink bright), the kinds in turn, drawn from
/// `seed`; with the kind of each.
pub fn non_digits(count: usize, seed: u64) -> (Vec<f32>, Vec<Kind>) {
    crate::report::charts::register_font();
    let mut images = Vec::with_capacity(count * 784);
    let mut kinds = Vec::with_capacity(count);
    for i in 0..count {
        let mut rng = Rng::derive(&[seed, 0x4e_44, i as u64]);
        let kind = [Kind::Letter, Kind::Shape, Kind::Scribble][i % 3];
        let grey = draw(kind, &mut rng);
        // Every drawing has ink, so preparation succeeds; a failure would be a bug here.
        let prepared = preprocess_luma(CANVAS as usize, CANVAS as usize, &grey).expect("a drawing with ink");
        images.extend(prepared);
        kinds.push(kind);
    }
    (images, kinds)
}

/// One drawing's grey levels (`CANVAS`², 1 = white paper).
fn draw(kind: Kind, rng: &mut Rng) -> Vec<f32> {
    let mut buf = vec![255u8; (CANVAS * CANVAS * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (CANVAS, CANVAS)).into_drawing_area();
        let ink = BLACK.stroke_width(6 + rng.below(5) as u32);
        let c = CANVAS as f32;
        let point =
            |rng: &mut Rng| ((c * rng.uniform_range(0.15, 0.85)) as i32, (c * rng.uniform_range(0.15, 0.85)) as i32);
        let _ = match kind {
            Kind::Letter => {
                let letter = LETTERS.chars().nth(rng.below(LETTERS.len())).unwrap_or('A');
                let size = 70.0 + 20.0 * rng.uniform() as f64;
                let style = TextStyle::from(("sans-serif", size).into_font()).color(&BLACK);
                root.draw(&Text::new(letter.to_string(), (28, 14), style))
            }
            Kind::Shape => {
                let sides = 3 + rng.below(4);
                let (cx, cy, r) = (c / 2.0, c / 2.0, c * rng.uniform_range(0.25, 0.4));
                let turn = rng.uniform() * std::f32::consts::TAU;
                let mut pts: Vec<(i32, i32)> = (0..=sides)
                    .map(|k| {
                        let a = turn + k as f32 * std::f32::consts::TAU / sides as f32;
                        ((cx + r * a.cos()) as i32, (cy + r * a.sin()) as i32)
                    })
                    .collect();
                pts.push(pts[0]);
                root.draw(&PathElement::new(pts, ink))
            }
            Kind::Scribble => {
                let pts: Vec<(i32, i32)> = (0..5 + rng.below(6)).map(|_| point(rng)).collect();
                root.draw(&PathElement::new(pts, ink))
            }
        };
        let _ = root.present();
    }
    buf.chunks_exact(3).map(|p| p[0] as f32 / 255.0).collect()
}

/// The fraction of `non_digit_tops` (top probabilities on non-digits) below `threshold`.
pub fn rejected(non_digit_tops: &[f32], threshold: f32) -> f64 {
    non_digit_tops.iter().filter(|&&p| p < threshold).count() as f64 / non_digit_tops.len().max(1) as f64
}

/// The threshold that keeps `coverage` of `clean_tops` answered: the `1 − coverage` quantile.
pub fn threshold_for_coverage(clean_tops: &[f32], coverage: f64) -> f32 {
    let mut t = clean_tops.to_vec();
    t.sort_by(|a, b| a.total_cmp(b));
    let k = ((1.0 - coverage) * t.len() as f64).floor() as usize;
    t.get(k).copied().unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_digits_are_prepared_deterministic_and_of_every_kind() {
        let (a, kinds) = non_digits(6, 1);
        let (b, _) = non_digits(6, 1);
        assert_eq!(a, b);
        assert_eq!(a.len(), 6 * 784);
        assert!(a.iter().all(|v| (0.0..=1.0).contains(v)));
        assert_eq!(kinds[..3], [Kind::Letter, Kind::Shape, Kind::Scribble]);
        // Each has ink, centred as MNIST's digits are.
        for img in a.chunks(784) {
            assert!(img.iter().sum::<f32>() > 10.0);
            assert_eq!(img[0], 0.0);
        }
        assert_ne!(non_digits(6, 2).0, a);
    }

    #[test]
    fn threshold_keeps_the_coverage_asked_for() {
        let tops: Vec<f32> = (1..=100).map(|i| i as f32 / 100.0).collect();
        let t = threshold_for_coverage(&tops, 0.99);
        assert_eq!(t, 0.02);
        assert_eq!(tops.iter().filter(|&&p| p >= t).count(), 99);
        assert_eq!(rejected(&[0.1, 0.5, 0.9], 0.6), 2.0 / 3.0);
    }
}
