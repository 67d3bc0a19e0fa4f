import type { CommandParameter, CommandTemplate, Value } from './hub-api';

// The hub's rules for command parameters (hub/templates.py coerce and CommandParameter.check,
// hub/commands.py validate), so that the form refuses what the hub would refuse, with the same reasons.

export interface Checked {
  /** The parameters to send, converted to their types; absent optional ones are left to the hub's defaults. */
  parameters: Record<string, Value>;
  /** Each refused parameter and why; empty when the command can be sent. */
  problems: Record<string, string>;
}

/** Check `given` (JSON values) against the template: unknown, missing, mistyped and out-of-range ones. */
export function validateCommand(template: CommandTemplate, given: Record<string, unknown>): Checked {
  const known = new Map(template.parameters.map((parameter) => [parameter.name, parameter]));
  const problems: Record<string, string> = {};
  const parameters: Record<string, Value> = {};
  for (const name of Object.keys(given)) {
    if (!known.has(name)) {
      problems[name] = 'unknown parameter';
    }
  }
  for (const [name, parameter] of known) {
    if (name in given) {
      try {
        parameters[name] = checkParameter(parameter, given[name]);
      } catch (error) {
        problems[name] = (error as Error).message;
      }
    } else if (parameter.required) {
      problems[name] = 'required parameter is missing';
    }
  }
  return { parameters, problems };
}

/** The value as the parameter's type, or an Error saying why the hub would refuse it. */
export function checkParameter(parameter: CommandParameter, value: unknown): Value {
  switch (parameter.type) {
    case 'bool':
      if (typeof value !== 'boolean') {
        throw new Error(`expected a boolean, got ${describe(value)}`);
      }
      return value;
    case 'float':
    case 'int': {
      if (typeof value !== 'number') {
        throw new Error(`expected ${parameter.type === 'int' ? 'an integer' : 'a number'}, got ${describe(value)}`);
      }
      if (!Number.isFinite(value)) {
        throw new Error(`expected a finite number, got ${value}`);
      }
      if (parameter.type === 'int' && !Number.isInteger(value)) {
        throw new Error(`expected an integer, got ${value}`);
      }
      if (parameter.min != null && value < parameter.min) {
        throw new Error(`${value} is below the minimum ${parameter.min}`);
      }
      if (parameter.max != null && value > parameter.max) {
        throw new Error(`${value} is above the maximum ${parameter.max}`);
      }
      return value;
    }
    case 'string':
    case 'enum':
      if (typeof value !== 'string') {
        throw new Error(`expected a string, got ${describe(value)}`);
      }
      if (parameter.type === 'enum' && parameter.values && !parameter.values.includes(value)) {
        throw new Error(`'${value}' is not one of [${parameter.values.map((v) => `'${v}'`).join(', ')}]`);
      }
      return value;
  }
}

/**
 * What a form field holds, as the JSON value to send: numbers parsed (text that is not a number stays text,
 * so the check names it), booleans from 'true'/'false', and an empty field left out.
 */
export function fromField(parameter: CommandParameter, text: string): unknown {
  if (text === '') {
    return undefined;
  }
  switch (parameter.type) {
    case 'float':
    case 'int': {
      const number = text.trim() === '' ? NaN : Number(text);
      return Number.isNaN(number) ? text : number;
    }
    case 'bool':
      return text === 'true' ? true : text === 'false' ? false : text;
    default:
      return text;
  }
}

/** The form field's starting text: the default, if there is one. */
export function initialField(parameter: CommandParameter): string {
  return parameter.default == null ? '' : String(parameter.default);
}

function describe(value: unknown): string {
  const text = typeof value === 'string' ? `'${value}'` : JSON.stringify(value) ?? String(value);
  const type = value === null ? 'NoneType' : typeof value === 'string' ? 'str' : typeof value;
  return `${type} ${text.length > 40 ? `${text.slice(0, 40)}...` : text}`;
}
