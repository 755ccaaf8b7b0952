// The executable: scripts/build-plugins.mjs bundles this file into dist/plugins/mock-plugin.
import { serve } from '#plugin-sdk';
import { createMockBackend } from './backend.js';

serve(createMockBackend());
