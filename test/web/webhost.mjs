// The local "internet" of the web tools' tests and the demo: serves the
// pages of data/web/pages and a SearXNG-compatible /search over them, and,
// under /t/, hostile answers the tests need (redirects, huge and slow
// bodies, gzip bombs, odd charsets, non-text types, a Brave-shaped API).
// Listens on loopback only. Usage:
//   node webhost.mjs [--root DIR] [--port N] [--ready FILE] [--brave-key K]
// prints "webhost: http://127.0.0.1:PORT" and writes that URL to FILE.
import { createServer } from 'node:http';
import { readdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const here = dirname(fileURLToPath(import.meta.url));
const arg = (name, def) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : def;
};
const root = arg('--root', join(here, '..', '..', 'data', 'web', 'pages'));
const port = Number(arg('--port', '0'));
const ready = arg('--ready', null);
const braveKey = arg('--brave-key', null);
let braveCalls = 0;
let slowOpen = 0; // /t/slow answers still being sent

const strip = (s) => s.replace(/<script[\s\S]*?<\/script>|<style[\s\S]*?<\/style>/gi, ' ')
  .replace(/<[^>]*>/g, ' ').replace(/&#39;/g, "'").replace(/&[a-z]+;/g, ' ')
  .replace(/\s+/g, ' ').trim();
const pages = readdirSync(root).filter((f) => f.endsWith('.html')).sort().map((f) => {
  const html = readFileSync(join(root, f), 'utf8');
  const meta = (n) => (html.match(new RegExp(`<meta name="${n}" content="([^"]*)"`)) || [])[1];
  return { file: f, html, title: (html.match(/<title>([^<]*)<\/title>/) || [])[1] || f,
    date: meta('date'), description: meta('description') || '', text: strip(html) };
});

// Ranks pages by how often the query's words occur (title counts triple).
function search(base, q) {
  const words = q.toLowerCase().split(/[^a-z0-9-]+/).filter((w) => w.length > 1);
  const scored = pages.map((p) => {
    let score = 0;
    for (const w of words) {
      score += 3 * (p.title.toLowerCase().split(w).length - 1);
      score += p.text.toLowerCase().split(w).length - 1;
    }
    return { p, score };
  }).filter((x) => x.score > 0).sort((a, b) => b.score - a.score || a.p.file.localeCompare(b.p.file));
  return scored.map(({ p, score }) => ({
    url: `${base}/pages/${p.file}`, title: p.title, content: p.description,
    publishedDate: p.date ? `${p.date}${p.date.length === 10 ? 'T00:00:00' : ''}` : null,
    engine: 'zonegate-local', score,
  }));
}

const bomb = gzipSync(Buffer.alloc(64 << 20, 'a')); // 64 MiB of 'a', ~64 KiB gzipped
const send = (res, code, type, body, extra = {}) => {
  res.writeHead(code, { 'content-type': type, ...extra });
  res.end(body);
};

function testRoute(req, res, url, base) {
  switch (url.pathname) {
    case '/t/redirect': // one hop to ?to=
      res.writeHead(302, { location: url.searchParams.get('to') });
      return res.end();
    case '/t/big': { // endless-looking body, far over any cap
      res.writeHead(200, { 'content-type': 'text/plain' });
      const chunk = Buffer.alloc(1 << 16, 'x');
      let sent = 0;
      const pump = () => {
        while (sent < (256 << 20)) {
          sent += chunk.length;
          if (!res.write(chunk)) return res.once('drain', pump);
        }
        res.end();
      };
      res.on('close', () => { sent = Infinity; });
      return pump();
    }
    case '/t/slow': { // a byte now and then, never done
      res.writeHead(200, { 'content-type': 'text/plain' });
      const t = setInterval(() => res.write('.'), 300);
      slowOpen++;
      res.on('close', () => { clearInterval(t); slowOpen--; });
      return undefined;
    }
    case '/t/slow-open':
      return send(res, 200, 'text/plain', String(slowOpen));
    case '/t/gzipbomb':
      return send(res, 200, 'text/plain', bomb, { 'content-encoding': 'gzip' });
    case '/t/latin1': // café in ISO-8859-1, declared
      return send(res, 200, 'text/html; charset=iso-8859-1',
        Buffer.from('<title>Latin</title><p>caf\xe9 cr\xe8me</p>', 'latin1'));
    case '/t/meta1252': // curly quotes in windows-1252, declared in <meta>
      return send(res, 200, 'text/html',
        Buffer.from('<html><head><meta charset="windows-1252"><title>Q</title></head><p>\x93quoted\x94 \x80</p>', 'latin1'));
    case '/t/nocharset': // latin1 bytes, no charset anywhere
      return send(res, 200, 'text/plain', Buffer.from('na\xefve r\xe9sum\xe9', 'latin1'));
    case '/t/badcharset': // a charset nobody knows, UTF-8 bytes with a bad one
      return send(res, 200, 'text/html; charset=x-no-such-charset',
        Buffer.concat([Buffer.from('<p>ok \u00e9 '), Buffer.from([0xff]), Buffer.from(' end</p>')]));
    case '/t/png':
      return send(res, 200, 'image/png', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0]));
    case '/t/json':
      return send(res, 200, 'application/json', '{"advisory":"CVE-2024-21626"}');
    case '/t/broken/search': // a SearXNG that fails
      return send(res, 500, 'text/plain', 'internal error');
    case '/t/garbage/search':
      return send(res, 200, 'application/json', '{"results": 42');
    case '/t/brave': { // the Brave Search API's shape
      braveCalls++;
      if (req.headers['x-subscription-token'] !== braveKey)
        return send(res, 401, 'application/json', '{"error":"bad token"}');
      const n = Number(url.searchParams.get('count') || '20');
      const r = search(base, url.searchParams.get('q') || '').slice(0, n).map((x) => ({
        title: x.title, url: x.url, description: x.content, page_age: x.publishedDate || undefined }));
      return send(res, 200, 'application/json', JSON.stringify({ type: 'search', web: { results: r } }));
    }
    case '/t/brave-calls':
      return send(res, 200, 'text/plain', String(braveCalls));
    default:
      return send(res, 404, 'text/plain', 'not found');
  }
}

const server = createServer((req, res) => {
  const base = `http://${req.headers.host}`;
  const url = new URL(req.url, base);
  if (url.pathname === '/search') {
    const q = url.searchParams.get('q') || '';
    if (url.searchParams.get('format') !== 'json') return send(res, 403, 'text/plain', 'json only');
    const results = search(base, q);
    return send(res, 200, 'application/json',
      JSON.stringify({ query: q, number_of_results: results.length, results }));
  }
  if (url.pathname === '/') {
    const list = pages.map((p) => `<li><a href="/pages/${p.file}">${p.title}</a></li>`).join('\n');
    return send(res, 200, 'text/html; charset=utf-8',
      `<!DOCTYPE html><title>Container escape notes</title><h1>Container escape notes</h1><ul>${list}</ul>`);
  }
  const m = url.pathname.match(/^\/pages\/([a-z0-9.-]+\.html)$/);
  if (m) {
    const p = pages.find((x) => x.file === m[1]);
    return p ? send(res, 200, 'text/html; charset=utf-8', p.html) : send(res, 404, 'text/plain', 'no page');
  }
  if (url.pathname.startsWith('/t/')) return testRoute(req, res, url, base);
  return send(res, 404, 'text/plain', 'not found');
});

server.listen(port, '127.0.0.1', () => {
  const u = `http://127.0.0.1:${server.address().port}`;
  if (ready) { writeFileSync(`${ready}.tmp`, `${u}\n`); renameSync(`${ready}.tmp`, ready); }
  console.log(`webhost: ${u}`);
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', stop);
