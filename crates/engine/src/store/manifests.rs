//! Manifests: the file lists transfers are made from, their traversal status and their entries
//! (appended in batches, read back in insertion order).

use super::user_data::{self, UserData};
use super::{
    delete, get, query, sql_limit, update, Columns, Page, Record, Result, Store, StoreError, Table,
    Window,
};
use rusqlite::{params, Connection as Db, OptionalExtension, Row};
use serde::Serialize;

text_enum! {
    /// How far the traversal of a manifest has come.
    ManifestStatus {
        /// Still collecting entries.
        Pending => "pending",
        /// Every entry is in.
        Complete => "complete",
        /// The traversal failed; see the error message.
        Error => "error",
    }
}

/// A manifest as the API returns it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// 32 hex digits.
    pub manifest_id: String,
    /// Traversal status.
    pub status: ManifestStatus,
    /// True while the status is pending.
    pub processing: bool,
    /// Why the traversal failed, if it did.
    pub error_message: Option<String>,
    /// Number of entries (set when the traversal completes).
    pub total_files: u64,
    /// Total bytes (set when the traversal completes).
    pub total_size: u64,
    /// `SYMLINKS_*` option.
    pub symlink_options: u32,
    /// Creation time (Unix µs).
    pub creation_time: i64,
    /// User data.
    pub user_data: UserData,
}

/// One entry of a manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestFile {
    /// Path at the sender.
    pub src_path: String,
    /// Path at the receiver, relative to the transfer's destination path.
    pub dest_path: String,
    /// Size in bytes (0 for a directory).
    pub file_size: u64,
    /// The entry is an empty directory.
    pub is_empty_dir: bool,
    /// The file is executable.
    pub executable: bool,
    /// Modification time (Unix µs), if known.
    pub modification_time: Option<i64>,
}

/// A manifest's entries as `getManifestFiles` returns them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestFiles {
    /// The manifest.
    pub manifest_id: String,
    /// Its entries in insertion order.
    pub file_mappings: Vec<ManifestFile>,
}

impl Record for Manifest {
    const TABLE: Table = Table {
        name: "manifests",
        key: "id",
        what: "manifest",
        param: "manifestId",
    };
    const SELECT: &'static str = "SELECT * FROM manifests";

    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        let c = Columns::of(row);
        let status: ManifestStatus = c.get("status")?;
        Ok(Manifest {
            manifest_id: c.get("id")?,
            status,
            processing: status == ManifestStatus::Pending,
            error_message: c.get("error_message")?,
            total_files: c.get("total_files")?,
            total_size: c.get("total_size")?,
            symlink_options: c.get("symlink_options")?,
            creation_time: c.get("creation_time")?,
            user_data: UserData::new(),
        })
    }

    fn attach(&mut self, db: &Db) -> Result<()> {
        self.user_data = user_data::load(db, user_data::MANIFEST, &self.manifest_id)?;
        Ok(())
    }
}

/// The creation-order number of manifest `id`.
fn seq(db: &Db, id: &str) -> Result<i64> {
    db.prepare_cached("SELECT seq FROM manifests WHERE id = ?1")?
        .query_row([id], |row| row.get(0))
        .optional()?
        .ok_or_else(|| StoreError::missing(&Manifest::TABLE, id))
}

impl Store {
    /// Adds an empty manifest with a new random id, status pending.
    pub fn insert_manifest(&mut self, symlink_options: u32, now: i64) -> Result<Manifest> {
        let id = self.random_id()?;
        self.db
            .prepare_cached(
                "INSERT INTO manifests (id, status, symlink_options, creation_time)
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![id, ManifestStatus::Pending, symlink_options, now])?;
        self.get_manifest(&id)
    }

    /// Appends `files` after the entries manifest `id` already has, in one transaction.
    pub fn append_manifest_files(&mut self, id: &str, files: &[ManifestFile]) -> Result<()> {
        let tx = self.db.transaction()?;
        let manifest = seq(&tx, id)?;
        let next: i64 = tx
            .prepare_cached(
                "SELECT COALESCE(MAX(idx) + 1, 0) FROM manifest_files WHERE manifest = ?1",
            )?
            .query_row([manifest], |row| row.get(0))?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO manifest_files (manifest, idx, src_path, dest_path, file_size,
                     is_empty_dir, executable, modification_time)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            for (idx, file) in (next..).zip(files) {
                insert.execute(params![
                    manifest,
                    idx,
                    file.src_path,
                    file.dest_path,
                    file.file_size,
                    file.is_empty_dir,
                    file.executable,
                    file.modification_time,
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Marks manifest `id` complete with its totals.
    pub fn complete_manifest(&mut self, id: &str, total_files: u64, total_size: u64) -> Result<()> {
        update(
            &self.db,
            &Manifest::TABLE,
            id,
            &[
                ("status", &ManifestStatus::Complete),
                ("error_message", &None::<String>),
                ("total_files", &total_files),
                ("total_size", &total_size),
            ],
        )
    }

    /// Marks manifest `id` failed with `message`.
    pub fn fail_manifest(&mut self, id: &str, message: &str) -> Result<()> {
        update(
            &self.db,
            &Manifest::TABLE,
            id,
            &[
                ("status", &ManifestStatus::Error),
                ("error_message", &message),
            ],
        )
    }

    /// The manifest `id`.
    pub fn get_manifest(&self, id: &str) -> Result<Manifest> {
        get(&self.db, id)
    }

    /// Manifests in creation order within `page`; a `before` or `after` id that names no
    /// manifest is `NotFound`.
    pub fn list_manifests(&self, page: &Page<&str>) -> Result<Vec<Manifest>> {
        let bound = |param, id: Option<&str>| {
            id.map(|id| seq(&self.db, id).map_err(|e| e.for_param(param)))
                .transpose()
        };
        let window = Window::new(
            bound("after", page.after)?,
            bound("before", page.before)?,
            page.limit,
        );
        let tail = format!("WHERE {}", window.clause("seq", 1));
        Ok(window.finish(query(&self.db, &tail, window.params())?))
    }

    /// The first `limit` entries of manifest `id` (all with `None`), in insertion order.
    pub fn manifest_files(&self, id: &str, limit: Option<usize>) -> Result<ManifestFiles> {
        let manifest = seq(&self.db, id)?;
        let mut stmt = self.db.prepare_cached(
            "SELECT src_path, dest_path, file_size, is_empty_dir, executable, modification_time
             FROM manifest_files WHERE manifest = ?1 ORDER BY idx LIMIT ?2",
        )?;
        let file_mappings = stmt
            .query_map(params![manifest, sql_limit(limit)], |row| {
                Ok(ManifestFile {
                    src_path: row.get(0)?,
                    dest_path: row.get(1)?,
                    file_size: row.get(2)?,
                    is_empty_dir: row.get(3)?,
                    executable: row.get(4)?,
                    modification_time: row.get(5)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(ManifestFiles {
            manifest_id: id.to_owned(),
            file_mappings,
        })
    }

    /// Deletes manifest `id` with its entries, tokens and user data. Transfers made from it
    /// are kept.
    pub fn delete_manifest(&mut self, id: &str) -> Result<()> {
        delete(&self.db, &Manifest::TABLE, id)
    }
}
