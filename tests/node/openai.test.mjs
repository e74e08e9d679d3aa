// The official openai client against sluice-proxy, used the way an application uses it.
// Starts mockllm and sluice-proxy from $SLUICE_BIN on ports they choose, and stops them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';

const bin = process.env.SLUICE_BIN || join(dirname(fileURLToPath(import.meta.url)), '../../bin');
const procs = [];

async function start(exe, args, dir) {
  const portFile = join(dir, 'port');
  const p = spawn(join(bin, exe), [...args, '--port-file', portFile], { stdio: 'ignore' });
  procs.push(p);
  for (let i = 0; i < 1500; i++) {
    if (existsSync(portFile)) return Number(readFileSync(portFile, 'utf8'));
    if (p.exitCode !== null) throw new Error(`${exe} exited with ${p.exitCode}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`${exe} did not start`);
}

let client, strict, tmp;

before(async () => {
  const dir = (tmp = mkdtempSync(join(tmpdir(), 'sluice-node-')));
  writeFileSync(join(dir, 'mock.json'), JSON.stringify({
    models: {
      '*': {},
      small: { itl_ms: 20, output_tokens: 6 },
      broken: { p_500: 1 },
      cut: { p_close_mid_stream: 1, output_tokens: 8 },
    },
  }));
  const mockDir = mkdtempSync(join(dir, 'mock-'));
  const mockPort = await start('mockllm',
    ['--listen', '127.0.0.1:0', '--config', join(dir, 'mock.json')], mockDir);
  const dep = (model) => ({ deployments: [{ provider: 'mock', model }] });
  writeFileSync(join(dir, 'sluice.json'), JSON.stringify({
    workers: 2,
    log_level: 'warn',
    retry: { max_attempts: 2 },
    auth: { required: false },
    providers: { mock: { base_url: `http://127.0.0.1:${mockPort}/v1` } },
    models: { 'gpt-4o-mini': dep('small'), broken: dep('broken'), cut: dep('cut') },
  }));
  const proxyDir = mkdtempSync(join(dir, 'proxy-'));
  const port = await start('sluice-proxy',
    ['-c', join(dir, 'sluice.json'), '--listen', '127.0.0.1:0'], proxyDir);
  const baseURL = `http://127.0.0.1:${port}/v1`;
  client = new OpenAI({ baseURL, apiKey: 'sk-app-key' });
  strict = new OpenAI({ baseURL, apiKey: 'sk-app-key', maxRetries: 0 });
});

// SIGTERM, then SIGKILL after 10 s; resolves once p has exited.
function stop(p) {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => p.kill('SIGKILL'), 10000);
    p.once('exit', () => { clearTimeout(kill); resolve(); });
    p.kill('SIGTERM');
  });
}

// The directory goes only after the processes have exited (the proxy writes data/ there until
// it stops); SLUICE_KEEP_TMP=1 keeps it, as in the C tests.
after(async () => {
  await Promise.all(procs.map(stop));
  if (tmp && process.env.SLUICE_KEEP_TMP !== '1') rmSync(tmp, { recursive: true, force: true });
});

const messages = [{ role: 'user', content: 'Write a haiku about rivers.' }];

test('chat completion', async () => {
  const r = await client.chat.completions.create({ model: 'gpt-4o-mini', messages });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.model, 'small');
  assert.ok(r.choices[0].message.content.length > 0);
  assert.equal(r.usage.completion_tokens, 6);
});

test('response headers through withResponse', async () => {
  const { response } = await client.chat.completions
    .create({ model: 'gpt-4o-mini', messages })
    .withResponse();
  assert.equal(response.headers.get('x-sluice-model'), 'mock/small');
  assert.match(response.headers.get('x-request-id'), /^req_[0-9a-f]{16}$/);
});

test('streaming with usage', async () => {
  const stream = await client.chat.completions.create({
    model: 'gpt-4o-mini', messages, stream: true, stream_options: { include_usage: true },
  });
  let text = '';
  let usage = null;
  let chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    if (chunk.choices.length) text += chunk.choices[0].delta.content ?? '';
    if (chunk.usage) usage = chunk.usage;
  }
  assert.ok(chunks >= 6, `only ${chunks} chunks`);
  assert.equal(text.trim().split(/\s+/).length, 6);
  assert.equal(usage.completion_tokens, 6);
});

test('embeddings', async () => {
  const r = await client.embeddings.create({ model: 'gpt-4o-mini', input: ['a', 'b', 'c'] });
  assert.equal(r.data.length, 3);
  assert.ok(r.data[0].embedding.length > 0);
});

test('models list', async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.deepEqual(ids.sort(), ['broken', 'cut', 'gpt-4o-mini']);
});

test('models retrieve', async () => {
  const m = await client.models.retrieve('gpt-4o-mini');
  assert.equal(m.id, 'gpt-4o-mini');
  assert.equal(m.object, 'model');
  await assert.rejects(strict.models.retrieve('gpt-9'),
    (e) => e instanceof OpenAI.NotFoundError && e.code === 'model_not_found');
});

test('unknown model is a NotFoundError', async () => {
  await assert.rejects(strict.chat.completions.create({ model: 'gpt-9', messages }), (e) => {
    assert.ok(e instanceof OpenAI.NotFoundError, e.constructor.name);
    assert.equal(e.status, 404);
    assert.equal(e.code, 'model_not_found');
    return true;
  });
});

test('invalid request is a BadRequestError', async () => {
  await assert.rejects(strict.chat.completions.create({ model: 'gpt-4o-mini', messages: [] }),
    (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && e.param === 'messages');
});

test('failing upstream is an InternalServerError with status 502', async () => {
  await assert.rejects(strict.chat.completions.create({ model: 'broken', messages }),
    (e) => e instanceof OpenAI.InternalServerError && e.status === 502
      && e.code === 'upstream_failed');
});

test('a stream cut by the upstream raises an error, not a silent end', async () => {
  const stream = await strict.chat.completions.create({ model: 'cut', messages, stream: true });
  let chunks = 0;
  await assert.rejects((async () => {
    for await (const chunk of stream) chunks += chunk ? 1 : 0;
  })(), (e) => e instanceof OpenAI.APIError && /ended before it was complete/.test(e.message));
  assert.ok(chunks > 0, 'some chunks arrived before the cut');
});
