//! Progress of long work (a clip through `detect`, the demo's run) on standard error: one line
//! rewritten in place at a terminal, a line every few seconds in a redirected log.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Reports at most once per `every`; a redirected log gets new lines less often.
#[derive(Debug)]
pub struct Progress {
    what: &'static str,
    terminal: bool,
    every: Duration,
    last: Option<Instant>,
}

impl Progress {
    pub fn new(what: &'static str) -> Self {
        let terminal = std::io::stderr().is_terminal();
        let every = if terminal { Duration::from_millis(200) } else { Duration::from_secs(10) };
        Self { what, terminal, every, last: None }
    }

    /// Shows `status` unless the last report was less than a period ago.
    pub fn report(&mut self, status: impl FnOnce() -> String) {
        if self.last.is_some_and(|t| t.elapsed() < self.every) {
            return;
        }
        self.last = Some(Instant::now());
        let mut err = std::io::stderr().lock();
        let line = format!("{}: {}", self.what, status());
        let _ = if self.terminal { write!(err, "\r\x1b[2K{line}") } else { writeln!(err, "{line}") };
    }

    /// Ends the in-place line with `status`.
    pub fn finish(&mut self, status: String) {
        let mut err = std::io::stderr().lock();
        let _ = if self.terminal {
            writeln!(err, "\r\x1b[2K{}: {status}", self.what)
        } else {
            writeln!(err, "{}: {status}", self.what)
        };
    }
}
