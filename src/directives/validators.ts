import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => void;
const MAX_ENTRIES = 5000;

function newAjv(): Ajv2020 {
  // useDefaults fills `default:` values into the payload; no type coercion.
  const ajv = new Ajv2020({ useDefaults: true, allErrors: true, strict: false, coerceTypes: false });
  addFormats(ajv);
  return ajv;
}

let ajv = newAjv();
let cache = new Map<string, ValidateFunction>();

/**
 * Compiles a params schema to an ajv validator. Validators are pure functions
 * of their schema, so a reload reuses the ones whose schema did not change
 * (ajv's code generation is the slowest step of compiling a route).
 * Throws ajv's error for an invalid schema.
 */
export function compileValidator(schema: object | boolean): ValidateFunction {
  const key = JSON.stringify(schema);
  let fn = cache.get(key);
  if (!fn) {
    if (cache.size >= MAX_ENTRIES) {
      ajv = newAjv();
      cache = new Map();
    }
    // ajv keeps the schema object: give it a copy nobody else mutates.
    fn = ajv.compile(JSON.parse(key) as object);
    cache.set(key, fn);
  }
  return fn;
}
