/**
 * Imported before pg. pg asks "am I in a Cloudflare Worker?" at load: with no `navigator` (Node 20) it builds a
 * `new Response()`, which loads undici and instantiates its WebAssembly HTTP parser. Under the plugin sandbox's
 * address-space limit (prlimit --as, plugin_max_memory_mb) WebAssembly cannot reserve its memory and the process
 * dies. Node 21+ defines navigator itself (userAgent "Node.js/…"); this gives Node 20 the same answer.
 */
if (typeof (globalThis as { navigator?: unknown }).navigator === 'undefined') {
  Object.defineProperty(globalThis, 'navigator', { value: { userAgent: `Node.js/${process.version.slice(1)}` }, configurable: true });
}
export {};
