#!/usr/bin/env node
// The `coffer` command. Kept tiny: everything, including Nest, is loaded only by the command that needs it.
import { main } from '../dist/apps/cli/src/main.js';

process.exitCode = await main(process.argv.slice(2));
