// The executable: scripts/build-plugins.mjs bundles this file into dist/plugins/approle, the builtin auth method `approle`.
import { serve } from '#plugin-sdk';
import { approleBackend } from './backend.js';

serve(approleBackend);
