// The executable: scripts/build-plugins.mjs bundles this file into dist/plugins/userpass.
import { serve } from '#plugin-sdk';
import { userpassBackend } from './backend.js';

serve(userpassBackend);
