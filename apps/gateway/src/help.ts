/**
 * Help for the gateway's own paths (`sys/...`, `auth/token/...` with `?help=1`), made from the route table, in the
 * layout of Vault's framework help (libs/plugin-sdk/help.ts) so `coffer path-help sys/mounts` reads like a plugin's.
 * The parameters are Vault's, so the text points at Vault's API documentation rather than repeating it.
 */

/** What help needs of a route: its pattern, its operations and its guards. */
export interface HelpRoute {
  pattern: RegExp;
  operations: object;
  unauthenticated?: boolean;
  sudo?: boolean | readonly string[];
}

const AREAS = [
  {
    prefix: 'sys/',
    what: "The gateway's system paths: seal and unseal, health, mounts, the plugin catalog, plugin reloads, policies and the event history.",
    docs: 'https://developer.hashicorp.com/vault/api-docs/system',
  },
  {
    prefix: 'auth/token/',
    what: "The token store: create, look up, renew and revoke tokens.",
    docs: 'https://developer.hashicorp.com/vault/api-docs/auth/token',
  },
];

/** The help text for `path`, or undefined when no gateway route (nor the root of an area) matches it. */
export function gatewayHelp(routes: readonly HelpRoute[], path: string): string | undefined {
  const area = AREAS.find((a) => path === a.prefix || path === a.prefix.slice(0, -1));
  if (area) return areaHelp(area, routes);
  const route = routes.find((r) => r.pattern.test(path));
  if (!route) return undefined;
  const docs = AREAS.find((a) => path.startsWith(a.prefix))?.docs;
  const text =
    `Request:        ${path}\nMatching Route: ${routeText(route)}\n\n` +
    `A path the Coffer gateway serves itself (${operationsText(route)}).\n\n` +
    `## DESCRIPTION\n\nCoffer takes the parameters of Vault's endpoint and answers as Vault does` +
    (docs ? `:\nsee ${docs}` : '.');
  return text;
}

function areaHelp(area: (typeof AREAS)[number], routes: readonly HelpRoute[]): string {
  const mine = routes.filter((r) => routeText(r).startsWith(`^${area.prefix.replace(/\/$/, '')}`));
  const listed = mine
    .map((r) => ({ route: routeText(r), synopsis: operationsText(r) }))
    .sort((a, b) => (a.route < b.route ? -1 : a.route > b.route ? 1 : 0))
    .map((p) => `    ${p.route}\n        ${p.synopsis}\n`)
    .join('\n');
  return (
    `${area.what}\n\n## PATHS\n\n` +
    'The following paths are supported by this backend. To view help for\n' +
    'any of the paths below, use the help command with any route matching\n' +
    'the path pattern. Note that depending on the policy of your auth token,\n' +
    'you may or may not be able to access certain paths.\n\n' +
    listed
  ).trim();
}

/** The pattern as Vault shows a route: anchored, without JavaScript's escaped slashes. */
function routeText(route: HelpRoute): string {
  return route.pattern.source.replace(/\\\//g, '/');
}

function operationsText(route: HelpRoute): string {
  const ops = Object.keys(route.operations).join(', ');
  const guards = [route.unauthenticated ? 'no token needed' : '', route.sudo === true ? 'needs sudo' : Array.isArray(route.sudo) && route.sudo.length ? `${route.sudo.join(', ')} needs sudo` : ''].filter(Boolean);
  return guards.length ? `${ops}; ${guards.join(', ')}` : ops;
}
