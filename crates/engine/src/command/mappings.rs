//! The file mappings of `createManifest`: `mappings` (destination → source path, or an I/O-free
//! entry describing the source) and the deprecated `fileMappings` (source → destination).

use super::args::{shorten, Args, Int, Kind, NonBlank, StringList};
use super::error::CommandError;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// `FILETYPE_DIRECTORY`: the entry is a directory.
pub const FILETYPE_DIRECTORY: u32 = 2;
/// `FILETYPE_REGULAR_FILE`: the entry is a regular file.
pub const FILETYPE_REGULAR_FILE: u32 = 4;

/// Deprecated `fileMappings`: source path → destination path.
pub type FileMappings = BTreeMap<String, String>;

/// `mappings`: destination path → source.
pub type Mappings = BTreeMap<String, Source>;

/// What a destination path of `mappings` receives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Source {
    /// A source path, traversed by the server (it must exist now).
    Path(String),
    /// A source described by the caller: no traversal, no existence check.
    Entry(Entry),
}

/// An I/O-free mapping entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// Source path (it must exist when the transfer starts).
    pub src: String,
    /// Size in bytes (ignored for a directory).
    pub size: Option<u64>,
    /// [`FILETYPE_DIRECTORY`] or [`FILETYPE_REGULAR_FILE`]; with neither this nor `size` the
    /// entry is an empty directory.
    pub flags: Option<u32>,
    /// Permissions: `""` or `"x"` (executable).
    pub access: Option<String>,
    /// Glob patterns of names to include.
    pub include: Option<Vec<String>>,
    /// Glob patterns of names to exclude.
    pub exclude: Option<Vec<String>>,
}

/// A `FILETYPE_*` value.
struct FileType;

impl Kind for FileType {
    type Out = u32;
    fn expected(&self) -> String {
        format!(
            "FILETYPE_DIRECTORY ({FILETYPE_DIRECTORY}) or FILETYPE_REGULAR_FILE \
             ({FILETYPE_REGULAR_FILE})"
        )
    }
    fn read(&self, value: &Value) -> Option<u32> {
        Int::<u32>::new(0, u32::MAX.into())
            .read(value)
            .filter(|flags| [FILETYPE_DIRECTORY, FILETYPE_REGULAR_FILE].contains(flags))
    }
}

/// An `access` string.
struct Access;

impl Kind for Access {
    type Out = String;
    fn expected(&self) -> String {
        "\"\" or \"x\" (executable)".into()
    }
    fn read(&self, value: &Value) -> Option<String> {
        value
            .as_str()
            .filter(|access| ["", "x"].contains(access))
            .map(str::to_owned)
    }
}

/// Reads the `mappings` parameter `value`.
pub(super) fn read_mappings(args: &Args<'_>, value: &Value) -> Result<Mappings, CommandError> {
    const KEY: &str = "mappings";
    let Some(map) = value.as_object() else {
        return Err(args.invalid(
            KEY,
            "an object mapping destination paths to sources".into(),
            value,
        ));
    };
    map.iter()
        .map(|(dest, source)| {
            let at = format!(
                "{KEY}[{}]",
                shorten(&Value::from(dest.as_str()).to_string())
            );
            if dest.is_empty() {
                return Err(args.invalid(
                    &at,
                    "keyed by a non-empty destination path".into(),
                    source,
                ));
            }
            let source = match source {
                Value::String(path) if !path.is_empty() => Source::Path(path.clone()),
                Value::Object(fields) => {
                    let mut entry = Args::nested(args.method(), args.name(&at) + ".", fields);
                    let read = Entry {
                        src: entry.req("src", &NonBlank)?,
                        size: entry.opt("size", &Int::new(0, u64::MAX.into()))?,
                        flags: entry.opt("flags", &FileType)?,
                        access: entry.opt("access", &Access)?,
                        include: entry.opt("include", &StringList)?,
                        exclude: entry.opt("exclude", &StringList)?,
                    };
                    entry.finish()?;
                    Source::Entry(read)
                }
                other => {
                    return Err(args.invalid(
                        &at,
                        "a non-empty source path or an object with src, size, flags, access, \
                         include and exclude"
                            .into(),
                        other,
                    ))
                }
            };
            Ok((dest.clone(), source))
        })
        .collect()
}
