#!/usr/bin/env node
// The `coffer` command. Kept tiny: everything, including Nest, is loaded only by the command that needs it.
import { main } from '../dist/apps/cli/src/main.js';

const code = await main(process.argv.slice(2));
process.exitCode = code;
// A command has finished when main returns; whatever it left open (a socket, a timer of a failed start) must not keep
// the process alive, or a supervisor waiting for the exit (compose's `restart:`) never restarts it. stdout and stderr
// are written synchronously for files and pipes, so nothing already written is lost by exiting.
if (code !== 0) process.exit(code);
setTimeout(() => process.exit(code), 2_000).unref();
