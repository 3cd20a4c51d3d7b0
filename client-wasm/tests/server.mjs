// A tiny static HTTP server for the browser tests, bound to a free loopback
// port. http://127.0.0.1 is a secure context, so service workers work on it.
import http from 'node:http';
import fs from 'node:fs/promises';
import path from 'node:path';

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm', // needed by WebAssembly.instantiateStreaming
  '.ts': 'text/plain; charset=utf-8',
};

/**
 * routes: URL prefix -> directory (longest prefix wins); files: exact URL -> file.
 * dynamic: exact URL -> async () => [contentType, body].
 */
export async function startServer({ routes = {}, files = {}, dynamic = {} }) {
  const prefixes = Object.keys(routes).sort((a, b) => b.length - a.length);
  const server = http.createServer(async (req, res) => {
    try {
      const url = new URL(req.url, 'http://127.0.0.1');
      const p = decodeURIComponent(url.pathname);
      if (p === '/favicon.ico') return send(res, 204, 'text/plain', '');
      if (dynamic[p]) {
        const [type, body] = await dynamic[p]();
        return send(res, 200, type, body);
      }
      let file = files[p];
      if (!file) {
        const prefix = prefixes.find((x) => p.startsWith(x));
        if (!prefix) return send(res, 404, 'text/plain', 'not found');
        const dir = path.resolve(routes[prefix]);
        file = path.resolve(dir, '.' + p.slice(prefix.length - 1));
        // Never serve outside the mapped directory.
        if (file !== dir && !file.startsWith(dir + path.sep)) return send(res, 403, 'text/plain', 'forbidden');
      }
      const body = await fs.readFile(file);
      send(res, 200, MIME[path.extname(file)] || 'application/octet-stream', body);
    } catch (e) {
      send(res, e.code === 'ENOENT' || e.code === 'EISDIR' ? 404 : 500, 'text/plain', String(e.message));
    }
  });
  // Port 0: the kernel picks a free port, so parallel runs never collide.
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => { server.closeAllConnections?.(); server.close(resolve); }),
  };
}

function send(res, status, type, body) {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}
