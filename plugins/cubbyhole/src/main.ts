// The executable: scripts/build-plugins.mjs bundles this file into dist/plugins/cubbyhole, the builtin `cubbyhole`.
import { serve } from '#plugin-sdk';
import { cubbyholeBackend } from './backend.js';

serve(cubbyholeBackend);
