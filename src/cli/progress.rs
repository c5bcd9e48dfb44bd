//! Turns the library's training events into what a terminal shows: one Keras-style line per
//! epoch, and a progress bar while an epoch runs when stderr is a terminal.

use digits::train::{Event, RunStart};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

/// Prints the events of a run, each line prefixed (e.g. by the fold).
pub fn epoch_printer(prefix: String, train_len: usize, batch_size: usize) -> impl FnMut(Event) + use<> {
    let tty = std::io::stderr().is_terminal();
    let mut bar: Option<ProgressBar> = None;
    let mut train_len = train_len;
    let mut planned = 0;
    move |ev| match ev {
        Event::Resumed { .. } => {}
        Event::Started(s) => {
            train_len = s.train_samples;
            println!("{}", start_line(s));
        }
        Event::EpochStart { epoch, epochs, steps } => {
            planned = epochs;
            if tty {
                bar = Some(new_bar(format!("{prefix}Epoch {epoch}/{epochs}"), steps));
            }
        }
        Event::Step { step, loss, accuracy, .. } => {
            if let Some(b) = &bar {
                b.set_position(step as u64);
                if step % 10 == 0 {
                    b.set_message(format!("loss {loss:.4} accuracy {accuracy:.4}"));
                }
            }
        }
        Event::EpochEnd(r) => {
            if let Some(b) = bar.take() {
                b.finish_and_clear();
            }
            let steps = train_len.div_ceil(batch_size.max(1));
            let mut line = format!(
                "{prefix}Epoch {}/{} - {:.1}s {:.1}ms/step - loss: {:.4} - accuracy: {:.4}",
                r.epoch,
                planned,
                r.seconds,
                r.seconds * 1000.0 / steps as f64,
                r.loss,
                r.accuracy
            );
            if let (Some(vl), Some(va)) = (r.val_loss, r.val_accuracy) {
                line += &format!(" - val_loss: {vl:.4} - val_accuracy: {va:.4}");
            }
            println!("{line}");
        }
        Event::Note(note) => println!("{prefix}{note}"),
    }
}

fn new_bar(prefix: String, steps: usize) -> ProgressBar {
    let b = ProgressBar::new(steps as u64);
    b.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {elapsed_precise} eta {eta} {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    b.set_prefix(prefix);
    b
}

/// `digits train: model … (N params), …`: what the run is about to do.
fn start_line(s: &RunStart) -> String {
    let c = &s.config;
    format!(
        "digits train: model {} ({} params), {} training images, validation: {}, {} epochs, batch {}, {} lr {} ({:?}), seed {}, {} threads",
        s.model,
        s.params,
        s.train_samples,
        s.validation,
        c.epochs,
        c.batch_size,
        c.optimizer.name(),
        c.optimizer.lr(),
        c.schedule,
        c.seed,
        s.threads
    )
}
