// Starts and stops a Vestibule server for a test file: a fresh SQLite database in a temporary
// directory, a random secret key, an ephemeral port on 127.0.0.1.

import { spawn, execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);
const E2E_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The binary under test: $VESTIBULE_BIN, or the debug build of this checkout. */
export const VESTIBULE_BIN = process.env.VESTIBULE_BIN
  ? resolve(process.env.VESTIBULE_BIN)
  : resolve(E2E_DIR, '..', 'target', 'debug', 'vestibule');

const STDERR_KEEP_BYTES = 256 * 1024;
const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;

/** Child processes still running, killed if this process exits without stopping them. */
const running = new Set();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

function randomSecretKey(mode) {
  const prefix = mode === 'production' ? 'sk_live_' : 'sk_test_';
  return prefix + randomBytes(20).toString('hex');
}

function modeOf(args) {
  const i = args.indexOf('--mode');
  if (i >= 0) return args[i + 1];
  const eq = args.find((a) => a.startsWith('--mode='));
  return eq ? eq.slice('--mode='.length) : 'development';
}

/** The environment without VESTIBULE_* settings, which would override the flags' defaults. */
function childEnv(extra) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('VESTIBULE_')) env[k] = v;
  }
  env.VESTIBULE_LOG = process.env.VESTIBULE_LOG || 'info,vestibule_server=debug';
  env.NO_COLOR = '1';
  return { ...env, ...extra };
}

/** Parses `  Label:     value` lines of the startup banner. */
function parseBanner(text) {
  const fields = {};
  for (const line of text.split('\n')) {
    const m = /^\s+([A-Za-z ]+):\s+(\S.*)$/.exec(line);
    if (m) fields[m[1].trim()] = m[2].trim();
  }
  return fields;
}

/**
 * Starts `vestibule serve`. Options:
 * - `args`: extra flags, e.g. `['--mode', 'production', '--allowed-origins', 'http://a:1']`;
 * - `env`: extra environment variables;
 * - `config`: the text of a TOML configuration file (e.g. `[settings.…]` sections), written to
 *   the server's directory and passed with `--config` to `serve` and `keys show`;
 * - `clientTrust`: keep client trust on (the server's default). Off unless asked for, so a password
 *   from the test's fresh client completes the sign-in; the client-trust tests turn it on.
 * Resolves once the server answers `GET /v1/environment`.
 */
export async function startServer({ args = [], env = {}, config, clientTrust = false } = {}) {
  if (!clientTrust) config = `${config ?? ''}
[settings.sign_in]
client_trust = false
`;
  const mode = modeOf(args);
  const dir = await mkdtemp(join(tmpdir(), 'vestibule-e2e-'));
  const databaseUrl = `sqlite://${join(dir, 'v.db')}`;
  const secretKey = randomSecretKey(mode);
  const common = ['--database-url', databaseUrl, '--secret-key', secretKey];
  if (config !== undefined) {
    const configPath = join(dir, 'vestibule.toml');
    await writeFile(configPath, config);
    common.push('--config', configPath);
  }
  const fullArgs = ['serve', '--listen', '127.0.0.1:0', ...common, ...args];

  const child = spawn(VESTIBULE_BIN, fullArgs, {
    cwd: dir,
    env: childEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);

  let stdout = '';
  let stderr = '';
  let exited = null;
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
    if (stderr.length > STDERR_KEEP_BYTES) stderr = stderr.slice(-STDERR_KEEP_BYTES);
  });
  const exitPromise = new Promise((resolveExit) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      running.delete(child);
      resolveExit(exited);
    });
  });
  const spawnError = new Promise((_, reject) => child.once('error', reject));

  const stderrTail = (lines = 60) => {
    // eslint-disable-next-line no-control-regex
    const all = stderr.replace(/\x1b\[[0-9;]*m/g, '').trimEnd().split('\n');
    return all.slice(-lines).join('\n');
  };

  const describe = (what) =>
    `${what}\n--- vestibule ${fullArgs[0]} (${VESTIBULE_BIN}) exit=${JSON.stringify(exited)}\n` +
    `--- stdout ---\n${stdout}\n--- stderr (tail) ---\n${stderrTail()}`;

  // The banner ends with "Listening on:"; wait for it, for an exit, or for the timeout.
  const banner = await new Promise((resolveBanner, rejectBanner) => {
    const timer = setTimeout(
      () => rejectBanner(new Error(describe(`no startup banner within ${READY_TIMEOUT_MS} ms`))),
      READY_TIMEOUT_MS,
    );
    const onData = (chunk) => {
      stdout += chunk;
      if (/^\s+Listening on:.*\n/m.test(stdout)) {
        clearTimeout(timer);
        child.stdout.off('data', onData);
        // Keep draining stdout so the child never blocks on a full pipe.
        child.stdout.on('data', (c) => (stdout += c));
        resolveBanner(parseBanner(stdout));
      }
    };
    child.stdout.on('data', onData);
    exitPromise.then(() => {
      clearTimeout(timer);
      rejectBanner(new Error(describe('vestibule exited before it was ready')));
    });
    spawnError.catch((e) => {
      clearTimeout(timer);
      rejectBanner(
        new Error(`cannot run ${VESTIBULE_BIN}: ${e.message} (build it with cargo build -p vestibule, or set VESTIBULE_BIN)`),
      );
    });
  }).catch(async (e) => {
    child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw e;
  });

  const fapiUrl = banner['Frontend API'];
  const publishableKey = banner['Publishable key'];
  const listen = banner['Listening on'];
  for (const [name, value] of Object.entries({ fapiUrl, publishableKey, listen })) {
    if (!value) {
      child.kill('SIGKILL');
      throw new Error(describe(`startup banner lacks ${name}`));
    }
  }

  const server = {
    mode,
    dir,
    databaseUrl,
    secretKey,
    publishableKey,
    listen,
    /** Where the server listens: clerk-js's `proxyUrl`, and the base of raw requests. */
    url: `http://${listen}`,
    /** The Frontend API URL the instance was configured with (the publishable key's host and
     *  the session token's `iss`); the same as `url` unless `--frontend-api-url` was given. */
    fapiUrl,
    /** Where @clerk/backend's `apiUrl` points: the same origin (it appends /v1 itself). */
    apiUrl: `http://${listen}`,
    banner,
    get exited() {
      return exited;
    },
    stderrTail,
    /** A failure message with the server's stderr tail attached. */
    describe,
    /** `vestibule keys show` for this instance: publishable key, secret key, kid and PEM. */
    async keys() {
      const keyArgs = [
        'keys',
        'show',
        ...common,
        '--frontend-api-url',
        fapiUrl,
        ...args.filter((a, i) => passThroughKeyArg(args, i)),
      ];
      let out;
      try {
        out = await execFileAsync(VESTIBULE_BIN, keyArgs, { cwd: dir, env: childEnv({}) });
      } catch (e) {
        throw new Error(describe(`vestibule keys show failed: ${e.message}\n${e.stderr ?? ''}`));
      }
      const text = out.stdout;
      const field = (label) => new RegExp(`^${label}:\\s+(\\S+)`, 'm').exec(text)?.[1];
      const pem = /-----BEGIN PUBLIC KEY-----[\s\S]+?-----END PUBLIC KEY-----/.exec(text)?.[0];
      const keys = {
        publishableKey: field('Publishable key'),
        secretKey: field('Secret key'),
        kid: field('Signing key id'),
        publicKeyPem: pem,
      };
      if (!keys.kid || !keys.publicKeyPem) {
        throw new Error(describe(`cannot parse vestibule keys show output:\n${text}`));
      }
      return keys;
    },
    /** SIGTERM, then SIGKILL if it does not exit in time; removes the database directory. */
    async stop() {
      if (!exited) {
        child.kill('SIGTERM');
        let timer;
        const timeout = new Promise((r) => {
          timer = setTimeout(() => r('timeout'), STOP_TIMEOUT_MS);
        });
        const outcome = await Promise.race([exitPromise, timeout]);
        clearTimeout(timer);
        if (outcome === 'timeout') {
          child.kill('SIGKILL');
          await exitPromise;
        }
      }
      await rm(dir, { recursive: true, force: true });
      return exited;
    },
  };

  await waitUntilReady(server);
  return server;
}

/**
 * Per-IP rate limits high enough for a test file whose every request comes from 127.0.0.1. The
 * per-identifier and per-user limits keep their defaults: each test uses its own user.
 */
export const RELAXED_IP_RATE_LIMITS = `
[settings.rate_limits.sign_in_create_per_ip]
max = 100000
window_seconds = 10

[settings.rate_limits.attempts_per_ip]
max = 100000
window_seconds = 10
`;

/** Flags of `serve` that `keys show` needs too (the Frontend API URL is passed explicitly). */
function passThroughKeyArg(args, i) {
  const takesValue = ['--mode', '--smtp-url', '--email-from', '--sms-webhook-url', '--sms-webhook-secret'];
  if (takesValue.includes(args[i])) return true;
  if (i > 0 && takesValue.includes(args[i - 1])) return true;
  return takesValue.some((f) => args[i].startsWith(`${f}=`));
}

async function waitUntilReady(server) {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last;
  while (Date.now() < deadline) {
    if (server.exited) break;
    try {
      const res = await fetch(`${server.url}/v1/environment`);
      if (res.ok) {
        await res.arrayBuffer();
        return;
      }
      last = `HTTP ${res.status}`;
    } catch (e) {
      last = e.message;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  await server.stop().catch(() => {});
  throw new Error(server.describe(`vestibule did not answer GET /v1/environment (last: ${last})`));
}

/**
 * Wraps a test body so that any failure carries the server's stderr tail.
 * Usage: `test('name', withServerLog(() => server, async (t) => { ... }))`.
 */
export function withServerLog(getServer, fn) {
  return async (t) => {
    try {
      return await fn(t);
    } catch (err) {
      const server = getServer();
      if (!server) throw err;
      const wrapped = new Error(
        `${err?.message ?? err}\n--- vestibule stderr (tail) ---\n${server.stderrTail()}`,
        { cause: err },
      );
      throw wrapped;
    }
  };
}
