/**
 * The machine's ceiling for a Node HTTP server: bare `node:http` answering a fixed 60-byte JSON body, no parsing,
 * no routing. Run as its own process (like the servers it is compared with); prints its port on stdout.
 */
import { createServer } from 'node:http';

const BODY = Buffer.from(JSON.stringify({ data: { value: 'ceiling' }, padding: 'x'.repeat(19) }));
if (BODY.length !== 60) throw new Error(`the ceiling body must be 60 bytes, not ${BODY.length}`);

const server = createServer((req, res) => {
  // Drain the request body (kv write bodies are small) before answering, as any real server must.
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': BODY.length });
    res.end(BODY);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`${typeof address === 'object' && address ? address.port : 0}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
