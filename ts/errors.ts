/**
 * The error every API call rejects with: `CommandError`, carrying a stable `code`, and the
 * conversion of errors raised by the native binding into it.
 *
 * Tests and callers branch on `code`, never on message text.
 *
 * @module
 */

/** Every stable error code, as the engine reports them. */
export const ERROR_CODES = [
  'NOT_FOUND',
  'INVALID_ARGUMENT',
  'INVALID_STATE',
  'ALREADY_EXISTS',
  'AUTH_FAILED',
  'PERMISSION_DENIED',
  'TIMED_OUT',
  'IO',
  'PROTOCOL',
  'UNAVAILABLE',
  'INTERNAL',
] as const;

/** A stable error code: one of {@link ERROR_CODES}. */
export type ErrorCode = (typeof ERROR_CODES)[number];

/** Whether `value` is one of the stable error codes. */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (ERROR_CODES as readonly string[]).includes(value);
}

/** The error of a failed command: a stable `code`, a message saying what and why, and a cause. */
export class CommandError extends Error {
  /** The stable code of the failure. */
  readonly code: ErrorCode;

  /**
   * @param code the stable code of the failure
   * @param message what failed and why
   * @param options `cause`: the underlying error, typically the native one
   */
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CommandError';
    this.code = code;
  }
}

/**
 * Codes that napi-rs itself gives to errors it raises before the engine runs (argument
 * conversion and runtime state); everything else it raises is an internal failure.
 */
const NAPI_STATUS_CODES: ReadonlyMap<string, ErrorCode> = new Map([
  ['InvalidArg', 'INVALID_ARGUMENT'],
  ['ObjectExpected', 'INVALID_ARGUMENT'],
  ['StringExpected', 'INVALID_ARGUMENT'],
  ['NameExpected', 'INVALID_ARGUMENT'],
  ['FunctionExpected', 'INVALID_ARGUMENT'],
  ['NumberExpected', 'INVALID_ARGUMENT'],
  ['BooleanExpected', 'INVALID_ARGUMENT'],
  ['ArrayExpected', 'INVALID_ARGUMENT'],
  ['BigintExpected', 'INVALID_ARGUMENT'],
  ['DateExpected', 'INVALID_ARGUMENT'],
  ['ArrayBufferExpected', 'INVALID_ARGUMENT'],
  ['Closing', 'UNAVAILABLE'],
]);

/**
 * Turns anything a native call threw into a `CommandError`, keeping the original as `cause`.
 *
 * The code is the error's `code` property: the engine's code, which the binding sets on every
 * engine error (whose message is then the engine's message alone), or else a napi-rs status
 * for errors napi-rs raises itself; anything unrecognised becomes `INTERNAL`. The message is
 * kept as it is. A `CommandError` is returned unchanged.
 */
export function toCommandError(error: unknown): CommandError {
  if (error instanceof CommandError) {
    return error;
  }
  const message = error instanceof Error ? error.message : String(error);
  const code: unknown = error instanceof Error ? (error as { code?: unknown }).code : undefined;
  if (isErrorCode(code)) {
    return new CommandError(code, message, { cause: error });
  }
  const mapped = typeof code === 'string' ? NAPI_STATUS_CODES.get(code) : undefined;
  return new CommandError(mapped ?? 'INTERNAL', message, { cause: error });
}

/** Runs a synchronous native call and rethrows whatever it throws as a `CommandError`. */
export function callNative<T>(call: () => T): T {
  try {
    return call();
  } catch (error) {
    throw toCommandError(error);
  }
}
