//! The terminal view of a run: an indicatif progress bar and epoch summaries on stderr.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

const TEMPLATE: &str = "{prefix} [{bar:30}] {pos}/{len} [{elapsed_precise}<{eta_precise}] {msg}";

/// A progress bar per epoch, or nothing when disabled.
///
/// indicatif draws nothing when stderr is not a terminal; summaries then go to stderr as
/// plain lines.
#[derive(Debug)]
pub(crate) struct ProgressView {
    bar: Option<ProgressBar>,
}

impl ProgressView {
    /// A view that shows progress when `enabled`.
    pub(crate) fn new(enabled: bool) -> Self {
        let bar = enabled.then(|| {
            let style = ProgressStyle::with_template(TEMPLATE)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
            ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr()).with_style(style)
        });
        Self { bar }
    }

    /// Starts the bar of `epoch` (1-based) with `len` batches, `done` of them already trained.
    pub(crate) fn start_epoch(&self, epoch: u64, epochs: u64, len: usize, done: usize) {
        if let Some(bar) = &self.bar {
            bar.reset();
            bar.set_length(len as u64);
            bar.set_position(done as u64);
            bar.set_prefix(format!("epoch {epoch}/{epochs}"));
            bar.set_message("");
        }
    }

    /// Advances by one step and shows its metrics.
    pub(crate) fn step(&self, loss: f64, ppl: f64, phi: Option<f64>, lr: f64) {
        if let Some(bar) = &self.bar {
            let phi = phi.map(|p| format!(" phi {p:.3}")).unwrap_or_default();
            bar.set_message(format!("loss {loss:.4} ppl {ppl:.2}{phi} lr {lr:.2e}"));
            bar.inc(1);
        }
    }

    /// Replaces the message (e.g. "validating").
    pub(crate) fn message(&self, text: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(text.to_string());
        }
    }

    /// Prints a line above the bar, or to stderr when no bar is drawn.
    pub(crate) fn println(&self, line: &str) {
        match &self.bar {
            Some(bar) if !bar.is_hidden() => bar.println(line),
            Some(_) => eprintln!("{line}"),
            None => {}
        }
    }

    /// Removes the bar from the terminal.
    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
