import { JsonLimitError, type JsonLimits } from '../http/json-limits.js';
import { parseBody } from '../vault-http.js';
import type { Exchange, Stage } from './exchange.js';

/** Query parameters that are Vault's own (the verb and help flags), never request data. */
const RESERVED_QUERY = new Set(['list', 'help']);

/**
 * Stage 2, parse: the request data, by operation, as Vault's http/logical.go builds it. Reads and lists take their
 * data from the query string, so the ACL's parameter rules (stage 4) see exactly what the handler and the plugin
 * will; writes take it from the body alone: their query string is not request data, and nothing reads it as such.
 * Deletes take the query (Vault's parseQuery). A LIST path always ends with `/`, as Vault's request handling makes it.
 */
export class ParseStage implements Stage {
  readonly name = 'parse';

  constructor(
    private readonly limits: JsonLimits,
    private readonly log: { warn(fields: object, message: string): void },
  ) {}

  run(x: Exchange): void {
    const { edge } = x;
    const operation = edge.operation;
    const path = operation === 'list' && !edge.help && !edge.path.endsWith('/') ? `${edge.path}/` : edge.path;
    let data: Record<string, unknown>;
    if (edge.help) data = {};
    else if (operation === 'delete') data = Object.fromEntries(edge.query);
    else if (operation === 'read' || operation === 'list' || operation === 'head') data = queryData(edge.query);
    else data = this.body(x);
    x.req = {
      id: edge.id,
      operation,
      path,
      data,
      query: edge.query,
      token: edge.token,
      headers: edge.headers,
      wrapTtl: edge.wrapTtl,
      remoteAddress: edge.remoteAddress,
      remotePort: edge.remotePort,
    };
  }

  /** The body, under Vault's JSON limits: past one is a 400 here, before any handler, and a warning without a stack. */
  private body(x: Exchange): Record<string, unknown> {
    try {
      return parseBody(x.edge.body, x.edge.contentType, this.limits);
    } catch (err) {
      if (err instanceof JsonLimitError) this.log.warn({ requestId: x.edge.id, path: x.edge.path, reason: err.message }, 'request refused: JSON limits');
      throw err;
    }
  }
}

/** Vault's GET data: one value as a string, a repeated key as the list of its values. */
function queryData(query: URLSearchParams): Record<string, unknown> {
  const data: Record<string, unknown> = {};
  for (const key of new Set(query.keys())) {
    if (RESERVED_QUERY.has(key)) continue;
    const values = query.getAll(key);
    data[key] = values.length === 1 ? values[0] : values;
  }
  return data;
}
