//! The sender's progress bar on a terminal: the transfer's figures as the engine's store holds
//! them, read ten times a second.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;
use std::io::IsTerminal;
use std::time::Duration;
use tokio::time::{interval, Interval, MissedTickBehavior};

/// How often the bar is drawn.
const EVERY: Duration = Duration::from_millis(100);

/// A progress bar, hidden when not wanted or stderr is not a terminal.
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A bar shown if `wanted` and stderr is a terminal.
    pub fn new(wanted: bool) -> Progress {
        let bar = if !wanted || !std::io::stderr().is_terminal() {
            ProgressBar::hidden()
        } else {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(10));
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:30} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
                )
                .expect("valid template"),
            );
            bar
        };
        Progress { bar }
    }

    /// When the bar is to be drawn next: a clock for a shown bar, none for a hidden one.
    pub fn clock(&self) -> Option<Interval> {
        (!self.bar.is_hidden()).then(|| {
            let mut clock = interval(EVERY);
            clock.set_missed_tick_behavior(MissedTickBehavior::Delay);
            clock
        })
    }

    /// Shows a transfer's figures (a Transfer structure, as `getTransfer` answers).
    pub fn show(&self, transfer: &Value) {
        let number = |name: &str| transfer[name].as_u64().unwrap_or(0);
        self.bar.set_length(number("totalBytes"));
        self.bar.set_position(number("bytesAcked"));
        self.bar.set_message(format!(
            "{}/{} files ({} skipped)",
            number("filesComplete"),
            number("totalFiles"),
            number("filesSkipped")
        ));
    }

    /// Runs `print` with the bar out of the way.
    pub fn suspend(&self, print: impl FnOnce()) {
        self.bar.suspend(print);
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// The next tick of `clock`; never, without one.
pub async fn tick(clock: &mut Option<Interval>) {
    match clock {
        Some(clock) => {
            clock.tick().await;
        }
        None => std::future::pending().await,
    }
}
