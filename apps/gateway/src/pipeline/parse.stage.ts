import { parseBody } from '../vault-http.js';
import type { Exchange, Stage } from './exchange.js';

/**
 * Stage 2, parse: the request data, by operation, as Vault's http/logical.go builds it: writes from the body,
 * deletes from the query (Vault's parseQuery).
 */
export class ParseStage implements Stage {
  readonly name = 'parse';

  run(x: Exchange): void {
    const { edge } = x;
    const operation = edge.operation;
    let data: Record<string, unknown>;
    if (edge.help) data = {};
    else if (operation === 'delete') data = Object.fromEntries(edge.query);
    else if (operation === 'read' || operation === 'list' || operation === 'head') data = {};
    else data = parseBody(edge.body, edge.contentType);
    x.req = { id: edge.id, operation, path: edge.path, data, query: edge.query, token: edge.token, headers: edge.headers };
  }
}
