/**
 * The bearer credentials of a client: the API token it was given, or the session token of the
 * user or shared token it authenticated as. It signs in before the first command when it holds
 * a user's password, keeps the session of a successful `auth` or `authToken` call, and signs
 * in again (as a user), once per
 * command, when the server refuses an expired session.
 *
 * @module
 */

import { CommandError } from '../errors.js';
import type { Credentials } from './options.js';

/** Sends one command with the given bearer token (none: `undefined`). */
export type Post = (
  method: string,
  params: Record<string, unknown>,
  bearer: string | undefined,
) => Promise<unknown>;

/** The methods that authenticate, and so are sent whatever the session holds. */
const AUTH_METHODS: ReadonlySet<string> = new Set(['auth', 'authAsync', 'authToken']);

/** A user name and password to sign in with. */
interface User {
  userName: string;
  password: string;
}

/** The session token out of an `auth` result, or a `PROTOCOL` error when there is none. */
function sessionToken(result: unknown): string {
  const token = (result as { sessionToken?: unknown } | null)?.sessionToken;
  if (typeof token !== 'string' || token.length === 0) {
    throw new CommandError('PROTOCOL', 'the server answered auth without a sessionToken');
  }
  return token;
}

/** Who a client calls as, and the token it sends. */
export class Session {
  readonly #post: Post;
  /** The token sent with every command; `undefined` until there is one. */
  #bearer: string | undefined;
  /** The user whose session `#bearer` is, kept to sign in again; none for an API token. */
  #user: User | undefined;
  /** A sign-in under way, which concurrent commands wait for instead of starting their own. */
  #signingIn: Promise<void> | undefined;

  /**
   * @param credentials who to call as: an API token, a user to sign in as, or nobody
   * @param post sends one command
   */
  constructor(credentials: Credentials, post: Post) {
    this.#post = post;
    if (credentials.kind === 'token') {
      this.#bearer = credentials.token;
    } else if (credentials.kind === 'user') {
      this.#user = { userName: credentials.userName, password: credentials.password };
    }
  }

  /** Whether the client holds no credentials: no token, and no user to sign in as. */
  get anonymous(): boolean {
    return this.#bearer === undefined && this.#user === undefined;
  }

  /**
   * Runs one command with the current token. A successful `auth` makes its user and session
   * the client's own. A command refused with `AUTH_FAILED` while it carried a session of the
   * stored user is sent once more after signing in again.
   */
  async run(method: string, params: Record<string, unknown>): Promise<unknown> {
    if (AUTH_METHODS.has(method)) {
      const result = await this.#post(method, params, this.#bearer);
      if (method === 'auth' || method === 'authToken') {
        this.#adopt(params, result);
      }
      return result;
    }
    if (this.#user !== undefined && this.#bearer === undefined) {
      await this.#signIn();
    }
    const sent = this.#bearer;
    try {
      return await this.#post(method, params, sent);
    } catch (error) {
      const expired =
        error instanceof CommandError &&
        error.code === 'AUTH_FAILED' &&
        this.#user !== undefined &&
        sent !== undefined;
      if (!expired) {
        throw error;
      }
      // Another command may have signed in again meanwhile: its session is the new one.
      if (this.#bearer === sent) {
        await this.#signIn();
      }
      return this.#post(method, params, this.#bearer);
    }
  }

  /**
   * Keeps the session token of a successful `auth` or `authToken`, and the user of an `auth`
   * (a token's session is not signed in again: the token may be used up).
   */
  #adopt(params: Record<string, unknown>, result: unknown): void {
    const { userName, password } = params;
    const token = sessionToken(result);
    this.#bearer = token;
    this.#user =
      typeof userName === 'string' && typeof password === 'string'
        ? { userName, password }
        : undefined;
  }

  /** Signs the stored user in, once for all commands waiting on it. */
  #signIn(): Promise<void> {
    const user = this.#user;
    if (user === undefined) {
      return Promise.resolve();
    }
    this.#signingIn ??= this.#post('auth', { ...user }, undefined)
      .then((result) => {
        this.#bearer = sessionToken(result);
      })
      .finally(() => {
        this.#signingIn = undefined;
      });
    return this.#signingIn;
  }
}
