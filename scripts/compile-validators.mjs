#!/usr/bin/env node
// Compiles the plugin protocol's JSON Schemas (libs/plugin-protocol/schemas.ts) into validator functions, once, at
// build time: ajv's standalone code generation writes libs/plugin-protocol/validators.generated.ts (git-ignored),
// which tsc then compiles with the rest and esbuild bundles into every plugin. `npm run build` runs this first.
//
//   node scripts/compile-validators.mjs           write the file (only when its text changes, so tsc stays incremental)
//   node scripts/compile-validators.mjs --print   print the code's size per schema instead
//
// The compiled functions only say valid or not; libs/plugin-protocol/compiled.ts asks the interpreter (validate.ts)
// to word the problem when they say not, so error texts do not change. For that to hold, a compiled validator must
// never accept what the interpreter refuses. Where ajv's defaults differ from the interpreter they are set to match:
// - string lengths count UTF-16 code units, as the interpreter (and the protocol's limits) do: `unicode: false`;
// - `contentEncoding: base64` is asserted, not an annotation: the keyword is replaced by one that generates the
//   interpreter's isStrictBase64 test inline;
// - `errorMessage` (the interpreter's wording of a failed anyOf/allOf/not) is an annotation here.
// Where ajv is stricter (an object built in code with a property set to undefined: JSON drops it, the interpreter
// ignores it, ajv's additionalProperties and maxProperties count it), the interpreter's answer wins.
//
// Code is shared: each schema that schemas.ts reuses by reference (response, auth, request, lease, ...) is compiled
// once and called, not inlined into every schema that holds it; nothing is imported at run time (the generated file
// is checked for it), so a bundle carries only the functions its side uses.
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv from 'ajv';
import standaloneCode from 'ajv/dist/standalone/index.js';
import { _ as ajvCode, or as ajvOr, not as ajvNot } from 'ajv/dist/compile/codegen/index.js';
import * as esbuild from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const schemasSource = join(root, 'libs', 'plugin-protocol', 'schemas.ts');
const outFile = join(root, 'libs', 'plugin-protocol', 'validators.generated.ts');

// schemas.ts is TypeScript and this runs before tsc: esbuild turns it (and the two modules it imports) into one
// module in memory.
const bundled = await esbuild.build({
  entryPoints: [schemasSource],
  bundle: true,
  write: false,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  logLevel: 'warning',
});
const schemas = await import(`data:text/javascript;base64,${Buffer.from(bundled.outputFiles[0].text).toString('base64')}`);

/** The export name of a schema file name: "storage.get.params" → "storage_get_params". */
const exportName = (name) => name.replace(/[^A-Za-z0-9_$]/g, '_');

// The schemas other schemas hold by reference, by their file name in schemas/.
const shared = new Map([
  [schemas.mountSchema, 'mount'],
  [schemas.requestSchema, 'request'],
  [schemas.responseSchema, 'response'],
  [schemas.authSchema, 'auth'],
  [schemas.secretSchema, 'secret'],
  [schemas.leaseSchema, 'lease'],
  [schemas.authRenewSchema, 'auth-renew'],
  [schemas.rpcErrorSchema, 'rpc-error'],
]);
const named = schemas.allSchemas();
const idOf = (name) => named[name].$id;

/** A copy of `schema` in which every shared schema below the top is a $ref to its compiled function. */
function withRefs(schema, top = true) {
  if (!top && shared.has(schema)) return { $ref: idOf(shared.get(schema)) };
  if (Array.isArray(schema)) return schema.map((item) => withRefs(item, false));
  if (schema === null || typeof schema !== 'object') return schema;
  const out = {};
  for (const [key, value] of Object.entries(schema)) {
    // enum and const hold data, not schemas.
    out[key] = key === 'enum' || key === 'const' ? value : withRefs(value, false);
  }
  return out;
}

// ajv's draft-07 engine, not its 2020-12 one: the 2020 code stamps an `evaluated` property on every function at load
// (for unevaluatedProperties, which the protocol does not use), a side effect that keeps esbuild from dropping the
// validators a bundle never calls. For the keywords the schemas use (KEYWORDS below) the two drafts mean the same;
// `items` is the one-schema-for-all form in both.
const ajv = new Ajv({
  code: { source: true, esm: true, lines: false, optimize: true },
  unicode: false,
  messages: false,
  allErrors: false,
  inlineRefs: false,
  // Strict, except that `required` in a `not` or an `anyOf` branch names properties declared one level up
  // (schemas.ts says "not both auth and raw" that way), and type checks sit beside keywords of other types.
  strict: true,
  strictRequired: false,
  strictTypes: false,
  // `unicode: false` is deprecated in ajv 8 yet honoured (limitLength.js reads it); its warning is not news here.
  logger: { log: console.log, warn: (...args) => args.some((a) => /option unicode/.test(String(a))) || console.warn(...args), error: console.error },
});
ajv.addKeyword({ keyword: 'errorMessage', schemaType: 'string' });
ajv.removeKeyword('contentEncoding');
ajv.addKeyword({
  keyword: 'contentEncoding',
  type: 'string',
  schemaType: 'string',
  code(cxt) {
    if (cxt.schema !== 'base64') throw new Error(`contentEncoding ${JSON.stringify(cxt.schema)} is not supported`);
    // isStrictBase64 in validate.ts: linear, no backtracking (a grouped pattern overflows V8's stack on MiBs).
    cxt.fail(ajvCode`!(${cxt.data}.length % 4 === 0 && /^[A-Za-z0-9+/]*={0,2}$/.test(${cxt.data}))`);
  },
});
// enum: ajv's own keyword puts a copy of the whole schema in the file for its error's allowedValues (about half
// the file's size); errors are worded by the interpreter, so this one compares inline and reports nothing more.
// The protocol's enums hold strings only, compared with ===, as the interpreter's deepEqual does for them.
ajv.removeKeyword('enum');
ajv.addKeyword({
  keyword: 'enum',
  schemaType: 'array',
  code(cxt) {
    if (!cxt.schema.every((value) => typeof value === 'string')) throw new Error('enum: only strings are supported');
    cxt.fail(ajvNot(ajvOr(...cxt.schema.map((value) => ajvCode`${cxt.data} === ${value}`))));
  },
});

const KEYWORDS = new Set(['$schema', '$id', 'title', 'description', 'type', 'enum', 'const', 'properties', 'required', 'additionalProperties',
  'maxProperties', 'items', 'minItems', 'maxItems', 'minLength', 'maxLength', 'pattern', 'minimum', 'maximum', 'anyOf', 'allOf', 'not',
  'contentEncoding', 'errorMessage']);
/** Refuses a keyword outside the set whose meaning was checked to be the same in both drafts and the interpreter. */
function checkKeywords(schema, at) {
  if (Array.isArray(schema)) return schema.forEach((item, i) => checkKeywords(item, `${at}/${i}`));
  for (const [key, value] of Object.entries(schema)) {
    if (!KEYWORDS.has(key)) throw new Error(`compile-validators: ${at}: keyword ${key} is not one this script knows to compile as the interpreter reads it`);
    if (key === 'properties') for (const [name, sub] of Object.entries(value)) checkKeywords(sub, `${at}/properties/${name}`);
    else if (['items', 'not', 'anyOf', 'allOf'].includes(key) || (key === 'additionalProperties' && typeof value === 'object')) checkKeywords(value, `${at}/${key}`);
  }
}

// allSchemas() returns copies with $schema and $id added, so a top level is never itself replaced by a $ref.
for (const [name, schema] of Object.entries(named)) {
  checkKeywords(schema, name);
  const { $schema, ...rest } = withRefs(schema);
  if ($schema !== 'https://json-schema.org/draft/2020-12/schema') throw new Error(`compile-validators: ${name}: unexpected $schema ${$schema}`);
  ajv.addSchema(rest);
}

const mapping = Object.fromEntries(Object.keys(named).map((name) => [exportName(name), idOf(name)]));
// What a failing check records for ajv's error report, which nothing reads (the interpreter words the problem),
// in the three forms ajv writes with allErrors off: a failure that ends the function, one inside an anyOf branch
// (collected, counted), and a failed call to a shared schema's function (its errors appended, counted). Each is cut
// to what decides the verdict (`return false`, or the count), which shrinks the code a bundle carries by a third;
// the agreement tests (libs/plugin-protocol/compiled.test.ts) run the result on valid and invalid cases.
const ERROR_REPORTS = [
  [/validate\d+\.errors = \[\{instancePath[^;]*?\}\];return false;/g, 'return false;'],
  [/const (err\d+) = \{(?:instancePath[^;]*?)?\};if\(vErrors === null\)\{vErrors = \[\1\];\}else \{vErrors\.push\(\1\);\}errors\+\+;/g, 'errors++;'],
  [/vErrors = vErrors === null \? (validate\d+)\.errors : vErrors\.concat\(\1\.errors\);errors = vErrors\.length;/g, 'errors++;'],
];
const full = standaloneCode(ajv, mapping);
const code = ERROR_REPORTS.reduce((text, [pattern, replacement]) => text.replace(pattern, replacement), full);
if (/\.errors = \[\{|vErrors\.push|vErrors\.concat|const err\d+ =/.test(code)) {
  console.error(code.match(/.{200}(?:\.errors = \[\{|vErrors\.push|vErrors\.concat|const err\d+ =).{300}/)?.[0]);
  console.error('compile-validators: an error report of a form this script does not know is left in the code; see ERROR_REPORTS');
  process.exit(1);
}

const loads = code.match(/\brequire\(|^\s*import\s/m);
if (loads) {
  console.error(`compile-validators: the generated code loads a module (${loads[0].trim()}); it must stand alone`);
  process.exit(1);
}

if (process.argv.includes('--print')) {
  console.log(`compile-validators: ${Object.keys(mapping).length} validators, ${(code.length / 1024).toFixed(1)} KiB of code`);
  process.exit(0);
}

const text = [
  '// @ts-nocheck',
  '// GENERATED by scripts/compile-validators.mjs from schemas.ts (ajv standalone code); do not edit, not committed.',
  '// Each export is (value) => boolean for the schema of the same file name in schemas/ ("handle.result" is handle_result).',
  code.replace(/^"use strict";/, ''),
  '',
].join('\n');
const previous = await readFile(outFile, 'utf8').catch(() => '');
if (previous !== text) await writeFile(outFile, text);
console.log(`compile-validators: ${Object.keys(mapping).length} validators, ${(text.length / 1024).toFixed(1)} KiB -> libs/plugin-protocol/validators.generated.ts`);
