//! Several runs' learning curves overlaid on the same axes (`digits compare`, an ensemble's members).

use plotters::coord::Shift;
use plotters::prelude::*;

use super::lines::{Line, fixed3, line_panel};
use super::style::{GREY, PALETTE, font};
use super::{Chart, DrawResult};
use crate::train::{EpochRecord, History};

/// The learning curves of several runs on the same axes: one colour per run, training solid,
/// validation dashed.
pub struct CompareCurves<'a> {
    pub title: String,
    /// (name for the legend, history)
    pub runs: Vec<(String, &'a History)>,
}

impl Chart for CompareCurves<'_> {
    fn kind(&self) -> &'static str {
        "comparison"
    }
    fn size(&self) -> (u32, u32) {
        (1200, 540)
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let area = root.margin(10, 0, 0, 0).titled(&self.title, font(22.0))?;
        let (left, right) = area.split_horizontally(600);
        let lines = |train: fn(&EpochRecord) -> Option<f64>, val: fn(&EpochRecord) -> Option<f64>| {
            let mut out = Vec::new();
            for (i, (name, h)) in self.runs.iter().enumerate() {
                let color = PALETTE[i % PALETTE.len()];
                let pts = |f: fn(&EpochRecord) -> Option<f64>| -> Vec<(f64, f64)> {
                    h.epochs.iter().filter_map(|r| f(r).map(|v| (r.epoch as f64, v))).collect()
                };
                out.push(Line { label: Some(name.clone()), color, dashed: false, points: pts(train) });
                out.push(Line { label: None, color, dashed: true, points: pts(val) });
            }
            // Two grey legend entries say which line style is which.
            out.push(Line { label: Some("training".into()), color: GREY, dashed: false, points: vec![] });
            out.push(Line { label: Some("validation".into()), color: GREY, dashed: true, points: vec![] });
            out
        };
        line_panel(
            &left,
            "loss",
            "cross-entropy",
            &lines(|r| Some(r.loss), |r| r.val_loss),
            SeriesLabelPosition::UpperRight,
            &fixed3,
        )?;
        line_panel(
            &right,
            "accuracy",
            "accuracy",
            &lines(|r| Some(r.accuracy), |r| r.val_accuracy),
            SeriesLabelPosition::LowerRight,
            &fixed3,
        )?;
        Ok(())
    }
}
