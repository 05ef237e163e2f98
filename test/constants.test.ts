import { describe, expect, it } from 'vitest';

import { constants } from '../ts/index.js';

// The constants table of the API contract, written out independently of ts/constants.ts.
const API_TABLE: Record<string, number | string> = {
  DEFAULT_API_PORT: 8886,
  DEFAULT_SERVER_ADDRESS: 'localhost',
  DEFAULT_TIMEOUT_SECONDS: 10,
  FILETYPE_DIRECTORY: 2,
  FILETYPE_REGULAR_FILE: 4,
  MIN_CIPHER_NONE: 0,
  MIN_CIPHER_UNENCRYPTED: 1,
  MIN_CIPHER_ENCRYPTED_128: 2,
  MIN_CIPHER_ENCRYPTED_256: 3,
  OVERWRITE_IN_PLACE_NEVER: 0,
  OVERWRITE_IN_PLACE_ALWAYS: 1,
  OVERWRITE_IN_PLACE_SAME_SIZE: 2,
  OVERWRITE_NEVER: 3,
  OVERWRITE_ALWAYS: 4,
  OVERWRITE_BACKUP: 5,
  RATE_CONTROL_FILL: 0,
  RATE_CONTROL_FAIR: 1,
  SYMLINKS_COPY_CONTENTS: 0,
  SYMLINKS_IGNORE_FILES: 1,
  SYMLINKS_IGNORE_DIRECTORIES: 2,
  SYMLINKS_IGNORE: 3,
  SYMLINKS_PRESERVE: 4,
  TRANSFER_FLAG_NONE: 0,
  TRANSFER_FLAG_READ: 1,
  TRANSFER_FLAG_WRITE: 2,
  TRANSFER_FLAG_DEFAULT: 3,
  TRANSFER_FLAG_WRITE_MTIME: 4,
  TRANSFER_FLAG_WRITE_ONLY_NEWER: 8,
  // Ours: which files a receiver keeps as they are (createTransfer's skipMode).
  SKIP_NONE: 0,
  SKIP_SAME_SIZE_AND_TIME: 1,
  SKIP_SAME_CHECKSUM: 2,
  SKIP_EXISTING: 3,
};

describe('constants', () => {
  it('are exactly the names and values of the API table', () => {
    expect({ ...constants }).toStrictEqual(API_TABLE);
  });

  it('compose the default transfer flags from READ and WRITE', () => {
    expect(constants.TRANSFER_FLAG_DEFAULT).toBe(
      constants.TRANSFER_FLAG_READ | constants.TRANSFER_FLAG_WRITE,
    );
  });
});
