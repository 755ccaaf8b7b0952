// The executable: scripts/build-plugins.mjs bundles this file into dist/plugins/cubbyhole.
import { serve } from '#plugin-sdk';
import { cubbyholeBackend } from './backend.js';

serve(cubbyholeBackend);
