// @clerk/clerk-js in headless Chromium, in standard-browser mode: the page is served from one
// origin of 127.0.0.1 and the Frontend API lives on another (same site). In cookie mode the
// client is identified by the HttpOnly __client cookie the server sets; in dev-browser mode by the
// __clerk_db_jwt token clerk-js obtains and sends on every request.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { verifyToken } from '@clerk/backend';
import { chromium } from 'playwright-core';
import { startServer, withServerLog } from '../lib/server.mjs';
import { codeIn, startSmtpSink } from '../lib/sinks.mjs';
import {
  assertErrorResponse,
  backendClient,
  decodeJwt,
  fapiRequest,
  newCredentials,
  requestSessionToken,
} from '../lib/clerk.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const PAGE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'page');
// The package's self-contained ESM build (its "import" export).
const CLERK_MJS = fileURLToPath(import.meta.resolve('@clerk/clerk-js'));
const POLL_TIMEOUT_MS = 10_000;

let browser;

before(async () => {
  try {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--no-first-run',
      ],
    });
  } catch (e) {
    throw new Error(`cannot launch ${CHROMIUM} (install Debian's chromium, or set CHROMIUM_PATH): ${e.message}`);
  }
});

after(async () => {
  await browser?.close();
});

/** Serves the test page and clerk-js's ESM bundle on an ephemeral port of 127.0.0.1. */
async function startPageServer() {
  const files = {
    '/': { path: join(PAGE_DIR, 'index.html'), type: 'text/html; charset=utf-8' },
    '/clerk.mjs': { path: CLERK_MJS, type: 'text/javascript; charset=utf-8' },
  };
  const httpServer = createServer(async (req, res) => {
    const file = files[new URL(req.url, 'http://x').pathname];
    if (!file || req.method !== 'GET') {
      res.writeHead(404).end();
      return;
    }
    try {
      const body = await readFile(file.path);
      res.writeHead(200, { 'content-type': file.type, 'cache-control': 'no-store' }).end(body);
    } catch (e) {
      res.writeHead(500).end(String(e));
    }
  });
  await new Promise((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  const { port } = httpServer.address();
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        httpServer.closeAllConnections();
        httpServer.close(resolve);
      }),
  };
}

function isLocal(url) {
  const u = new URL(url);
  return !['http:', 'https:', 'ws:', 'wss:'].includes(u.protocol) || u.hostname === '127.0.0.1';
}

/**
 * One browser scenario: a Vestibule server, the page server, a fresh browser context and page,
 * and what the page logged and requested. `serverArgs(pageOrigin)` gives extra server flags.
 */
function scenario(serverArgs = () => []) {
  const s = {
    server: null,
    bapi: null,
    keys: null,
    app: null,
    context: null,
    page: null,
    log: [],
    blocked: [],
    /** Every request the page sent to the Frontend API: {method, path, params}. */
    fapiRequests: [],
  };

  before(async () => {
    s.app = await startPageServer();
    s.server = await startServer({ args: serverArgs(s.app.origin) });
    s.bapi = backendClient(s.server);
    s.keys = await s.server.keys();
    s.context = await browser.newContext();
    // The page may talk to 127.0.0.1 only; anything else is refused and recorded.
    await s.context.route(
      (url) => !isLocal(url.href),
      (route) => {
        s.blocked.push(route.request().url());
        return route.abort('blockedbyclient');
      },
    );
    s.page = await s.context.newPage();
    s.page.on('console', (m) => s.log.push(`console.${m.type()}: ${m.text()}`));
    s.page.on('pageerror', (e) => s.log.push(`pageerror: ${e.stack ?? e.message}`));
    s.page.on('requestfailed', (r) => s.log.push(`requestfailed: ${r.method()} ${r.url()} ${r.failure()?.errorText}`));
    s.page.on('request', (r) => {
      const u = new URL(r.url());
      if (u.origin === s.server.url) {
        s.fapiRequests.push({ method: r.method(), path: u.pathname, params: Object.fromEntries(u.searchParams) });
      }
    });
  });

  after(async () => {
    await s.context?.close();
    await s.app?.close();
    await s.server?.stop();
  });

  /** A test whose failure message carries the page's log and the server's stderr tail. */
  s.it = (name, fn) =>
    test(
      name,
      withServerLog(
        () => s.server,
        async (t) => {
          try {
            return await fn(t);
          } catch (e) {
            e.message += `\n--- page log ---\n${s.log.slice(-40).join('\n') || '(empty)'}`;
            if (s.blocked.length) e.message += `\n--- blocked requests ---\n${s.blocked.join('\n')}`;
            throw e;
          }
        },
      ),
    );

  /** Calls `window.e2e[name](...args)` in the page; returns its value or fails with its error. */
  s.call = async (name, ...args) => {
    const result = await s.page.evaluate(([n, a]) => window.e2e[n](...a), [name, args]);
    if (result.error) {
      assert.fail(`page step ${name}(${args.map((a) => JSON.stringify(a)).join(', ')}) failed: ${JSON.stringify(result.error)}`);
    }
    return result.value;
  };

  /** Calls a page step that must fail; returns the plain error. */
  s.callFailing = async (name, ...args) => {
    const result = await s.page.evaluate(([n, a]) => window.e2e[n](...a), [name, args]);
    assert.ok(result.error, `page step ${name} should have failed but returned ${JSON.stringify(result.value)}`);
    return result.error;
  };

  /** (Re)loads the page and runs `clerk.load()` there. */
  s.open = async () => {
    await s.page.goto(`${s.app.origin}/`);
    await s.page.waitForFunction(() => window.e2eReady === true, null, { timeout: POLL_TIMEOUT_MS });
    return s.call('load', s.server.publishableKey, s.server.url);
  };

  s.cookies = async () => {
    const all = await s.context.cookies();
    return Object.fromEntries(all.map((c) => [c.name, c]));
  };

  /** Polls the browser's cookies until `predicate(cookies)` holds. */
  s.waitForCookies = async (predicate, what) => {
    const deadline = Date.now() + POLL_TIMEOUT_MS;
    let cookies;
    while (Date.now() < deadline) {
      cookies = await s.cookies();
      if (predicate(cookies)) return cookies;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.fail(`${what}: not so within ${POLL_TIMEOUT_MS} ms; cookies: ${JSON.stringify(cookies)}`);
  };

  return s;
}

/**
 * The password flow every mode shares: identifier, a wrong then the right password, setActive,
 * getToken verified in Node with the PEM and with JWKS. Returns the user, session and token.
 */
async function signInInPage(s, { onClientCreated = async () => {} } = {}) {
  const { email, password } = newCredentials('browser');
  const user = await s.bapi.users.createUser({ emailAddress: [email], password, firstName: 'Grace' });

  const loaded = await s.open();
  assert.equal(loaded.status, 'ready', `clerk.status after load: ${loaded.status}`);
  assert.equal(loaded.sessionId, null);

  const si = await s.call('createSignIn', { identifier: email });
  assert.equal(si.status, 'needs_first_factor');
  assert.ok(si.supportedFirstFactors.includes('password'), JSON.stringify(si.supportedFirstFactors));
  assert.equal(si.userData.firstName, 'Grace');
  await onClientCreated();

  // A wrong password is a 422 the app can show, and changes nothing.
  const wrong = await s.callFailing('attemptPassword', `${password}-wrong`);
  assert.equal(wrong.status, 422, JSON.stringify(wrong));
  assert.equal(wrong.errors?.[0]?.code, 'form_password_incorrect', JSON.stringify(wrong));
  assert.equal(wrong.errors?.[0]?.meta?.paramName, 'password', JSON.stringify(wrong));
  assert.equal((await s.call('state')).sessionId, null);

  const done = await s.call('attemptPassword', password);
  assert.equal(done.status, 'complete');
  assert.match(done.createdSessionId ?? '', /^sess_/);
  const sessionId = done.createdSessionId;

  const active = await s.call('setActive', sessionId);
  assert.equal(active.sessionId, sessionId);
  assert.equal(active.sessionStatus, 'active');
  assert.equal(active.userId, user.id);

  const token = await s.call('getToken');
  const { header, payload: claims } = decodeJwt(token);
  assert.equal(header.kid, s.keys.kid);
  assert.equal(claims.azp, s.app.origin, 'azp is the page origin');
  for (const [how, options] of [
    ['jwtKey (PEM)', { jwtKey: s.keys.publicKeyPem }],
    ['secretKey + apiUrl (JWKS)', { secretKey: s.server.secretKey, apiUrl: s.server.apiUrl }],
  ]) {
    const payload = await verifyToken(token, {
      ...options,
      authorizedParties: [s.app.origin],
      issuer: s.server.fapiUrl,
    });
    assert.equal(payload.sub, user.id, `verifyToken via ${how}: sub`);
    assert.equal(payload.sid, sessionId, `verifyToken via ${how}: sid`);
  }
  const fresh = await s.call('getToken', { skipCache: true });
  assert.equal((await verifyToken(fresh, { jwtKey: s.keys.publicKeyPem })).sid, sessionId);

  // clerk-js writes the session token to a (non-HttpOnly) __session cookie.
  const cookies = await s.waitForCookies(
    (c) => c.__session && decodeJwt(c.__session.value).payload.sid === sessionId,
    '__session cookie with the session token',
  );
  assert.equal(cookies.__session.httpOnly, false, '__session is written by clerk-js, not the server');
  const sessionCookieClaims = await verifyToken(cookies.__session.value, { jwtKey: s.keys.publicKeyPem });
  assert.equal(sessionCookieClaims.sub, user.id);

  return { user, sessionId, token };
}

/**
 * What an app server's middleware (@clerk/nextjs, @clerk/express) does with a page request:
 * `authenticateRequest` on a request carrying the browser's cookies for the page origin.
 */
async function authenticateAppRequest(s) {
  const cookies = await s.context.cookies(s.app.origin);
  const request = new Request(`${s.app.origin}/dashboard`, {
    headers: {
      cookie: cookies.map((c) => `${c.name}=${c.value}`).join('; '),
      accept: 'text/html',
      'sec-fetch-dest': 'document',
    },
  });
  const client = backendClient(s.server, s.server.secretKey, { publishableKey: s.server.publishableKey });
  const state = await client.authenticateRequest(request, {
    authorizedParties: [s.app.origin],
    proxyUrl: s.server.url,
  });
  const describe = () =>
    `authenticateRequest: ${state.status} (${state.reason ?? ''} ${state.message ?? ''}) ` +
    `location=${state.headers?.get('location')} cookies=${JSON.stringify(cookies.map((c) => c.name))}`;
  return { state, auth: state.toAuth?.() ?? null, describe };
}

/** signOut in the page: no session left, __session cookie gone, the session ended server-side. */
async function signOutInPage(s, sessionId) {
  const out = await s.call('signOut');
  assert.equal(out.sessionId, null, 'clerk.session after signOut');
  assert.equal(out.navigated, true, 'signOut should run its callback in place of navigating');
  assert.deepEqual(out.signedInSessions, []);
  await s.waitForCookies((c) => !c.__session, '__session cookie removed after signOut');

  // The page's own credentials can no longer mint a token for the session.
  const inPage = await s.call('rawTokenRequest', s.server.url, sessionId);
  assert.equal(inPage.status, 401, JSON.stringify(inPage.body));
  assert.equal(inPage.body?.errors?.[0]?.code, 'signed_out', JSON.stringify(inPage.body));
  const ended = await s.bapi.sessions.getSession(sessionId);
  assert.ok(['removed', 'ended'].includes(ended.status), `session status after signOut: ${ended.status}`);

  const afterReload = await s.open();
  assert.equal(afterReload.sessionId, null, 'a reload after signOut must stay signed out');
}

describe('development instance, cookie mode', () => {
  // Mail leaves over SMTP to a server in this process (registered before the scenario's hooks,
  // so it listens before the Vestibule server starts).
  let smtp;
  before(async () => {
    smtp = await startSmtpSink();
  });
  after(async () => {
    await smtp?.close();
  });
  const s = scenario(() => ['--smtp-url', smtp.url, '--email-from', 'Vestibule <no-reply@vestibule.test>']);

  s.it('password sign-in, setActive, getToken, reload, signOut', async (t) => {
    let clientCookie;
    const { user, sessionId } = await signInInPage(s, {
      // The first sign-in call creates the client and sets its HttpOnly cookie.
      onClientCreated: async () => {
        const cookies = await s.cookies();
        clientCookie = cookies.__client;
        assert.ok(clientCookie, `no __client cookie after signIn.create; cookies: ${JSON.stringify(Object.keys(cookies))}`);
        assert.equal(clientCookie.httpOnly, true, '__client must be HttpOnly');
        assert.equal(clientCookie.domain, '127.0.0.1');
        assert.equal(clientCookie.path, '/');
        assert.ok(clientCookie.value.length >= 32, 'the client token is long enough to be unguessable');
        const { documentCookie } = await s.call('state');
        assert.ok(!documentCookie.includes('__client='), `page script can read __client: ${documentCookie}`);
      },
    });

    // Development instances are touched with PATCH, over POST ?_method=PATCH.
    assert.ok(
      s.fapiRequests.some((r) => r.path === '/v1/environment' && r.method === 'POST' && r.params._method === 'PATCH'),
      `no environment touch: ${JSON.stringify(s.fapiRequests.map((r) => `${r.method} ${r.path}`))}`,
    );
    const cookies = await s.cookies();
    assert.ok(cookies.__client?.httpOnly, '__client cookie lost after sign-in');
    assert.notEqual(cookies.__client.value, clientCookie.value, 'the __client token must change at sign-in');
    const signedInClientCookie = cookies.__client.value;

    // The __client cookie alone identifies the client to the Frontend API.
    const byCookie = await requestSessionToken(s.server, sessionId, { cookie: signedInClientCookie });
    assert.equal(byCookie.status, 200, JSON.stringify(byCookie.body));
    assert.equal(decodeJwt(byCookie.body.jwt).payload.sid, sessionId);
    const byOldCookie = await requestSessionToken(s.server, sessionId, { cookie: clientCookie.value });
    assert.notEqual(byOldCookie.status, 200, 'the pre-sign-in __client token must not mint for the new session');

    // A reload restores the session from the cookie.
    const reloaded = await s.open();
    assert.equal(reloaded.sessionId, sessionId, 'session not restored after a reload');
    assert.equal(reloaded.userId, user.id);

    await signOutInPage(s, sessionId);
    assert.ok((await s.cookies()).__client, 'the client (and its cookie) outlives sign-out');
    const afterSignOut = await requestSessionToken(s.server, sessionId, { cookie: signedInClientCookie });
    assertErrorResponse(afterSignOut, 401, 'signed_out', 'minting with the __client cookie after signOut');

    if (s.blocked.length) t.diagnostic(`requests to other hosts were blocked: ${s.blocked.join(', ')}`);
  });

  s.it('email_code sign-in driven from the page: the code from the SMTP server, a wrong then the right one', async () => {
    const { email } = newCredentials('browsercode');
    const user = await s.bapi.users.createUser({ emailAddress: [email], firstName: 'Grace', skipPasswordRequirement: true });
    assert.equal(user.passwordEnabled, false);

    const loaded = await s.open();
    assert.equal(loaded.sessionId, null, 'signed out before this test');
    const si = await s.call('createSignIn', { identifier: email });
    assert.equal(si.status, 'needs_first_factor');
    assert.ok(!si.supportedFirstFactors.includes('password'), 'a user without a password is offered none');
    const emailCode = si.firstFactors.find((f) => f.strategy === 'email_code');
    assert.ok(emailCode?.emailAddressId, `no email_code factor: ${JSON.stringify(si.firstFactors)}`);

    const prepared = await s.call('prepareFirstFactor', { strategy: 'email_code', emailAddressId: emailCode.emailAddressId });
    assert.deepEqual(prepared.firstFactorVerification, { strategy: 'email_code', status: 'unverified' });
    const code = codeIn(await smtp.next(email));

    const wrong = await s.callFailing('attemptFirstFactor', {
      strategy: 'email_code',
      code: code === '000000' ? '111111' : '000000',
    });
    assert.equal(wrong.status, 422, JSON.stringify(wrong));
    assert.equal(wrong.errors?.[0]?.code, 'form_code_incorrect', JSON.stringify(wrong));
    assert.equal(wrong.errors?.[0]?.meta?.paramName, 'code', JSON.stringify(wrong));

    const done = await s.call('attemptFirstFactor', { strategy: 'email_code', code });
    assert.equal(done.status, 'complete');
    assert.equal(done.firstFactorVerification.status, 'verified');
    const sessionId = done.createdSessionId;
    const active = await s.call('setActive', sessionId);
    assert.equal(active.userId, user.id);

    const token = await s.call('getToken');
    const payload = await verifyToken(token, {
      jwtKey: s.keys.publicKeyPem,
      authorizedParties: [s.app.origin],
      issuer: s.server.fapiUrl,
    });
    assert.equal(payload.sub, user.id);
    assert.equal(payload.sid, sessionId);
    assert.equal(payload.azp, s.app.origin);
    // The HttpOnly __client cookie carries the session to the Frontend API.
    const { __client: clientCookie } = await s.cookies();
    const byCookie = await requestSessionToken(s.server, sessionId, { cookie: clientCookie.value });
    assert.equal(byCookie.status, 200, JSON.stringify(byCookie.body));
    await signOutInPage(s, sessionId);
  });
});

describe('production instance, cookie mode', () => {
  // A production instance must be able to send the codes it offers; this flow sends none, so the
  // transports point at a closed port.
  const s = scenario((origin) => [
    '--mode', 'production', '--allowed-origins', origin,
    '--smtp-url', 'smtp://127.0.0.1:9?tls=none', '--email-from', 'Vestibule <no-reply@vestibule.test>',
    '--sms-webhook-url', 'http://127.0.0.1:9/sms',
  ]);

  s.it('pk_live_: GET environment, __client and __client_uat from the server, authenticateRequest, signOut', async () => {
    assert.match(s.server.publishableKey, /^pk_live_/);
    const { user, sessionId } = await signInInPage(s);

    assert.ok(
      s.fapiRequests.some((r) => r.path === '/v1/environment' && r.method === 'GET'),
      `production loads the environment with GET: ${JSON.stringify(s.fapiRequests.map((r) => `${r.method} ${r.path}`))}`,
    );
    let cookies = await s.cookies();
    assert.equal(cookies.__client?.httpOnly, true, `__client: ${JSON.stringify(cookies.__client)}`);
    assert.ok(cookies.__client_uat, `a production FAPI sets __client_uat; cookies: ${JSON.stringify(Object.keys(cookies))}`);
    assert.ok(Number(cookies.__client_uat.value) > 0, `__client_uat while signed in: ${cookies.__client_uat.value}`);

    const signedIn = await authenticateAppRequest(s);
    assert.equal(signedIn.state.status, 'signed-in', signedIn.describe());
    assert.equal(signedIn.auth?.userId, user.id, signedIn.describe());
    assert.equal(signedIn.auth?.sessionId, sessionId, signedIn.describe());

    await signOutInPage(s, sessionId);
    cookies = await s.waitForCookies((c) => c.__client_uat?.value === '0', '__client_uat=0 after signOut');
    assert.ok(cookies.__client, 'the client (and its cookie) outlives sign-out');
    const signedOut = await authenticateAppRequest(s);
    assert.equal(signedOut.state.status, 'signed-out', signedOut.describe());
  });

  s.it('an origin that is not allowed gets 403 origin_invalid', async () => {
    const res = await fetch(`${s.server.url}/v1/environment`, { headers: { origin: 'http://127.0.0.1:9' } });
    assert.equal(res.status, 403);
    assert.equal((await res.json()).errors?.[0]?.code, 'origin_invalid');
    const ok = await fetch(`${s.server.url}/v1/environment`, { headers: { origin: s.app.origin } });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('access-control-allow-origin'), s.app.origin);
    assert.equal(ok.headers.get('access-control-allow-credentials'), 'true');
  });
});

describe('development instance, dev-browser mode', () => {
  // A publishable key for an accounts.dev host makes clerk-js use a dev browser; proxyUrl still
  // sends every request to this server.
  const s = scenario(() => ['--frontend-api-url', 'http://vestibule-e2e.accounts.dev']);

  s.it('POST /v1/dev_browser, __clerk_db_jwt on every request, sign-in, authenticateRequest, signOut', async () => {
    const { user, sessionId } = await signInInPage(s);

    const first = s.fapiRequests[0];
    assert.deepEqual(
      first && [first.method, first.path],
      ['POST', '/v1/dev_browser'],
      `the first FAPI request: ${JSON.stringify(first)}`,
    );
    const later = s.fapiRequests.slice(1);
    const without = later.filter((r) => !r.params.__clerk_db_jwt);
    assert.deepEqual(without, [], 'every request after the dev browser carries __clerk_db_jwt');
    const cookies = await s.cookies();
    assert.ok(cookies.__clerk_db_jwt?.value, `no __clerk_db_jwt cookie: ${JSON.stringify(Object.keys(cookies))}`);
    assert.equal(cookies.__client, undefined, 'a dev browser needs no __client cookie');
    const devBrowser = later.at(-1).params.__clerk_db_jwt;
    assert.equal(cookies.__clerk_db_jwt.value, devBrowser, 'clerk-js keeps the dev browser token in its cookie');
    // The server rotates the dev browser token at sign-in (Clerk-Db-Jwt response header).
    const initial = later[0].params.__clerk_db_jwt;
    assert.notEqual(initial, devBrowser, 'the dev browser token must change at sign-in');
    const stale = await fapiRequest(s.server, `/client?__clerk_db_jwt=${initial}`, { method: 'GET' });
    assertErrorResponse(stale, 401, 'dev_browser_unauthenticated', 'the dev browser token from before sign-in');

    // The dev-browser token identifies the client.
    const token = await fapiRequest(s.server, `/client/sessions/${sessionId}/tokens?__clerk_db_jwt=${devBrowser}`, {
      form: { organization_id: '' },
    });
    assert.equal(token.status, 200, JSON.stringify(token.body));

    // A development app server needs the dev browser cookie to authenticate a page request.
    const signedIn = await authenticateAppRequest(s);
    assert.equal(signedIn.state.status, 'signed-in', signedIn.describe());
    assert.equal(signedIn.auth?.userId, user.id, signedIn.describe());

    await signOutInPage(s, sessionId);
    const signedOut = await authenticateAppRequest(s);
    assert.equal(signedOut.state.status, 'signed-out', signedOut.describe());
    const afterSignOut = await fapiRequest(
      s.server,
      `/client/sessions/${sessionId}/tokens?__clerk_db_jwt=${devBrowser}`,
      { form: { organization_id: '' } },
    );
    assertErrorResponse(afterSignOut, 401, 'signed_out', 'minting with the dev browser after signOut');

    const unknown = await fapiRequest(s.server, '/client?__clerk_db_jwt=not-a-dev-browser', { method: 'GET' });
    assertErrorResponse(unknown, 401, 'dev_browser_unauthenticated', 'an unknown dev browser');
  });
});
