import { multiErrorText } from '#vault-rules';
import { parse as parseHcl } from '@cdktf/hcl2json';
import { CofferError } from '#contracts';
import { type Capability, isCapability, LEGACY_POLICY } from './capabilities.js';

/** One `path "<glob>" { ... }` block, validated; the Acl compiles these, nothing re-reads the text. */
export interface PathRule {
  /** As written, less one leading `/` (Vault's request paths have none). Globs (`*`, `+`) are kept. */
  path: string;
  /** After expanding the `policy = ...` shorthand; exactly `['deny']` whenever deny appears. */
  capabilities: Capability[];
  /** `{{identity...}}` in the path: it needs an entity to resolve, so the Acl skips it (Vault does, entity-less). */
  templated: boolean;
  /** Lower-cased parameter names to allowed values (`[]`: any value). Absent: no restriction. */
  allowedParameters?: Record<string, unknown[]>;
  deniedParameters?: Record<string, unknown[]>;
  requiredParameters?: string[];
  /** Seconds. */
  minWrappingTtl?: number;
  maxWrappingTtl?: number;
  subscribeEventTypes?: string[];
}

export interface Policy {
  /** Trimmed and lower-cased, as Vault stores names. */
  name: string;
  raw: string;
  paths: PathRule[];
  templated: boolean;
}

const TOP_LEVEL_KEYS: ReadonlySet<string> = new Set(['name', 'path']);

/** Vault's list for a path block. control_group and mfa_methods are Enterprise: accepted, unused (as Vault OSS). */
const PATH_KEYS: ReadonlySet<string> = new Set([
  'comment',
  'policy',
  'capabilities',
  'allowed_parameters',
  'denied_parameters',
  'required_parameters',
  'min_wrapping_ttl',
  'max_wrapping_ttl',
  'mfa_methods',
  'control_group',
  'subscribe_event_types',
]);

// The name hcl2json is given; it only shows up in its diagnostics, which we rewrite.
const HCL_FILE = 'policy.hcl';

type Block = Record<string, unknown>;

/**
 * Parses a policy document (HCL, or JSON when it starts with `{`, as Vault decides) into validated rules. Errors are
 * `invalid-request` carrying Vault's texts (`failed to parse policy: ...`); only syntax errors read differently, since
 * they come from HCL2 where Vault uses HCL1.
 */
export async function parsePolicy(name: string, text: string): Promise<Policy> {
  const doc = await decode(text);
  rejectUnknownKeys(doc, TOP_LEVEL_KEYS, text);
  const paths = pathBlocks(doc['path']).map(([label, body]) => pathRule(label, body, text));
  return { name: name.trim().toLowerCase(), raw: text, paths, templated: paths.some((p) => p.templated) };
}

function fail(message: string): never {
  throw new CofferError('invalid-request', `failed to parse policy: ${message}`);
}

async function decode(text: string): Promise<Block> {
  if (/^\s*\{/.test(text)) {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      fail((err as Error).message);
    }
    return isBlock(doc) ? doc : fail('does not contain a root object');
  }
  try {
    return await parseHcl(HCL_FILE, text);
  } catch (err) {
    fail(hclDiagnostic(err));
  }
}

/** `parse config: [policy.hcl:1,17-18: Summary; detail]` becomes `At 1:17: Summary; detail`, HCL1's placing. */
function hclDiagnostic(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message
    .replace(/^parse config: \[([\s\S]*)\]$/, '$1')
    .replace(/policy\.hcl:(\d+),(\d+)(?:-(?:\d+,)?\d+)?: /g, 'At $1:$2: ');
}

function isBlock(value: unknown): value is Block {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * `[label, body]` for every path block. hcl2json gives `{label: [body, ...]}`; JSON policies may also write
 * `{label: body}` or a list of such objects, all of which Vault's HCL1 decoder takes.
 */
function pathBlocks(value: unknown): Array<[string, Block]> {
  if (value === undefined) return [];
  if (Array.isArray(value)) return value.flatMap(pathBlocks);
  if (!isBlock(value)) fail('path must be a block: path "<path>" { ... }');
  return Object.entries(value).flatMap(([label, bodies]) =>
    (Array.isArray(bodies) ? bodies : [bodies]).map((body): [string, Block] =>
      isBlock(body) ? [label, body] : fail(`path ${quote(label)}: expected a block`),
    ),
  );
}

function pathRule(label: string, body: Block, text: string): PathRule {
  const templated = hasTemplating(label);
  rejectUnknownKeys(body, PATH_KEYS, text, label);

  const path = label.startsWith('/') ? label.slice(1) : label;
  if (path.includes('+*')) fail(`path ${quote(path)}: invalid use of wildcards ('+*' is forbidden)`);

  const legacy = optionalString(body['policy'], label, 'policy');
  const shorthand = legacy === undefined ? [] : LEGACY_POLICY.get(legacy);
  if (shorthand === undefined) fail(`path ${quote(label)}: invalid policy ${quote(legacy!)}`);

  const capabilities = new Set<Capability>();
  for (const c of [...shorthand, ...stringList(body['capabilities'], label, 'capabilities')]) {
    // Vault stops at deny: nothing after it, parameters included, is even looked at.
    if (c === 'deny') return { path, capabilities: ['deny'], templated };
    if (!isCapability(c)) fail(`path ${quote(label)}: invalid capability ${quote(c)}`);
    capabilities.add(c);
  }

  const rule: PathRule = { path, capabilities: [...capabilities], templated };
  const allowed = parameters(body['allowed_parameters'], path, 'allowed_parameters');
  const denied = parameters(body['denied_parameters'], path, 'denied_parameters');
  const required = stringList(body['required_parameters'], label, 'required_parameters');
  const minTtl = ttl(body['min_wrapping_ttl'], 'min_wrapping_ttl');
  const maxTtl = ttl(body['max_wrapping_ttl'], 'max_wrapping_ttl');
  const eventTypes = stringList(body['subscribe_event_types'], label, 'subscribe_event_types');
  if (minTtl && maxTtl && maxTtl < minTtl) fail('max_wrapping_ttl cannot be less than min_wrapping_ttl');

  if (allowed) rule.allowedParameters = allowed;
  if (denied) rule.deniedParameters = denied;
  if (required.length) rule.requiredParameters = required;
  if (minTtl) rule.minWrappingTtl = minTtl;
  if (maxTtl) rule.maxWrappingTtl = maxTtl;
  if (eventTypes.length) rule.subscribeEventTypes = eventTypes;
  return rule;
}

/** Vault's check (identitytpl): every `{{` needs exactly one `}}` before the next `{{`, and none may come first. */
function hasTemplating(label: string): boolean {
  const [head, ...pieces] = label.split('{{');
  const balanced = !head!.includes('}}') && pieces.every((p) => p.split('}}').length === 2);
  if (!balanced) fail('failed to validate policy templating: unbalanced templating characters');
  return pieces.length > 0;
}

/** Vault's `invalid key "x" on line N`, in go-multierror's format; the line is found in the text when it can be. */
function rejectUnknownKeys(block: Block, valid: ReadonlySet<string>, text: string, label?: string): void {
  // hcl2json hands keys back sorted; the line, where found, restores the document's order.
  const errors = Object.keys(block)
    .filter((key) => !valid.has(key))
    .map((key) => ({ key, line: lineOf(text, key, label === undefined ? undefined : JSON.stringify(label)) }))
    .sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity))
    .map(({ key, line }) => {
      const where = line === undefined ? '' : ` on line ${line}`;
      return `${label === undefined ? '' : `path ${quote(label)}: `}invalid key ${quote(key)}${where}`;
    });
  if (errors.length === 0) return;
  fail(multiErrorText(errors));
}

function lineOf(text: string, key: string, anchor?: string): number | undefined {
  const from = anchor === undefined ? 0 : text.indexOf(anchor);
  if (from < 0) return undefined;
  const escaped = key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const pattern = new RegExp(`(^|[\\s{,])"?${escaped}"?\\s*[:={]`, 'gm');
  pattern.lastIndex = from + (anchor?.length ?? 0);
  const match = pattern.exec(text);
  return match ? text.slice(0, match.index + match[1]!.length).split('\n').length : undefined;
}

/** Go's %q, near enough for error texts. */
function quote(s: string): string {
  return JSON.stringify(s);
}

function optionalString(value: unknown, label: string, key: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') fail(`path ${quote(label)}: ${key} must be a string`);
  return value;
}

/** A list of strings; a lone value counts as a list of one, as HCL1's decoder has it. */
function stringList(value: unknown, label: string, key: string): string[] {
  if (value === undefined || value === null) return [];
  const items = Array.isArray(value) ? value : [value];
  const scalar = (item: unknown) => ['string', 'number', 'boolean'].includes(typeof item);
  const bad = () => fail(`path ${quote(label)}: ${key} must be a list of strings`);
  return items.map((item) => (scalar(item) ? String(item) : bad()));
}

/** `{name = [values]}`, block form (hcl2json: a list of objects) merged; names lower-cased as Vault does. */
function parameters(value: unknown, path: string, key: string): Record<string, unknown[]> | undefined {
  if (value === undefined || value === null) return undefined;
  const blocks = Array.isArray(value) ? value : [value];
  // Entries, not assignments: a parameter may well be called `__proto__`.
  const out: Array<[string, unknown[]]> = [];
  for (const block of blocks) {
    const where = `path ${quote(path)}: ${key}`;
    if (!isBlock(block)) fail(`${where}: expected a map of parameter names to lists of values`);
    for (const [name, values] of Object.entries(block)) {
      // Vault's JSON-pointer keys (`/a/b`) address nested request fields; we match top-level names only, so refuse
      // them rather than let a denied_parameters entry silently never match.
      if (name.startsWith('/')) fail(`${where}: parameter key ${quote(name)}: JSON pointer keys are not supported`);
      if (name.includes('*') && name !== '*') {
        fail(`${where}: parameter key ${quote(name)} cannot contain non-tail wildcards`);
      }
      out.push([name.toLowerCase(), values === null || values === undefined ? [] : [values].flat()]);
    }
  }
  return Object.fromEntries(out);
}

const GO_DURATION = /^[-+]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h))+$/;
const GO_UNIT_SECONDS: Record<string, number> = { ns: 1e-9, us: 1e-6, µs: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };

/** Vault's ParseDurationSecond: a number is seconds; a string is seconds, `<n>d`, or a Go duration. */
function ttl(value: unknown, key: string): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  const s = String(value).trim();
  if (/^[-+]?\d+$/.test(s)) return Number(s);
  if (/^[-+]?\d+d$/.test(s)) return Number(s.slice(0, -1)) * 86400;
  if (!/[smh]$/.test(s)) fail(`error parsing ${key}: strconv.ParseInt: parsing ${quote(s)}: invalid syntax`);
  if (!GO_DURATION.test(s)) fail(`error parsing ${key}: time: invalid duration ${quote(s)}`);
  const sign = s.startsWith('-') ? -1 : 1;
  let seconds = 0;
  for (const m of s.matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/g)) {
    seconds += Number(m[1]) * GO_UNIT_SECONDS[m[2]!]!;
  }
  return sign * seconds;
}
