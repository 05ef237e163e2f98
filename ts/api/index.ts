/**
 * The typed surface of the API: the interface classes, the transport they run commands
 * through, the structures and the option types. The method table and the calling convention
 * stay internal.
 *
 * @module
 */

export { RecvInterface } from './recv.js';
export { SendInterface } from './send.js';
export { ServerInterface } from './server.js';
export { jsonTransport } from './transport.js';
export type { CommandTransport } from './transport.js';
export type * from './options.js';
export type * from './types.js';
