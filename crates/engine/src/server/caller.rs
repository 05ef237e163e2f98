//! Who runs a command: the process that embeds the engine, or a client of the control port
//! that logged in. The dispatcher hands the [`Caller`] to every method that reads or writes
//! paths, so a confined caller never reaches outside its root.

use std::path::PathBuf;

/// The one on whose behalf a command runs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Caller {
    /// The account the client logged in as; `None` for the embedding process.
    pub user: Option<String>,
    /// The directory every path the caller names must stay inside (sources it sends from, the
    /// paths of file operations); `None` for a caller that is not confined.
    pub root: Option<PathBuf>,
}

impl Caller {
    /// The process that embeds the engine: not confined.
    pub fn local() -> Caller {
        Caller::default()
    }
}
