//! The server's log: text or JSON lines on stderr, filtered by a level that SIGHUP can change
//! while the server runs.

use crate::settings::LogFormat;
use jetstream_engine::error::{Code, Error};
use std::io::IsTerminal;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Layer, Registry};

/// The variable the level comes from when none is set.
const LEVEL_VAR: &str = "JETSTREAM_LOG";

/// The installed log, whose level can change.
pub struct Logging {
    filter: reload::Handle<EnvFilter, Registry>,
}

impl Logging {
    /// Installs the log for the whole process: `format` lines at `level` (else JETSTREAM_LOG,
    /// else info).
    pub fn init(format: LogFormat, level: Option<&str>) -> Result<Logging, Error> {
        let (filter, handle) = reload::Layer::new(filter(level)?);
        let lines = tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal());
        let lines = match format {
            LogFormat::Text => lines.boxed(),
            LogFormat::Json => lines.json().boxed(),
        };
        tracing_subscriber::registry()
            .with(filter)
            .with(lines)
            .try_init()
            .map_err(|e| Error::new(Code::Internal, format!("starting the log: {e}")))?;
        Ok(Logging { filter: handle })
    }

    /// Filters by `level` from now on (as [`Logging::init`] reads it).
    pub fn set_level(&self, level: Option<&str>) -> Result<(), Error> {
        self.filter
            .reload(filter(level)?)
            .map_err(|e| Error::new(Code::Internal, format!("changing the log level: {e}")))
    }
}

/// The filter of `level`, else of JETSTREAM_LOG, else `info`.
fn filter(level: Option<&str>) -> Result<EnvFilter, Error> {
    let from_env = std::env::var(LEVEL_VAR).ok().filter(|v| !v.is_empty());
    let directives = level
        .map(str::to_owned)
        .or(from_env)
        .unwrap_or_else(|| "info".into());
    EnvFilter::try_new(&directives).map_err(|e| {
        Error::new(
            Code::InvalidArgument,
            format!("log level {directives:?}: {e}"),
        )
    })
}
