// The executable: `node scripts/build-plugins.mjs` bundles this file into dist/plugins/template.
import { serve } from '#plugin-sdk';
import { templateBackend } from './backend.js';

serve(templateBackend);
