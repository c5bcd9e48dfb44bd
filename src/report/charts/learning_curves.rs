//! One run's learning curves: loss and accuracy per epoch, and the learning rate when it changes.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::lines::{Line, fixed3, line_panel, sci};
use super::style::{PALETTE, font};
use super::{Chart, DrawResult};
use crate::train::{EpochRecord, History};

/// Loss and accuracy per epoch, training (solid) against validation (dashed), and the learning
/// rate when it changes during the run.
pub struct LearningCurves<'a> {
    pub title: String,
    pub history: &'a History,
}

impl LearningCurves<'_> {
    fn lr_changes(&self) -> bool {
        let lrs: Vec<f64> = self.history.epochs.iter().map(|r| r.lr).collect();
        lrs.windows(2).any(|w| (w[0] - w[1]).abs() > 1e-12 * w[0].abs().max(w[1].abs()))
    }
}

impl Chart for LearningCurves<'_> {
    fn kind(&self) -> &'static str {
        "learning curves"
    }
    fn size(&self) -> (u32, u32) {
        (1200, if self.lr_changes() { 780 } else { 500 })
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let h = &self.history.epochs;
        let area = root.margin(10, 0, 0, 0).titled(&self.title, font(22.0))?;
        let (top, bottom) = if self.lr_changes() {
            let (t, b) = area.split_vertically(440);
            (t, Some(b))
        } else {
            (area, None)
        };
        let (left, right) = top.split_horizontally(600);
        let series = |f: fn(&EpochRecord) -> Option<f64>| -> Vec<(f64, f64)> {
            h.iter().filter_map(|r| f(r).map(|v| (r.epoch as f64, v))).collect()
        };
        let pair = |train: Vec<(f64, f64)>, val: Vec<(f64, f64)>| {
            let mut v = vec![Line { label: Some("training".into()), color: PALETTE[0], dashed: false, points: train }];
            if !val.is_empty() {
                v.push(Line { label: Some("validation".into()), color: PALETTE[1], dashed: true, points: val });
            }
            v
        };
        let loss = pair(series(|r| Some(r.loss)), series(|r| r.val_loss));
        line_panel(&left, "loss", "cross-entropy", &loss, SeriesLabelPosition::UpperRight, &fixed3)?;
        let acc = pair(series(|r| Some(r.accuracy)), series(|r| r.val_accuracy));
        line_panel(&right, "accuracy", "accuracy", &acc, SeriesLabelPosition::LowerRight, &fixed3)?;
        if let Some(b) = bottom {
            let lr = vec![Line { label: None, color: PALETTE[2], dashed: false, points: series(|r| Some(r.lr)) }];
            line_panel(
                &b,
                "learning rate (at the end of each epoch)",
                "learning rate",
                &lr,
                SeriesLabelPosition::UpperRight,
                &sci,
            )?;
        }
        Ok(())
    }
}
