//! The library's one error type. Every variant names what it concerns (the file, the record,
//! the layer, the chart) and says what is wrong, so a face can print it as it is: the CLI
//! prints `error: {e}`, the server answers it as JSON.

use std::path::{Path, PathBuf};

/// Everything that can go wrong in the library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The operating system refused to open, read or write a file.
    #[error("{}: {source}", shown(path))]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file exists but its contents are not what they should be (bad magic number, wrong
    /// size, a label out of range, an unreadable model file, ...).
    #[error("{}: {message}", shown(path))]
    Format { path: PathBuf, message: String },
    /// One record of a file is wrong: a CSV line, a results line, a tensor.
    #[error("{}: {record}: {message}", shown(path))]
    Record { path: PathBuf, record: String, message: String },
    /// Two files that belong together disagree (e.g. image and label counts differ).
    #[error("{} and {}: {message}", shown(images), shown(labels))]
    Mismatch { images: PathBuf, labels: PathBuf, message: String },
    /// The files something needs are not where it looked (`path` is the place searched).
    #[error("{}: {message}", shown(path))]
    NotFound { path: PathBuf, message: String },
    /// A layer of a model cannot be built as described.
    #[error("model '{model}', layer {index} ({layer}): {message}")]
    Layer { model: String, index: usize, layer: String, message: String },
    /// Two shapes that must agree do not: a model and its data, a checkpoint and its model.
    #[error("{what}: {expected_what} is {expected}, but {found_what} is {found}")]
    Shape { what: String, expected_what: String, expected: String, found_what: String, found: String },
    /// A search-space file is wrong.
    #[error("search space {}: {message}", shown(path))]
    Space { path: PathBuf, message: String },
    /// A tuning results file is wrong.
    #[error("results file {}: {message}", shown(path))]
    Results { path: PathBuf, message: String },
    /// A chart could not be drawn or encoded.
    #[error("{action} the {chart} chart: {message}")]
    Chart { action: &'static str, chart: &'static str, message: String },
    /// Training stopped because the loss or a weight stopped being a finite number (the
    /// learning rate is too high for the model): at `epoch` (from 1), `batch` (from 1) of it.
    #[error(
        "training diverged at epoch {epoch}, batch {batch}: {what} (last finite loss: {}); no model was saved (a checkpoint, if there is one, holds the last good epoch). Lower the learning rate (--lr, {lr} at that step)",
        last_finite_text(*.last_finite_loss)
    )]
    Diverged { epoch: usize, batch: usize, what: String, last_finite_loss: Option<f64>, lr: f32 },
    /// A shared study's store (a database) holds something wrong, or refused an operation:
    /// `study` names the store and the study (never a password), `message` the trial and field.
    #[error("study {study}: {message}")]
    Study { study: String, message: String },
    /// A setting or argument is out of range or names nothing known (a split fraction, an
    /// optimizer name, a learning rate).
    #[error("{0}")]
    Invalid(String),
}

fn last_finite_text(loss: Option<f64>) -> String {
    loss.map_or_else(
        || "none, the first batch already diverged".into(),
        |l| if l.abs() < 1e4 { format!("{l:.4}") } else { format!("{l:.4e}") },
    )
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An [`Error::Io`] for `path`, to use as `.map_err(Error::io(path))`.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }

    /// An [`Error::Format`] for `path`.
    pub fn format(path: impl Into<PathBuf>, message: impl Into<String>) -> Error {
        Error::Format { path: path.into(), message: message.into() }
    }

    /// An [`Error::Invalid`].
    pub fn invalid(message: impl Into<String>) -> Error {
        Error::Invalid(message.into())
    }
}

/// `text` with its control characters escaped (`\n`, `\t`, `\u{1b}`, ...), so that input
/// echoed in a message (a file name, a bad CSV cell) cannot move the cursor, recolour or
/// clear the terminal it is printed on. Everything else is kept as it is.
pub fn escape_control(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// [`escape_control`] on bytes read from a file (invalid UTF-8 becomes U+FFFD, the
/// replacement character).
pub fn escape_bytes(bytes: &[u8]) -> String {
    escape_control(&String::from_utf8_lossy(bytes))
}

/// A path as printed in messages: its display form with control characters escaped.
pub fn shown(path: &Path) -> String {
    escape_control(&path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(escape_control("a\x1b[2Jb\n\tü"), "a\\u{1b}[2Jb\\n\\tü");
        assert_eq!(escape_bytes(b"x\x07\xff"), "x\\u{7}\u{fffd}");
        let e = Error::format("bad\x1bname.csv", "broken");
        assert_eq!(e.to_string(), "bad\\u{1b}name.csv: broken");
    }
}
