import { describe, expect, it } from 'vitest';

import { CommandError, ERROR_CODES, isErrorCode, toCommandError } from '../ts/index.js';

/** An error shaped like one the binding throws: a message and a `code` property. */
function nativeError(message: string, code?: string): Error {
  return Object.assign(new Error(message), code === undefined ? {} : { code });
}

describe('CommandError', () => {
  it('is an Error carrying its code, message, name and cause', () => {
    const cause = new Error('disk full');
    const error = new CommandError('IO', 'cannot write /in/a', { cause });
    expect(error).toBeInstanceOf(Error);
    expect(error).toBeInstanceOf(CommandError);
    expect(error.code).toBe('IO');
    expect(error.message).toBe('cannot write /in/a');
    expect(error.name).toBe('CommandError');
    expect(error.cause).toBe(cause);
    expect(String(error)).toBe('CommandError: cannot write /in/a');
  });

  it('has exactly the codes of the API contract', () => {
    expect([...ERROR_CODES].sort()).toStrictEqual(
      [
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
      ].sort(),
    );
    expect(isErrorCode('NOT_FOUND')).toBe(true);
    expect(isErrorCode('not_found')).toBe(false);
    expect(isErrorCode(3)).toBe(false);
  });
});

describe('toCommandError', () => {
  it('takes the code from the native error code property', () => {
    const native = nativeError('destination 7 not found', 'NOT_FOUND');
    const error = toCommandError(native);
    expect(error).toBeInstanceOf(CommandError);
    expect(error.code).toBe('NOT_FOUND');
    expect(error.message).toBe('destination 7 not found');
    expect(error.cause).toBe(native);
  });

  it('never reads a code out of the message: the binding sets code itself', () => {
    const native = nativeError('INVALID_STATE: transfer 3 is active', 'GenericFailure');
    const error = toCommandError(native);
    expect(error.code).toBe('INTERNAL');
    expect(error.message).toBe('INVALID_STATE: transfer 3 is active');
    expect(error.cause).toBe(native);
  });

  it('keeps a message whose prefix is not a known code', () => {
    const error = toCommandError(nativeError('HELLO: world'));
    expect(error.code).toBe('INTERNAL');
    expect(error.message).toBe('HELLO: world');
  });

  it('maps napi argument conversion failures to INVALID_ARGUMENT', () => {
    expect(toCommandError(nativeError('expected a number', 'NumberExpected')).code).toBe(
      'INVALID_ARGUMENT',
    );
    expect(toCommandError(nativeError('bad argument', 'InvalidArg')).code).toBe(
      'INVALID_ARGUMENT',
    );
    expect(toCommandError(nativeError('closing', 'Closing')).code).toBe('UNAVAILABLE');
  });

  it('maps unknown codes, inherited property names and non-errors to INTERNAL', () => {
    expect(toCommandError(nativeError('boom', 'GenericFailure')).code).toBe('INTERNAL');
    expect(toCommandError(nativeError('boom', 'toString')).code).toBe('INTERNAL');
    expect(toCommandError(nativeError('boom')).code).toBe('INTERNAL');
    const fromString = toCommandError('plain string');
    expect(fromString.code).toBe('INTERNAL');
    expect(fromString.message).toBe('plain string');
    expect(fromString.cause).toBe('plain string');
  });

  it('returns a CommandError unchanged', () => {
    const original = new CommandError('TIMED_OUT', 'no answer in 10 s');
    expect(toCommandError(original)).toBe(original);
  });
});
