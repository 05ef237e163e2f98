/**
 * How the interfaces reach the engine: a {@link CommandTransport} runs one command, and
 * {@link CommandInterface} (the base of every interface class) shapes a call into a command,
 * sends it and turns whatever fails into a `CommandError`.
 *
 * @module
 */

import { toCommandError } from '../errors.js';
import { toParams } from './args.js';
import type { MethodSpec } from './methods.js';

/** Runs one command of the engine: a method name and its parameters by documented name. */
export interface CommandTransport {
  /**
   * Runs `method` with `params` and resolves to its JSON result; rejects with an error whose
   * `code` is one of the stable error codes.
   */
  execute(method: string, params: Record<string, unknown>): Promise<unknown>;
}

/**
 * A transport over a JSON call such as the native addon's `execute(request)`: the request is
 * `{"method": ..., "params": {...}}` and the response is the JSON result.
 */
export function jsonTransport(execute: (request: string) => Promise<string>): CommandTransport {
  return {
    async execute(method, params) {
      const response = await execute(JSON.stringify({ method, params }));
      return JSON.parse(response) as unknown;
    },
  };
}

/** The base of the interface classes: runs the methods of one method table. */
export abstract class CommandInterface<Method extends string> {
  readonly #transport: CommandTransport;
  readonly #methods: Readonly<Record<Method, MethodSpec>>;

  /**
   * @param transport where commands are run
   * @param methods the method table of this interface
   */
  protected constructor(
    transport: CommandTransport,
    methods: Readonly<Record<Method, MethodSpec>>,
  ) {
    this.#transport = transport;
    this.#methods = methods;
  }

  /**
   * Runs `method` with the arguments of a call. A badly shaped call rejects with
   * `INVALID_ARGUMENT` before anything is sent; every failure of the transport rejects as a
   * `CommandError` with the original error as `cause`.
   */
  protected async call(method: Method, args: readonly unknown[]): Promise<unknown> {
    const params = toParams(method, this.#methods[method], args);
    try {
      return await this.#transport.execute(method, params);
    } catch (error) {
      throw toCommandError(error);
    }
  }
}
