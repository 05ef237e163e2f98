/**
 * The calling convention: turns the arguments of a JavaScript call into the `params` object
 * of a command, checking only the shape of the call (how many arguments, which names). The
 * types and ranges of values are the engine's to check, once for every client.
 *
 * @module
 */

import { CommandError } from '../errors.js';
import { OBJECT_PARAMETERS, type MethodSpec } from './methods.js';

/** Whether `value` is a plain object (an object literal or parsed JSON), not an array or class. */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) {
    return false;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** The `INVALID_ARGUMENT` error of a badly shaped call to `method`. */
function shapeError(method: string, message: string): CommandError {
  return new CommandError('INVALID_ARGUMENT', `${method}: ${message}`);
}

/**
 * Maps the arguments of a call to `method` onto its documented parameter names.
 *
 * Required parameters come first, positionally. Optional ones follow positionally in
 * documented order, and/or as one trailing plain object whose keys are all optional-parameter
 * names (the named form). A trailing plain object with another key is the value of the
 * parameter it lands on when that parameter takes objects (a structure, a mapping) and it
 * holds no other option name; otherwise the call is refused. `undefined` optionals, positional or named, are left out.
 *
 * @throws CommandError `INVALID_ARGUMENT` naming the parameter: a required one missing, an
 *   unknown option name (also to a method that takes no options), a parameter given both
 *   positionally and by name, or too many arguments.
 */
export function toParams(
  method: string,
  spec: MethodSpec,
  args: readonly unknown[],
): Record<string, unknown> {
  const params: Record<string, unknown> = {};
  spec.required.forEach((name, index) => {
    const value = args[index];
    if (value === undefined) {
      throw shapeError(method, `missing required parameter '${name}'`);
    }
    params[name] = value;
  });

  const rest = args.slice(spec.required.length);
  const named = takeNamed(method, spec, rest);
  if (rest.length > spec.optional.length) {
    const all = [...spec.required, ...spec.optional];
    throw shapeError(
      method,
      `too many arguments: ${args.length} given, at most ${all.length} accepted ` +
        `(${all.join(', ') || 'none'})`,
    );
  }
  rest.forEach((value, index) => {
    const name = spec.optional[index];
    if (name !== undefined && value !== undefined) {
      params[name] = value;
    }
  });
  for (const [name, value] of Object.entries(named)) {
    if (value === undefined) {
      continue;
    }
    if (name in params) {
      throw shapeError(method, `parameter '${name}' given both positionally and by name`);
    }
    params[name] = value;
  }
  return params;
}

/**
 * Removes the named-form object from the end of `rest` and returns it, or returns `{}` when the
 * call has no named form.
 */
function takeNamed(method: string, spec: MethodSpec, rest: unknown[]): Record<string, unknown> {
  const last = rest.at(-1);
  if (!isPlainObject(last)) {
    return {};
  }
  const unknown = Object.keys(last).find((key) => !spec.optional.includes(key));
  if (unknown === undefined) {
    if (spec.optional.length === 0) {
      return {};
    }
    rest.pop();
    return last;
  }
  // An object landing on a parameter that takes objects is that parameter's value, unless it
  // also holds other option names: then it is the named form with a misspelt option.
  const slot = spec.optional[rest.length - 1];
  const named = Object.keys(last).some((key) => key !== slot && spec.optional.includes(key));
  if (slot !== undefined && OBJECT_PARAMETERS.has(slot) && !named) {
    return {};
  }
  const why = spec.required.includes(unknown) ? 'is required, give it positionally' : 'is unknown';
  const options =
    spec.optional.length === 0 ? `${method} takes no options` : `options: ${spec.optional.join(', ')}`;
  throw shapeError(method, `option '${unknown}' ${why} (${options})`);
}
