//! A running transfer: the task that drives one sending session for the actor, reporting its
//! progress and its end as messages, steered through a watch of [`Controls`].

use super::actor::Msg;
use crate::error::{Code, Error, Result};
use crate::send::{self, Controls, Progress, SendOptions, SendReport};
use crate::store::{ManifestFile, TransferProgress};
use crate::walk::WalkEntry;
use jetstream_wire::crypto::handshake::Identity;
use jetstream_wire::files::{EntryKind, FileMeta};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// How a session ended.
pub(super) type Outcome = Result<SendReport>;

/// How long a stopping session may take to tell its receiver.
const STOP_GRACE: Duration = Duration::from_secs(1);

/// What every session of a server starts with: its identity, and the way to the actor.
pub(super) struct Launch {
    /// The server's identity key.
    pub(super) identity: Arc<Identity>,
    /// Where progress and ends are reported.
    pub(super) tx: mpsc::UnboundedSender<Msg>,
}

/// A transfer's entries as its manifest lists them.
pub(super) struct Listed {
    /// The entries, in order.
    pub(super) files: Vec<ManifestFile>,
    /// The manifest sends symbolic links as themselves (`SYMLINKS_PRESERVE`).
    pub(super) preserve_links: bool,
}

/// A transfer whose session runs.
pub(super) struct Running {
    /// The destination it goes to.
    pub(super) destination_id: String,
    /// Each entry's destination path, by transfer index (for the transfer log).
    paths: Vec<String>,
    /// What the sender applies while running.
    pub(super) control: watch::Sender<Controls>,
    /// Held back by the scheduler (its lane or priority has no share now).
    pub(super) held: bool,
    /// Suspended by the API.
    pub(super) suspended: bool,
    /// Failed by the API: its end is already recorded.
    pub(super) failed: bool,
    /// Its current session is connected to the receiver.
    pub(super) connected: bool,
    /// Its receiver's first contact was told to subscribers.
    pub(super) told_recorded: bool,
    /// Bytes sent and entries complete when it was last resumed; sending again once either
    /// grows.
    pub(super) resumed_at: Option<(u64, u64)>,
    /// The transfer's counters when this run began (the run's counters go on from them).
    pub(super) before: TransferProgress,
    /// How often its acknowledged ranges are saved; zero saves them only as entries complete.
    pub(super) checkpoint_every: Duration,
    /// When the last checkpoint was saved.
    checkpointed_at: Instant,
    /// Entries complete at the last checkpoint.
    checkpointed_files: u64,
    /// Bytes sent at the previous progress report (for connection counters).
    pub(super) last_bytes_sent: u64,
    /// Packets sent at the previous progress report.
    pub(super) last_packets_sent: u64,
    task: JoinHandle<()>,
}

impl Running {
    /// Starts sending the `listed` entries with `opts` (its `control` is set here).
    pub(super) fn start(
        transfer_id: u64,
        destination_id: String,
        launch: Launch,
        mut opts: SendOptions,
        listed: Listed,
        before: TransferProgress,
        controls: Controls,
    ) -> Running {
        let files_done = opts.resume.complete_files.len();
        let paths = listed.files.iter().map(|f| f.dest_path.clone()).collect();
        let Launch { identity, tx } = launch;
        let (control, watched) = watch::channel(controls);
        opts.control = Some(watched);
        let task = tokio::spawn(async move {
            let outcome = run(&identity, &opts, listed, transfer_id, &tx).await;
            let _ = tx.send(Msg::Ended {
                transfer_id,
                outcome,
            });
        });
        Running {
            destination_id,
            paths,
            control,
            held: false,
            suspended: false,
            failed: false,
            connected: false,
            told_recorded: false,
            resumed_at: None,
            checkpoint_every: Duration::ZERO,
            checkpointed_at: Instant::now(),
            checkpointed_files: files_done,
            last_bytes_sent: before.bytes_sent,
            last_packets_sent: before.packets_sent,
            before,
            task,
        }
    }

    /// The destination path of the entry at transfer index `index` ("?" for none).
    pub(super) fn path(&self, index: u64) -> &str {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.paths.get(i))
            .map_or("?", String::as_str)
    }

    /// The run's figures `p` with the counters of the runs before it added.
    pub(super) fn totals(&self, p: &Progress) -> Progress {
        let mut out = p.clone();
        out.stats.bytes_sent += self.before.bytes_sent;
        out.stats.packets_sent += self.before.packets_sent;
        out.stats.packets_received += self.before.packets_recv;
        out.reconnects += u32::try_from(self.before.reconnects).unwrap_or(u32::MAX);
        if out.last_error.is_none() {
            out.last_error.clone_from(&self.before.last_error);
        }
        out
    }

    /// Whether `p` is to be saved as a checkpoint: when more entries are complete than at the
    /// last one (they are the completion flags), or when `checkpoint_every` has passed since.
    pub(super) fn checkpoint_due(&mut self, p: &Progress, now: Instant) -> bool {
        let periodic =
            !self.checkpoint_every.is_zero() && now >= self.checkpointed_at + self.checkpoint_every;
        let complete = p.checkpoint.complete_files.len();
        let due = periodic || complete != self.checkpointed_files;
        if due {
            self.checkpointed_at = now;
            self.checkpointed_files = complete;
        }
        due
    }

    /// Whether PINGs asked of it now are sent soon: its session is connected and sending.
    pub(super) fn carries_pings(&self) -> bool {
        self.connected && !self.held && !self.suspended && !self.failed
    }

    /// Changes what the session applies.
    pub(super) fn steer(&self, change: impl FnOnce(&mut Controls)) {
        self.control.send_modify(change);
    }

    /// Applies the hold and suspension flags to the session.
    pub(super) fn apply_pause(&self) {
        let paused = self.held || self.suspended;
        self.control.send_if_modified(|c| {
            let changed = c.suspended != paused;
            c.suspended = paused;
            changed
        });
    }

    /// Ends the session because the engine closes, waiting a moment for it to tell the
    /// receiver.
    pub(super) async fn stop(self) {
        self.control
            .send_modify(|c| c.stop = Some("the engine is closing".into()));
        let mut task = self.task;
        if tokio::time::timeout(STOP_GRACE, &mut task).await.is_err() {
            task.abort();
        }
    }

    /// Ends the session with `message` without waiting.
    pub(super) fn cancel(&self, message: &str) {
        self.control
            .send_modify(|c| c.fail = Some(message.to_owned()));
    }
}

/// Prepares the entries and runs the session, posting progress to the actor.
async fn run(
    identity: &Identity,
    opts: &SendOptions,
    listed: Listed,
    transfer_id: u64,
    tx: &mpsc::UnboundedSender<Msg>,
) -> Outcome {
    let Listed {
        files,
        preserve_links,
    } = listed;
    let entries = tokio::task::spawn_blocking(move || {
        files
            .iter()
            .map(|file| entry(file, preserve_links))
            .collect::<Result<Vec<_>>>()
    })
    .await
    .map_err(|e| Error::new(Code::Internal, format!("preparing entries: {e}")))??;
    send::send(identity, opts, entries, &mut |progress| {
        let _ = tx.send(Msg::Progress {
            transfer_id,
            progress: progress.clone(),
        });
    })
    .await
}

/// A manifest entry as the sender reads it. Entries made without traversal have no
/// modification time recorded: it is read from the source now (0 if it cannot be). With
/// `preserve_links`, a file entry whose source is a symbolic link is sent as that link (the
/// walk listed it as one; the store keeps no entry kind, so it is read again here).
fn entry(file: &ManifestFile, preserve_links: bool) -> Result<WalkEntry> {
    if preserve_links && !file.is_empty_dir {
        if let Ok(meta) = std::fs::symlink_metadata(&file.src_path) {
            if meta.file_type().is_symlink() {
                let source = std::path::Path::new(&file.src_path);
                return crate::walk::link_entry(source, file.dest_path.clone(), &meta)
                    .map_err(|e| Error::new(Code::Io, e.to_string()));
            }
        }
    }
    let mtime_us = file.modification_time.unwrap_or_else(|| {
        std::fs::metadata(&file.src_path)
            .map_or(0, |m| crate::sandbox::unix_us(m.mtime(), m.mtime_nsec()))
    });
    let kind = if file.is_empty_dir {
        EntryKind::Directory
    } else {
        EntryKind::File
    };
    Ok(WalkEntry {
        source: if file.is_empty_dir {
            PathBuf::new()
        } else {
            PathBuf::from(&file.src_path)
        },
        meta: FileMeta {
            path: file.dest_path.clone(),
            kind,
            size: file.file_size,
            mtime_us,
            executable: file.executable,
        },
    })
}
