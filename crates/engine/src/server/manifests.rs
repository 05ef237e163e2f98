//! Manifests: checking mapped sources, traversing them off the actor (a blocking task), storing
//! the entries, and answering `waitForManifest` callers when traversal ends.

use super::actor::{now_us, to_json, Actor, Msg, Responder};
use super::caller::Caller;
use crate::command::{CreateManifest, Entry, Source, FILETYPE_DIRECTORY};
use crate::error::{Code, Error, Result};
use crate::sandbox::check_path;
use crate::store::{ManifestFile, ManifestStatus};
use crate::walk::{globs, walk_each, SymlinkPolicy, WalkEntry, WalkOptions};
use jetstream_wire::files::EntryKind;
use serde_json::Value;
use std::path::PathBuf;
use tokio::sync::mpsc;

/// Entries stored per SQLite transaction while a manifest is saved.
const BATCH: usize = 10_000;

/// One mapping to traverse or to take as it is.
enum Mapping {
    /// Walk `source` into `dest` with these options.
    Walk {
        dest: String,
        source: PathBuf,
        opts: WalkOptions,
    },
    /// An I/O-free entry.
    Entry(ManifestFile),
}

impl From<&WalkEntry> for ManifestFile {
    fn from(entry: &WalkEntry) -> Self {
        ManifestFile {
            src_path: entry.source.to_string_lossy().into_owned(),
            dest_path: entry.meta.path.clone(),
            file_size: entry.meta.size,
            is_empty_dir: entry.meta.kind == EntryKind::Directory,
            executable: entry.meta.executable,
            modification_time: Some(entry.meta.mtime_us),
        }
    }
}

impl Actor {
    pub(super) fn create_manifest(&mut self, caller: &Caller, p: &CreateManifest) -> Result<Value> {
        let symlink_options = p.symlink_options.unwrap_or(0);
        let symlinks = u8::try_from(symlink_options)
            .ok()
            .and_then(SymlinkPolicy::from_u8)
            .unwrap_or_default();
        let mappings = plan(caller, p, symlinks)?;
        let manifest = self.store.insert_manifest(symlink_options, now_us())?;
        let manifest_id = manifest.manifest_id.clone();
        let tx = self.tx.clone();
        tokio::task::spawn_blocking(move || {
            let totals = traverse(mappings, &manifest_id, &tx);
            let _ = tx.send(Msg::Walked {
                manifest_id,
                totals,
            });
        });
        to_json(&manifest)
    }

    /// Stores entries as the traversal finds them, so storing overlaps walking.
    pub(super) fn on_entries(&mut self, manifest_id: &str, files: &[ManifestFile]) {
        if self.unsaved_entries.contains_key(manifest_id) {
            // It fails when the walk ends: what follows a lost batch is of no use.
            return;
        }
        match self.store.append_manifest_files(manifest_id, files) {
            Ok(()) => {}
            // Deleted during traversal (the walk's end then finds nothing to complete).
            Err(e) if e.is_not_found() => tracing::debug!("manifest {manifest_id}: {e}"),
            Err(e) => {
                let message = format!("entries were not saved (a batch of {}): {e}", files.len());
                tracing::error!("manifest {manifest_id}: {message}");
                self.unsaved_entries.insert(manifest_id.to_owned(), message);
            }
        }
    }

    /// Records the end of a traversal (complete, or failed with its reason) and answers the
    /// manifest's waiters. When neither status can be saved the waiters get that failure: the
    /// stored manifest would still say pending.
    pub(super) fn on_walked(
        &mut self,
        manifest_id: &str,
        totals: std::result::Result<(u64, u64), String>,
    ) {
        let totals = match self.unsaved_entries.remove(manifest_id) {
            Some(message) => Err(message),
            None => totals,
        };
        let recorded = match totals {
            Ok((files, size)) => self
                .store
                .complete_manifest(manifest_id, files, size)
                .or_else(|e| {
                    if e.is_not_found() {
                        return Err(e);
                    }
                    tracing::error!("manifest {manifest_id}: completion not saved: {e}");
                    self.store.fail_manifest(manifest_id, &e.to_string())
                }),
            Err(message) => self.store.fail_manifest(manifest_id, &message),
        };
        let answer = match recorded {
            Ok(()) => self.get_manifest(manifest_id),
            // Deleted during traversal: its waiters were answered then.
            Err(e) if e.is_not_found() => Err(e.into()),
            Err(e) => {
                tracing::error!("manifest {manifest_id}: status not saved: {e}");
                Err(Error::from(e)
                    .context(format_args!("manifest {manifest_id}: status not saved")))
            }
        };
        for responder in self
            .manifest_waiters
            .remove(manifest_id)
            .unwrap_or_default()
        {
            self.respond(responder, answer.clone());
        }
        self.start_queue.manifest_done(manifest_id);
        self.start_ready();
    }

    pub(super) fn get_manifest(&self, id: &str) -> Result<Value> {
        to_json(&self.store.get_manifest(id)?)
    }

    /// Deletes a manifest at any time: transfers made from it keep the entries they loaded.
    pub(super) fn delete_manifest(&mut self, id: &str) -> Result<Value> {
        self.store.delete_manifest(id)?;
        let gone = Error::new(Code::NotFound, format!("manifest {id} was deleted"));
        for responder in self.manifest_waiters.remove(id).unwrap_or_default() {
            self.respond(responder, Err(gone.clone()));
        }
        // Its transfers waiting for the traversal fail now.
        self.start_queue.manifest_done(id);
        self.start_ready();
        Ok(Value::Null)
    }

    pub(super) fn wait_for_manifest(&mut self, id: String, responder: Responder) {
        match self.store.get_manifest(&id) {
            Ok(m) if m.status == ManifestStatus::Pending => {
                self.manifest_waiters.entry(id).or_default().push(responder);
            }
            found => self.respond(
                responder,
                found.map_err(Error::from).and_then(|m| to_json(&m)),
            ),
        }
    }
}

/// Checks the mappings of `createManifest` (every mapped path must exist now, every
/// destination path must stay inside the transfer's destination) and turns them into the
/// traversal plan.
fn plan(caller: &Caller, p: &CreateManifest, symlinks: SymlinkPolicy) -> Result<Vec<Mapping>> {
    let walk_opts = |include: &Option<Vec<String>>, exclude: &Option<Vec<String>>| WalkOptions {
        symlinks,
        include: include.clone().unwrap_or_default(),
        exclude: exclude.clone().unwrap_or_default(),
    };
    let mut plan = Vec::new();
    for (source, dest) in p.file_mappings.iter().flatten() {
        let param = format!("fileMappings[{source:?}]");
        plan.push(Mapping::Walk {
            dest: destination(&param, dest)?,
            source: existing(caller, &param, source)?,
            opts: walk_opts(&None, &None),
        });
    }
    for (dest, source) in p.mappings.iter().flatten() {
        let param = format!("mappings[{dest:?}]");
        let dest = destination(&param, dest)?;
        plan.push(match source {
            Source::Path(path) => Mapping::Walk {
                dest,
                source: existing(caller, &param, path)?,
                opts: walk_opts(&None, &None),
            },
            Source::Entry(entry) if entry.include.is_some() || entry.exclude.is_some() => {
                check_globs(&param, "include", &entry.include)?;
                check_globs(&param, "exclude", &entry.exclude)?;
                Mapping::Walk {
                    dest,
                    source: existing(caller, &param, &entry.src)?,
                    opts: walk_opts(&entry.include, &entry.exclude),
                }
            }
            Source::Entry(entry) => Mapping::Entry(io_free(&param, dest, entry)?),
        });
    }
    if plan.is_empty() {
        return Err(Error::new(
            Code::InvalidArgument,
            "createManifest: mappings or fileMappings must map at least one source",
        ));
    }
    Ok(plan)
}

/// A mapped source path, which must exist now. For a confined caller it must be inside the
/// caller's root once every symbolic link in it is resolved, and the resolved path is what is
/// walked.
fn existing(caller: &Caller, param: &str, path: &str) -> Result<PathBuf> {
    let source = PathBuf::from(path);
    let failed = |e: std::io::Error| {
        let code = if e.kind() == std::io::ErrorKind::NotFound {
            Code::NotFound
        } else {
            Code::Io
        };
        let message = format!("createManifest: {param}: source {path}: {e}");
        Error::new(code, message).with_source(e)
    };
    let Some(root) = &caller.root else {
        std::fs::metadata(&source).map_err(failed)?;
        return Ok(source);
    };
    let real = source.canonicalize().map_err(failed)?;
    if !real.starts_with(root) {
        return Err(Error::new(
            Code::PermissionDenied,
            format!(
                "createManifest: {param}: source {path} is outside {}",
                root.display()
            ),
        ));
    }
    Ok(real)
}

/// A mapped destination path as the receiver sees it: relative to the transfer's destination
/// path (a leading `/` says the same), and never escaping it.
fn destination(param: &str, dest: &str) -> Result<String> {
    check_path(dest.trim_start_matches('/'))
        .map(str::to_owned)
        .map_err(|e| {
            Error::new(
                Code::InvalidArgument,
                format!("createManifest: {param}: {e}"),
            )
        })
}

/// Refuses `include` or `exclude` patterns that do not parse.
fn check_globs(param: &str, field: &str, patterns: &Option<Vec<String>>) -> Result<()> {
    globs(patterns.as_deref().unwrap_or_default())
        .map(drop)
        .map_err(|e| {
            Error::new(
                Code::InvalidArgument,
                format!("createManifest: {param}.{field}: {e}"),
            )
        })
}

/// The entry an I/O-free source describes: with neither `size` nor `flags`, or with
/// `FILETYPE_DIRECTORY`, an empty directory; otherwise a file of `size` bytes.
fn io_free(param: &str, dest: String, entry: &Entry) -> Result<ManifestFile> {
    if dest.is_empty() {
        return Err(Error::new(
            Code::InvalidArgument,
            format!("createManifest: {param}: an entry needs a destination name"),
        ));
    }
    let directory =
        entry.flags == Some(FILETYPE_DIRECTORY) || (entry.flags.is_none() && entry.size.is_none());
    Ok(ManifestFile {
        src_path: entry.src.clone(),
        dest_path: dest,
        file_size: if directory {
            0
        } else {
            entry.size.unwrap_or(0)
        },
        is_empty_dir: directory,
        executable: entry.access.as_deref().is_some_and(|a| a.contains('x')),
        modification_time: None,
    })
}

/// Runs the traversal plan, sending its entries to the actor in batches as they are found;
/// returns the entry count and total size, or the first error's reason.
fn traverse(
    plan: Vec<Mapping>,
    manifest_id: &str,
    tx: &mpsc::UnboundedSender<Msg>,
) -> std::result::Result<(u64, u64), String> {
    let mut batch = Vec::with_capacity(BATCH);
    let (mut count, mut size) = (0u64, 0u64);
    let mut add = |file: ManifestFile| {
        count += 1;
        size += file.file_size;
        batch.push(file);
        if batch.len() == BATCH {
            let files = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
            let manifest_id = manifest_id.to_owned();
            let _ = tx.send(Msg::Entries { manifest_id, files });
        }
    };
    for mapping in plan {
        match mapping {
            Mapping::Walk { dest, source, opts } => {
                walk_each(&[(dest, source)], &opts, &mut |entry| {
                    add(ManifestFile::from(&entry));
                })
                .map_err(|e| e.to_string())?;
            }
            Mapping::Entry(file) => add(file),
        }
    }
    let manifest_id = manifest_id.to_owned();
    let _ = tx.send(Msg::Entries {
        manifest_id,
        files: batch,
    });
    Ok((count, size))
}
