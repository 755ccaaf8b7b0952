/**
 * Vault's logical operations, the one list: what a request asks of a path once the HTTP verb (and `?list=true`) is
 * decoded, what travels to a plugin-runner and over the plugin protocol, and what a plugin's path declares. HEAD is
 * the gateway's own (answered like a read, never sent to a plugin); `help` is a flag of the request, not an
 * operation. This file imports nothing, so the plugin side of the protocol can use it without pulling in more.
 */
export const OPERATIONS = ['read', 'list', 'create', 'update', 'delete', 'patch'] as const;

export type Operation = (typeof OPERATIONS)[number];

export function isOperation(value: unknown): value is Operation {
  return typeof value === 'string' && (OPERATIONS as readonly string[]).includes(value);
}
