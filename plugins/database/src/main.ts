// The executable: scripts/build-plugins.mjs bundles this file into dist/plugins/database, the builtin `database`.
import './runtime-probe.js';
import { serve } from '#plugin-sdk';
import { createDatabaseBackend } from './backend.js';

serve(createDatabaseBackend());
