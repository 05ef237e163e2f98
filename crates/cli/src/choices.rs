//! The named choices of the command line (cipher levels, overwrite modes, rate-control
//! policies) and the API codes they stand for.

use clap::ValueEnum;
use jetstream_engine::flags;
use jetstream_wire::rate::RatePolicy;

/// `--rate-control`: the connection's `rateControlMethod`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RateControl {
    /// Fill the path: random loss never lowers the rate, only a growing queue does.
    Fill,
    /// Fair to TCP: losses that come with a rise in delay lower the rate as TCP CUBIC does.
    Fair,
}

impl RateControl {
    /// The `rateControlMethod` number.
    pub fn code(self) -> u32 {
        match self {
            RateControl::Fill => RatePolicy::Fill.number(),
            RateControl::Fair => RatePolicy::Fair.number(),
        }
    }
}

/// `--cipher`, `--min-cipher`: a `MIN_CIPHER_*` level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Cipher {
    /// No protection.
    None,
    /// Authenticated, not secret.
    Auth,
    /// AES-128-GCM.
    Aes128,
    /// AES-256-GCM.
    Aes256,
}

impl Cipher {
    /// The `MIN_CIPHER_*` level.
    pub fn code(self) -> u8 {
        match self {
            Cipher::None => flags::MIN_CIPHER_NONE,
            Cipher::Auth => flags::MIN_CIPHER_AUTH,
            Cipher::Aes128 => flags::MIN_CIPHER_AES128,
            Cipher::Aes256 => flags::MIN_CIPHER_AES256,
        }
    }
}

/// `--max-overwrite`: the most existing data a sender may destroy, as the most destructive
/// `OVERWRITE_*` mode allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MaxOverwrite {
    /// Existing files are never replaced.
    Never,
    /// Existing files may be replaced, the old one kept as NAME.jetbak.
    Backup,
    /// Existing files may be replaced once the new one is complete.
    Always,
    /// Existing files may be overwritten as data arrives.
    InPlace,
}

impl MaxOverwrite {
    /// The most destructive `OVERWRITE_*` mode allowed.
    pub fn code(self) -> u8 {
        match self {
            MaxOverwrite::Never => flags::OVERWRITE_NEVER,
            MaxOverwrite::Backup => flags::OVERWRITE_BACKUP,
            MaxOverwrite::Always => flags::OVERWRITE_ALWAYS,
            MaxOverwrite::InPlace => flags::OVERWRITE_IN_PLACE_ALWAYS,
        }
    }
}

/// `--overwrite`: an `OVERWRITE_*` mode.
#[derive(Clone, Copy, ValueEnum)]
pub enum Overwrite {
    /// Keep an existing file (the file fails).
    Never,
    /// Replace an existing file once the new one is complete.
    Always,
    /// Like always, keeping the old file as NAME.jetbak.
    Backup,
    /// Write the target directly; keep an existing file.
    InPlaceNever,
    /// Write the target directly, over an existing file.
    InPlaceAlways,
    /// Write the target directly if it has the new size; refuse one of another size.
    InPlaceSameSize,
}

impl Overwrite {
    /// The `OVERWRITE_*` mode.
    pub fn code(self) -> u8 {
        match self {
            Overwrite::Never => flags::OVERWRITE_NEVER,
            Overwrite::Always => flags::OVERWRITE_ALWAYS,
            Overwrite::Backup => flags::OVERWRITE_BACKUP,
            Overwrite::InPlaceNever => flags::OVERWRITE_IN_PLACE_NEVER,
            Overwrite::InPlaceAlways => flags::OVERWRITE_IN_PLACE_ALWAYS,
            Overwrite::InPlaceSameSize => flags::OVERWRITE_IN_PLACE_SAME_SIZE,
        }
    }
}

/// A value's name on the command line.
pub fn arg_name(value: impl ValueEnum) -> String {
    value
        .to_possible_value()
        .expect("no value is skipped")
        .get_name()
        .to_owned()
}

/// A public key given on the command line, checked (and written in lower case).
pub fn public_key(text: &str) -> Result<String, String> {
    jetstream_engine::identity::public_key(text).map_err(|e| e.message)
}
