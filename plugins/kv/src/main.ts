// The executable: scripts/build-plugins.mjs bundles this file into dist/plugins/kv, the builtin `kv`.
import { serve as serveProtocol } from '#plugin-protocol';
import { kvImplementation } from './backend.js';

serveProtocol(kvImplementation());
