/**
 * Request tracking: `getRequestStatus` and `getRequestResult`, shared by the interfaces whose
 * `*Async` methods queue requests on the server.
 *
 * @module
 */

import type { RequestMethod } from './methods.js';
import type { GetRequestResultOptions } from './options.js';
import { CommandInterface } from './transport.js';
import type { IdOr, Request, RequestStatus } from './types.js';

/** An interface whose method table includes request tracking. */
export abstract class RequestTracking<Method extends string> extends CommandInterface<
  Method | RequestMethod
> {
  /**
   * Resolves at once with where an asynchronous request stands.
   *
   * @param requestId the request, by id or structure
   */
  getRequestStatus(requestId: IdOr<Request>): Promise<RequestStatus>;
  getRequestStatus(...args: unknown[]): Promise<unknown> {
    return this.call('getRequestStatus', args);
  }

  /**
   * Waits for an asynchronous request to end and resolves with its command's result, or
   * rejects with the request's `CommandError`.
   *
   * @param requestId the request, by id or structure
   * @param options `timeoutSeconds`: give up waiting after this long
   */
  getRequestResult<T = unknown>(
    requestId: IdOr<Request>,
    options?: GetRequestResultOptions,
  ): Promise<T>;
  /** The same, with the optional parameters positionally in documented order. */
  getRequestResult<T = unknown>(requestId: IdOr<Request>, timeoutSeconds?: number): Promise<T>;
  getRequestResult(...args: unknown[]): Promise<unknown> {
    return this.call('getRequestResult', args);
  }
}
