/**
 * The public constants of the jetstream API: ports, manifest entry flags, cipher levels,
 * overwrite modes, symlink policies, transfer flags and rate-control methods. The values are part of the wire and
 * command contract and never change once shipped.
 *
 * @module
 */

/** TCP control port of a `jetstream server`; UDP on the same number is the default receive port. */
export const DEFAULT_API_PORT = 8886;
/** Host name a client connects to when none is given. */
export const DEFAULT_SERVER_ADDRESS = 'localhost';
/** Connect timeout, in seconds. */
export const DEFAULT_TIMEOUT_SECONDS = 10;

/** Manifest entry flag: the entry is a directory. */
export const FILETYPE_DIRECTORY = 2;
/** Manifest entry flag: the entry is a regular file. */
export const FILETYPE_REGULAR_FILE = 4;

/** Cipher level: no protection at all. */
export const MIN_CIPHER_NONE = 0;
/** Cipher level: authenticated (GCM tag over plaintext), not secret. */
export const MIN_CIPHER_UNENCRYPTED = 1;
/** Cipher level: AES-128-GCM. */
export const MIN_CIPHER_ENCRYPTED_128 = 2;
/** Cipher level: AES-256-GCM. */
export const MIN_CIPHER_ENCRYPTED_256 = 3;

/** Write directly to the target name; never replace an existing file. */
export const OVERWRITE_IN_PLACE_NEVER = 0;
/** Write directly to the target name; always replace an existing file. */
export const OVERWRITE_IN_PLACE_ALWAYS = 1;
/**
 * Write directly to the target name; replace an existing file only when sizes match. A target
 * of another size is refused and kept (the transfer fails naming it); a new target is written
 * to a part file and renamed at the end.
 */
export const OVERWRITE_IN_PLACE_SAME_SIZE = 2;
/**
 * Write to a part file and rename at the end; never replace an existing file. A target that
 * appears while its file is received is kept, and so is the part file (`NAME.jetpart`, holding
 * what was received): the vendor's page documents no part-file behaviour for this mode, and
 * keeping it loses nothing that arrived.
 */
export const OVERWRITE_NEVER = 3;
/** Write to a part file and rename at the end; always replace an existing file. */
export const OVERWRITE_ALWAYS = 4;
/** Write to a part file and rename at the end, keeping the old file as `NAME.jetbak`. */
export const OVERWRITE_BACKUP = 5;

/** Follow symbolic links and copy what they point to (the default). */
export const SYMLINKS_COPY_CONTENTS = 0;
/** Skip symbolic links to files. */
export const SYMLINKS_IGNORE_FILES = 1;
/** Skip symbolic links to directories. */
export const SYMLINKS_IGNORE_DIRECTORIES = 2;
/** Skip every symbolic link. */
export const SYMLINKS_IGNORE = 3;
/**
 * Send each link itself (its target, unresolved). The receiver recreates it only when the
 * target, resolved from the link's place, stays inside the transfer's destination directory:
 * relative, climbing with leading `..` no higher than that directory, never climbing after
 * naming a directory. Any other link is refused with nothing written; the transfer places
 * every other entry and then fails with `PERMISSION_DENIED`, counting and naming the refused
 * links.
 */
export const SYMLINKS_PRESERVE = 4;

/** Neither read the source nor write the destination (a network test). */
export const TRANSFER_FLAG_NONE = 0;
/** Read source files (otherwise generated data of the manifest's sizes is sent). */
export const TRANSFER_FLAG_READ = 1;
/** Write destination files (otherwise the receiver verifies and discards). */
export const TRANSFER_FLAG_WRITE = 2;
/** `TRANSFER_FLAG_READ | TRANSFER_FLAG_WRITE`. */
export const TRANSFER_FLAG_DEFAULT = 3;
/** Set each file's modification time to the source's. */
export const TRANSFER_FLAG_WRITE_MTIME = 4;
/** Skip files whose destination is as new or newer (within `fileTimeResolutionMicroseconds`). */
export const TRANSFER_FLAG_WRITE_ONLY_NEWER = 8;

/**
 * Rate-control method of a connection (`rateControlMethod`): fill the path. Losses without a
 * growing queue are taken as random and never lower the rate; only a queue above the delay
 * target does. The default.
 */
export const RATE_CONTROL_FILL = 0;
/**
 * Rate-control method of a connection (`rateControlMethod`): fair to TCP. Losses that come
 * with any rise in delay are congestion, and the rate drops to 0.7 of what was delivered, as a
 * TCP CUBIC flow on the same queue does; random loss without a rise in delay is still ignored.
 */
export const RATE_CONTROL_FAIR = 1;
/** `skipMode` (ours): send every file. */
export const SKIP_NONE = 0;
/**
 * `skipMode`: keep a receiver's complete file of the source's size and modification time
 * (within `fileTimeResolutionMicroseconds`) as it is, reading and sending none of it. The
 * default.
 */
export const SKIP_SAME_SIZE_AND_TIME = 1;
/** `skipMode`: keep a receiver's file of the source's size and digest (both sides hash it). */
export const SKIP_SAME_CHECKSUM = 2;
/** `skipMode`: keep any existing receiver's file. */
export const SKIP_EXISTING = 3;
