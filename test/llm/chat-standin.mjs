// A stand-in for an OpenAI-compatible chat completions endpoint, for the
// llm tool tests (there is no model here): it checks each request's shape
// and bearer key, and behaves as the first path segment says:
//   POST /MODE/TAG/v1/chat/completions, MODE one of
//   ok, slow, 429once, 429long, 500, 500once, garbage, nocontent,
//   oversize, drop, close, echokey.
// GET /count?p=/MODE/TAG answers how many requests that prefix received,
// GET /slow-open how many slow answers still have their connection.
// Usage: node chat-standin.mjs --ready FILE --key KEY --model M
//   [--latency MS] (ok answers wait MS first: a model's latency, for the
//   demo's timing table; the base URL is then http://127.0.0.1:PORT/ok/x/v1)
import { createServer } from 'node:http';
import { writeFileSync, renameSync } from 'node:fs';

const arg = (n) => { const i = process.argv.indexOf(n); return i > 0 ? process.argv[i + 1] : undefined; };
const key = arg('--key');
const model = arg('--model');
const latency = Number(arg('--latency') || 0);
const counts = new Map();
let slowOpen = 0; // slow answers whose connection is still open
const words = (s) => s.split(/\s+/).filter(Boolean).length;

const json = (res, code, obj, extra = {}) => {
  res.writeHead(code, { 'content-type': 'application/json', ...extra });
  res.end(JSON.stringify(obj));
};
const fail = (res, code, message) => json(res, code, { error: { message, type: 'invalid_request_error' } });

// What is wrong with a request body, or null.
function shapeError(b) {
  if (!b || typeof b !== 'object') return 'body is not a JSON object';
  if (b.model !== model) return `model must be ${model}, got ${b.model}`;
  if (!Array.isArray(b.messages) || b.messages.length === 0) return 'messages must be a non-empty array';
  for (const m of b.messages) {
    if (!['system', 'user', 'assistant'].includes(m.role)) return `bad role ${m.role}`;
    if (typeof m.content !== 'string') return 'content must be a string';
  }
  if (!Number.isInteger(b.max_tokens) || b.max_tokens < 1) return 'max_tokens must be a positive integer';
  if (b.stream) return 'streaming is not expected';
  return null;
}

function answer(res, b, extraContent = '') {
  const last = [...b.messages].reverse().find((m) => m.role === 'user');
  const content = `You said: ${last ? last.content : ''}${extraContent}`;
  const prompt = b.messages.reduce((n, m) => n + words(m.content), 0);
  json(res, 200, {
    id: 'chatcmpl-standin', object: 'chat.completion', created: 0, model: `${model}-0001`,
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
    usage: { prompt_tokens: prompt + 7, completion_tokens: words(content), total_tokens: prompt + 7 + words(content) },
  });
}

function route(req, res, body, seen) {
  const mode = req.url.split('/')[1];
  const auth = req.headers.authorization || '';
  if (req.headers['content-type'] !== 'application/json') return fail(res, 415, 'content-type must be application/json');
  if (mode === 'echokey' || auth !== `Bearer ${key}`) {
    // as real endpoints do: the key it was sent, echoed in the message
    return fail(res, 401, `Incorrect API key provided: ${auth.replace(/^Bearer /, '')}. Check your key.`);
  }
  let b;
  try { b = JSON.parse(body); } catch { return fail(res, 400, 'body is not JSON'); }
  const bad = shapeError(b);
  if (bad) return fail(res, 400, bad);
  switch (mode) {
    case 'ok': return latency ? setTimeout(() => answer(res, b), latency) : answer(res, b);
    case 'slow': {
      slowOpen++;
      const t = setTimeout(() => answer(res, b), 60000);
      res.on('close', () => { clearTimeout(t); slowOpen--; });
      return;
    }
    case '429once': return seen === 1 ? json(res, 429, { error: { message: 'Rate limit reached' } }, { 'retry-after': '1' }) : answer(res, b);
    case '429long': return json(res, 429, { error: { message: 'Rate limit reached' } }, { 'retry-after': '3600' });
    case '500': return fail(res, 500, `Serverfehler: ${'überlastet, '.repeat(60)}Ende`);
    case '500once': return seen === 1 ? fail(res, 503, 'try again') : answer(res, b);
    case 'garbage': res.writeHead(200, { 'content-type': 'application/json' }); return res.end('this is not json {');
    case 'nocontent': return json(res, 200, { choices: [{ message: { role: 'assistant' } }] });
    case 'oversize': return answer(res, b, 'x'.repeat(2 << 20));
    case 'drop':
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '5000' });
      res.write('{"choices":[{"message":{"content":"cut');
      return setTimeout(() => res.socket.destroy(), 20);
    case 'close': return req.socket.destroy();
    default: return fail(res, 404, `no mode ${mode}`);
  }
}

const server = createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (req.method === 'GET' && url.pathname === '/count') {
    return json(res, 200, { count: counts.get(url.searchParams.get('p')) || 0 });
  }
  if (req.method === 'GET' && url.pathname === '/slow-open') return json(res, 200, { open: slowOpen });
  const parts = url.pathname.split('/');
  if (req.method !== 'POST' || parts.length !== 6 || parts[3] !== 'v1' || parts[4] !== 'chat' || parts[5] !== 'completions') {
    return fail(res, 404, `unexpected ${req.method} ${url.pathname}`);
  }
  const prefix = `/${parts[1]}/${parts[2]}`;
  counts.set(prefix, (counts.get(prefix) || 0) + 1);
  const seen = counts.get(prefix);
  const chunks = [];
  req.on('data', (d) => chunks.push(d));
  req.on('end', () => route(req, res, Buffer.concat(chunks).toString('utf8'), seen));
});
server.listen(0, '127.0.0.1', () => {
  const ready = arg('--ready');
  writeFileSync(`${ready}.tmp`, `http://127.0.0.1:${server.address().port}\n`);
  renameSync(`${ready}.tmp`, ready);
});
process.on('SIGTERM', () => process.exit(0));
