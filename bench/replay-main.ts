/** `node dist/bench/replay-main.js 10000,100000 3`: the replay figures as JSON on stdout (run by bench/run.ts). */
import { TEST_DATABASE_URL } from '../test/support/cluster.js';
import { measureReplay } from './lib/replay.js';

const [counts = '10000', rounds = '3'] = process.argv.slice(2);
const figures = await measureReplay(process.env.COFFER_TEST_DATABASE_URL ?? TEST_DATABASE_URL, counts.split(',').map(Number), Number(rounds));
process.stdout.write(`${JSON.stringify(figures)}\n`);
