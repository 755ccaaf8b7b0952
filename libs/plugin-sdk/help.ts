/**
 * Help texts in the layout of Vault's framework templates (rootHelpTemplate, pathHelpTemplate), so `coffer path-help`
 * and `?help=1` read like Vault's.
 */

export function rootHelp(help: string, paths: { route: string; synopsis: string }[]): string {
  const sorted = [...paths].sort((a, b) => (a.route < b.route ? -1 : a.route > b.route ? 1 : 0));
  let text = help.trim();
  if (sorted.length) {
    text +=
      '\n\n## PATHS\n\n' +
      'The following paths are supported by this backend. To view help for\n' +
      'any of the paths below, use the help command with any route matching\n' +
      'the path pattern. Note that depending on the policy of your auth token,\n' +
      'you may or may not be able to access certain paths.\n\n' +
      sorted.map((p) => `${indent(4, p.route)}\n${indent(8, p.synopsis.trim())}\n`).join('\n');
  }
  return text.trim();
}

export function helpForPath(path: {
  requestPath: string;
  route: string;
  synopsis: string;
  description: string;
  fields: { name: string; type: string; description: string }[];
}): string {
  const fields = [...path.fields].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  let text = `Request:        ${path.requestPath}\nMatching Route: ${path.route}\n\n${path.synopsis.trim()}\n\n`;
  if (fields.length) {
    text += '## PARAMETERS\n';
    for (const field of fields) {
      const description = field.description.trim();
      text += `\n${indent(4, field.name)} (${field.type})\n${description ? `\n${indent(8, description)}\n` : ''}`;
    }
    text += '\n';
  }
  text += `## DESCRIPTION\n\n${path.description.trim()}`;
  return text.trim();
}

function indent(width: number, text: string): string {
  const pad = ' '.repeat(width);
  return text
    .split('\n')
    .map((line) => (line === '' ? line : pad + line))
    .join('\n');
}
