// Passkeys with the unmodified @clerk/clerk-js in headless Chromium and DevTools' virtual
// authenticator (CDP WebAuthn domain: a CTAP2 platform authenticator with resident keys and user
// verification, which answers every ceremony itself): clerk.user.createPasskey(), the three
// sign-in flows of signIn.authenticateWithPasskey (discoverable, identified and autofill, i.e.
// conditional mediation, which the virtual authenticator also answers headless), passkey.update
// and passkey.delete, and a deleted passkey refused.
//
// WebAuthn needs a secure context whose host is the RP ID, so the page is served on
// http://localhost:PORT (rp_id = "localhost"). The Frontend API is reached as localhost too
// (clerk-js's proxyUrl), though the server listens on 127.0.0.1: localhost and 127.0.0.1 are
// different sites, and the SameSite=Lax __client cookie only travels to a same-site API.
//
// clerk-js refuses passkeys ("passkey_not_supported") when navigator.webdriver is true, which
// headless Chromium reports unless launched with --disable-blink-features=AutomationControlled.
//
// The virtual authenticator does not implement CTAP2's credProtect extension, so Chromium refuses
// (NotAllowedError, which clerk-js reports as passkey_registration_cancelled) creation options
// with `enforceCredentialProtectionPolicy: true`; the server's must say false or leave it out.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { verifyToken } from '@clerk/backend';
import { chromium } from 'playwright-core';
import { startServer, withServerLog } from '../lib/server.mjs';
import { backendClient, decodeJwt, newCredentials } from '../lib/clerk.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const PAGE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'page');
const CLERK_MJS = fileURLToPath(import.meta.resolve('@clerk/clerk-js'));
const POLL_TIMEOUT_MS = 10_000;

let browser;
let context;
let page;
let cdp;
let authenticatorId;
let app;
let server;
let bapi;
let keys;
/** The Frontend API as the page reaches it: same host (localhost) as the page, the server's port. */
let fapiBase;
const log = [];
const blocked = [];
/** Every request the page sent to the Frontend API: {method, path, params, form}. */
const fapiRequests = [];

/** Serves the test page and clerk-js's ESM bundle on 127.0.0.1, for http://localhost:PORT. */
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
  return {
    origin: `http://localhost:${httpServer.address().port}`,
    close: () =>
      new Promise((resolve) => {
        httpServer.closeAllConnections();
        httpServer.close(resolve);
      }),
  };
}

function isLocal(url) {
  const u = new URL(url);
  return !['http:', 'https:', 'ws:', 'wss:'].includes(u.protocol) || ['127.0.0.1', 'localhost'].includes(u.hostname);
}

before(async () => {
  app = await startPageServer();
  server = await startServer({
    args: ['--allowed-origins', app.origin],
    config: `
[settings.passkeys]
enabled = true
rp_id = "localhost"
origins = ["${app.origin}"]
allow_autofill = true
show_sign_in_button = false
`,
  });
  bapi = backendClient(server);
  keys = await server.keys();
  fapiBase = `http://localhost:${new URL(server.url).port}`;

  try {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--no-first-run',
        '--disable-blink-features=AutomationControlled',
      ],
    });
  } catch (e) {
    throw new Error(`cannot launch ${CHROMIUM} (install Debian's chromium, or set CHROMIUM_PATH): ${e.message}`);
  }
  context = await browser.newContext();
  await context.route(
    (url) => !isLocal(url.href),
    (route) => {
      blocked.push(route.request().url());
      return route.abort('blockedbyclient');
    },
  );
  page = await context.newPage();
  page.on('console', (m) => log.push(`console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => log.push(`pageerror: ${e.stack ?? e.message}`));
  page.on('requestfailed', (r) => log.push(`requestfailed: ${r.method()} ${r.url()} ${r.failure()?.errorText}`));
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (u.origin === fapiBase) {
      const body = r.postData();
      fapiRequests.push({
        method: r.method(),
        path: u.pathname,
        params: Object.fromEntries(u.searchParams),
        form: body ? Object.fromEntries(new URLSearchParams(body)) : {},
      });
    }
  });

  cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  ({ authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  }));
});

after(async () => {
  await browser?.close();
  await app?.close();
  await server?.stop();
});

/** A test whose failure carries the page's log, blocked requests and the server's stderr tail. */
const it = (name, fn) =>
  test(
    name,
    withServerLog(
      () => server,
      async (t) => {
        try {
          return await fn(t);
        } catch (e) {
          e.message += `\n--- page log ---\n${log.slice(-40).join('\n') || '(empty)'}`;
          if (blocked.length) e.message += `\n--- blocked requests ---\n${blocked.join('\n')}`;
          throw e;
        }
      },
    ),
  );

/** Calls `window.e2e[name](...args)` in the page; returns its value or fails with its error. */
async function call(name, ...args) {
  const result = await page.evaluate(([n, a]) => window.e2e[n](...a), [name, args]);
  if (result.error) {
    assert.fail(`page step ${name}(${args.map((a) => JSON.stringify(a)).join(', ')}) failed: ${JSON.stringify(result.error)}`);
  }
  return result.value;
}

/** Calls a page step that must fail; returns the plain error. */
async function callFailing(name, ...args) {
  const result = await page.evaluate(([n, a]) => window.e2e[n](...a), [name, args]);
  assert.ok(result.error, `page step ${name} should have failed but returned ${JSON.stringify(result.value)}`);
  return result.error;
}

/** Asserts a page error is Clerk's API error with this status and first code. */
function assertClerkError(error, status, code, what) {
  const detail = `${what}: ${JSON.stringify(error)}`;
  assert.equal(error.status, status, detail);
  assert.equal(error.errors?.[0]?.code, code, detail);
}

/** (Re)loads the page and runs `clerk.load()` there, with the Frontend API on localhost. */
async function open() {
  await page.goto(`${app.origin}/`);
  await page.waitForFunction(() => window.e2eReady === true, null, { timeout: POLL_TIMEOUT_MS });
  return call('load', server.publishableKey, fapiBase);
}

/**
 * The FAPI requests to /v1/me/passkeys… and /v1/client/sign_ins… made while `fn` ran (leaving out
 * clerk-js's session-token refreshes and user reloads).
 */
async function requestsDuring(fn) {
  const start = fapiRequests.length;
  const value = await fn();
  const requests = fapiRequests
    .slice(start)
    .filter((r) => r.path.startsWith('/v1/me/passkeys') || r.path.startsWith('/v1/client/sign_ins'));
  return { value, requests };
}

/** The virtual authenticator's credentials. */
async function credentials() {
  return (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials;
}

/** setActive on a completed sign-in, then a session token verified with @clerk/backend. */
async function activateAndVerify(signIn, user, what) {
  assert.equal(signIn.status, 'complete', `${what}: sign-in status`);
  assert.deepEqual(signIn.firstFactorVerification, { strategy: 'passkey', status: 'verified' }, what);
  assert.match(signIn.createdSessionId ?? '', /^sess_/, what);
  const active = await call('setActive', signIn.createdSessionId);
  assert.equal(active.userId, user.id, `${what}: the passkey's account is signed in`);
  const token = await call('getToken');
  assert.equal(decodeJwt(token).header.kid, keys.kid);
  const claims = await verifyToken(token, { jwtKey: keys.publicKeyPem, authorizedParties: [app.origin], issuer: server.fapiUrl });
  assert.equal(claims.sub, user.id, what);
  assert.equal(claims.sid, signIn.createdSessionId, what);
  const viaJwks = await verifyToken(token, { secretKey: server.secretKey, apiUrl: server.apiUrl });
  assert.equal(viaJwks.sub, user.id, what);
}

async function signOut() {
  const out = await call('signOut');
  assert.equal(out.sessionId, null, 'clerk.session after signOut');
}

/** Signs out if a session is left over (from a test that failed half-way). */
async function ensureSignedOut() {
  if ((await call('state')).sessionId) await signOut();
}

/** A password sign-in and setActive: what an app does before it manages passkeys. */
async function signInWithPassword(identifier, password) {
  await ensureSignedOut();
  const si = await call('createSignIn', { identifier });
  const done = await call('attemptPassword', password);
  assert.equal(done.status, 'complete');
  await call('setActive', done.createdSessionId);
  return si;
}

/** The user's JSON from the Backend API (@clerk/backend's User does not keep `passkeys`). */
async function bapiUser(userId) {
  const res = await fetch(`${server.apiUrl}/v1/users/${userId}`, { headers: { authorization: `Bearer ${server.secretKey}` } });
  assert.equal(res.status, 200);
  return res.json();
}

describe('passkeys: clerk-js in Chromium with a virtual authenticator', () => {
  const { email, password } = newCredentials('passkey');
  let user;
  let passkeyId;

  it('the environment offers passkeys as clerk-js reads it', async () => {
    user = await bapi.users.createUser({ emailAddress: [email], password, firstName: 'Ada' });
    const loaded = await open();
    assert.equal(loaded.status, 'ready');
    const env = await call('passkeyEnvironment');
    assert.equal(env.webauthnSupported, true, 'clerk-js sees WebAuthn (navigator.webdriver must be false)');
    assert.deepEqual(env.passkeySettings, { allow_autofill: true, show_sign_in_button: false });
    assert.equal(env.passkeyAttribute.enabled, true, JSON.stringify(env.passkeyAttribute));
    assert.equal(env.passkeyAttribute.used_for_first_factor, true, JSON.stringify(env.passkeyAttribute));
    assert.deepEqual(env.passkeyAttribute.first_factors, ['passkey']);
    assert.deepEqual(env.passkeyAttribute.verifications, ['passkey']);
  });

  it('createPasskey: a signed-in user registers a passkey; a failed ceremony leaves none behind', async () => {
    const si = await signInWithPassword(email, password);
    assert.ok(!si.supportedFirstFactors.includes('passkey'), 'no passkey factor before one is registered');
    assert.deepEqual(await call('userPasskeys'), []);

    // The authenticator refuses user verification: clerk-js deletes the passkey it started.
    await cdp.send('WebAuthn.setUserVerified', { authenticatorId, isUserVerified: false });
    const cancelled = await requestsDuring(() => callFailing('createPasskey'));
    await cdp.send('WebAuthn.setUserVerified', { authenticatorId, isUserVerified: true });
    assert.equal(cancelled.value.code, 'passkey_registration_cancelled', JSON.stringify(cancelled.value));
    const [started, discarded] = cancelled.requests;
    assert.deepEqual([started?.method, started?.path], ['POST', '/v1/me/passkeys']);
    assert.match(discarded?.path ?? '', /^\/v1\/me\/passkeys\/[^/]+$/);
    assert.equal(discarded.params._method, 'DELETE', 'clerk-js deletes the unverified passkey with POST ?_method=DELETE');
    assert.deepEqual(await call('userPasskeys'), [], 'the abandoned passkey is gone');
    assert.deepEqual(await credentials(), []);

    const { value: passkey, requests } = await requestsDuring(() => call('createPasskey'));
    assert.match(passkey.id, /^idn_/);
    assert.ok(passkey.name, 'a verified passkey has a default name');
    assert.equal(passkey.lastUsedAt, null);
    assert.equal(passkey.verification?.status, 'verified');
    assert.equal(passkey.verification?.strategy, 'passkey');
    passkeyId = passkey.id;

    // What clerk-js sent: POST /me/passkeys, then attempt_verification with the attestation.
    assert.deepEqual(
      requests.map((r) => `${r.method} ${r.path}`),
      ['POST /v1/me/passkeys', `POST /v1/me/passkeys/${passkeyId}/attempt_verification`],
    );
    const attempt = requests[1].form;
    assert.equal(attempt.strategy, 'passkey');
    const credential = JSON.parse(attempt.public_key_credential);
    assert.equal(credential.type, 'public-key');
    assert.ok(credential.response?.attestationObject && credential.response?.clientDataJSON, attempt.public_key_credential);
    const clientData = JSON.parse(Buffer.from(credential.response.clientDataJSON, 'base64url'));
    assert.equal(clientData.type, 'webauthn.create');
    assert.equal(clientData.origin, app.origin);

    // The authenticator holds one discoverable credential for localhost, named by the user handle.
    const held = await credentials();
    assert.equal(held.length, 1);
    assert.equal(held[0].rpId, 'localhost');
    assert.equal(held[0].isResidentCredential, true);
    assert.equal(Buffer.from(held[0].credentialId, 'base64').toString('base64url'), credential.rawId);

    const listed = await call('userPasskeys');
    assert.deepEqual(listed.map((p) => [p.id, p.name, p.verification?.status]), [[passkeyId, passkey.name, 'verified']]);
    const fromBapi = await bapiUser(user.id);
    assert.deepEqual(fromBapi.passkeys?.map((p) => [p.object, p.id]), [['passkey', passkeyId]]);
    await signOut();
  });

  it("authenticateWithPasskey({flow: 'discoverable'}): no identifier, the credential names the account", async () => {
    await ensureSignedOut();
    const { value: signIn, requests } = await requestsDuring(() => call('authenticateWithPasskey', { flow: 'discoverable' }));
    assert.deepEqual(
      requests.map((r) => `${r.method} ${r.path}`),
      ['POST /v1/client/sign_ins', `POST /v1/client/sign_ins/${signIn.id}/attempt_first_factor`],
    );
    assert.equal(requests[0].form.strategy, 'passkey');
    assert.equal(requests[0].form.identifier, undefined);
    assert.equal(requests[1].form.strategy, 'passkey');
    const assertion = JSON.parse(requests[1].form.public_key_credential);
    assert.ok(assertion.response?.signature && assertion.response?.authenticatorData, requests[1].form.public_key_credential);
    assert.equal(JSON.parse(Buffer.from(assertion.response.clientDataJSON, 'base64url')).type, 'webauthn.get');
    await activateAndVerify(signIn, user, 'discoverable');
    const [used] = await call('userPasskeys');
    assert.ok(used.lastUsedAt, 'last_used_at is set by a sign-in');
    await signOut();
  });

  it('identified: signIn.create({identifier}) offers passkey; authenticateWithPasskey() signs in', async () => {
    await ensureSignedOut();
    const si = await call('createSignIn', { identifier: email });
    assert.equal(si.status, 'needs_first_factor');
    assert.ok(si.supportedFirstFactors.includes('passkey'), JSON.stringify(si.supportedFirstFactors));
    const { value: signIn, requests } = await requestsDuring(() => call('authenticateWithPasskey'));
    assert.deepEqual(
      requests.map((r) => `${r.method} ${r.path}`),
      [`POST /v1/client/sign_ins/${si.id}/prepare_first_factor`, `POST /v1/client/sign_ins/${si.id}/attempt_first_factor`],
    );
    assert.deepEqual(requests[0].form, { strategy: 'passkey' });
    await activateAndVerify(signIn, user, 'identified');
    await signOut();
  });

  // Conditional mediation works headless: with a virtual authenticator Chromium answers a
  // mediation: 'conditional' request at once, without the autofill dropdown a user would pick from.
  it("authenticateWithPasskey({flow: 'autofill'}): conditional mediation", async () => {
    await ensureSignedOut();
    assert.equal(await page.evaluate(() => PublicKeyCredential.isConditionalMediationAvailable()), true);
    const signIn = await call('authenticateWithPasskey', { flow: 'autofill' });
    await activateAndVerify(signIn, user, 'autofill');
    await signOut();
  });

  it('passkey.update renames it; passkey.delete removes it, and the credential is refused after', async () => {
    await signInWithPassword(email, password);
    const { value: renamed, requests: renaming } = await requestsDuring(() => call('updatePasskey', passkeyId, { name: 'Work laptop' }));
    assert.equal(renamed.name, 'Work laptop');
    assert.deepEqual(
      renaming.map((r) => [r.method, r.path, r.params._method, r.form.name]),
      [['POST', `/v1/me/passkeys/${passkeyId}`, 'PATCH', 'Work laptop']],
    );
    assert.deepEqual((await call('userPasskeys')).map((p) => p.name), ['Work laptop']);

    const { value: deleted, requests: deleting } = await requestsDuring(() => call('deletePasskey', passkeyId));
    assert.deepEqual(deleted, { object: 'passkey', id: passkeyId, deleted: true });
    assert.deepEqual(
      deleting.map((r) => [r.method, r.path, r.params._method]),
      [['POST', `/v1/me/passkeys/${passkeyId}`, 'DELETE']],
    );
    assert.deepEqual(await call('userPasskeys'), []);
    assert.deepEqual((await bapiUser(user.id)).passkeys ?? [], []);
    await signOut();

    // The authenticator still holds the credential; the server no longer knows it.
    assert.equal((await credentials()).length, 1);
    const refused = await callFailing('authenticateWithPasskey', { flow: 'discoverable' });
    assertClerkError(refused, 422, 'form_identifier_not_found', 'a deleted passkey, discoverable');
    const si = await call('createSignIn', { identifier: email });
    assert.ok(!si.supportedFirstFactors.includes('passkey'), 'no passkey factor once it is deleted');
  });

  it('a passkey deleted with the Backend API is refused too', async () => {
    await signInWithPassword(email, password);
    await cdp.send('WebAuthn.clearCredentials', { authenticatorId });
    const passkey = await call('createPasskey');
    assert.equal(passkey.verification?.status, 'verified');
    await bapi.users.deleteUserPasskey({ userId: user.id, passkeyIdentificationId: passkey.id });
    assert.deepEqual(await call('userPasskeys'), []);
    await signOut();
    const refused = await callFailing('authenticateWithPasskey', { flow: 'discoverable' });
    assertClerkError(refused, 422, 'form_identifier_not_found', 'a passkey deleted with BAPI');
  });
});
