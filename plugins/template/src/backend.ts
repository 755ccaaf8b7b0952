/**
 * The smallest useful plugin: one path, one field. Copy this folder to start your own (see plugins/README.md).
 */
import { defineBackend, definePath } from '#plugin-sdk';

const greeting = definePath({
  pattern: 'greeting',
  fields: {
    text: { type: 'string', description: 'What the greeting says.', default: 'Hello!' },
  },
  operations: {
    // A write without `text` stores the default; the answer is null, which the host sends as 204.
    update: async (req) => {
      await req.storage.put('greeting', req.data.text);
      return null;
    },
    // null when nothing was written yet: the host answers 404.
    read: async (req) => {
      const text = await req.storage.getString('greeting');
      return text === null ? null : { data: { text } };
    },
    delete: async (req) => {
      await req.storage.delete('greeting');
      return null;
    },
  },
  help: 'A greeting kept in the mount.',
  description: 'Write `text` to set the greeting, read it back, delete it.',
});

export const templateBackend = defineBackend({
  type: 'secret',
  name: 'template',
  version: 'v0.1.0',
  help: 'A template plugin: keeps one greeting.',
  paths: [greeting],
});
