//! One record per epoch, written as CSV and JSON.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub loss: f64,
    pub accuracy: f64,
    pub val_loss: Option<f64>,
    pub val_accuracy: Option<f64>,
    pub lr: f64,
    pub seconds: f64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    pub epochs: Vec<EpochRecord>,
}

impl History {
    pub fn to_csv(&self) -> String {
        let mut s = String::from("epoch,loss,accuracy,val_loss,val_accuracy,lr,seconds\n");
        let opt = |v: Option<f64>| v.map(|v| format!("{v:.6}")).unwrap_or_default();
        for r in &self.epochs {
            s += &format!(
                "{},{:.6},{:.6},{},{},{},{:.3}\n",
                r.epoch,
                r.loss,
                r.accuracy,
                opt(r.val_loss),
                opt(r.val_accuracy),
                r.lr,
                r.seconds
            );
        }
        s
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&self.epochs).expect("history serialises")
    }
}
