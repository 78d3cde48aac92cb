// Helpers shared by the test files: clerk-js in Node's native (header) mode, raw Frontend API
// calls, Clerk error assertions, and small JWT and test-data utilities.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import './node-env.mjs';
import { Clerk } from '@clerk/clerk-js';
import { createClerkClient } from '@clerk/backend';

/** A Backend API client for `server`, or with another secret key. */
export function backendClient(server, secretKey = server.secretKey, options = {}) {
  return createClerkClient({ secretKey, apiUrl: server.apiUrl, telemetry: { disabled: true }, ...options });
}

/** A unique e-mail address and a password good enough for any password policy. */
export function newCredentials(label) {
  const tag = randomBytes(5).toString('hex');
  return {
    email: `${label}-${tag}@example.com`,
    password: `Pw-${randomBytes(9).toString('base64url')}-7q!`,
  };
}

/**
 * clerk-js as the native wrappers (Expo, Chrome extension) run it: no cookies, `_is_native=1`,
 * the client token in the `authorization` request header, and the `authorization` response header
 * stored as the new client token. Resolves after `load({standardBrowser: false})`. With
 * `clientToken`, it starts as an app restarted with that stored token.
 *
 * clerk-js keeps one Clerk per page: each new instance becomes the one every resource object
 * (SignIn, Session, …) sends its requests through. Use a Clerk's resources before loading the next.
 */
export async function loadNativeClerk(server, { clientToken = null } = {}) {
  const clerk = new Clerk(server.publishableKey, { proxyUrl: server.url });
  const native = {
    clerk,
    /** The client token last returned in the `authorization` response header. */
    clientToken,
    /** Every client token the server handed out, in order. */
    issuedTokens: [],
    /** The last response clerk-js read: `{status, payload}` (the parsed JSON body). clerk-js's
     *  errors keep only some of an error's `meta` keys; the payload has them all. */
    lastResponse: null,
  };
  clerk.__internal_onBeforeRequest((req) => {
    req.credentials = 'omit';
    req.url.searchParams.append('_is_native', '1');
    if (native.clientToken) req.headers.set('authorization', native.clientToken);
  });
  clerk.__internal_onAfterResponse((_req, res) => {
    native.lastResponse = { status: res?.status, payload: res?.payload ?? null };
    const token = res?.headers.get('authorization');
    if (token) {
      if (token !== native.clientToken) native.issuedTokens.push(token);
      native.clientToken = token;
    }
  });
  await clerk.load({ standardBrowser: false, telemetry: false });
  assert.equal(clerk.loaded, true, 'clerk.load() resolved but clerk.loaded is not true');
  return native;
}

/**
 * `clerk.signOut()` in Node: it makes the network call and clears the session, then throws
 * `window is not defined` from a log line that reads `window.location`. Only that error is
 * tolerated.
 */
export async function signOutInNode(clerk) {
  try {
    await clerk.signOut();
  } catch (e) {
    if (!(e instanceof ReferenceError && /window is not defined/.test(e.message))) throw e;
  }
}

/**
 * A raw Frontend API call, as clerk-js would make it, identifying the client by a native client
 * token or a `__client` cookie value. Returns `{status, headers, body}`.
 */
export async function fapiRequest(server, path, { method = 'POST', clientToken, cookie, form } = {}) {
  const url = new URL(`${server.url}/v1${path}`);
  url.searchParams.set('__clerk_api_version', '2026-08-20');
  const headers = {};
  if (clientToken !== undefined) {
    url.searchParams.set('_is_native', '1');
    headers.authorization = clientToken;
  }
  if (cookie !== undefined) headers.cookie = `__client=${cookie}`;
  let body;
  if (method !== 'GET') {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(form ?? {}).toString();
  }
  const res = await fetch(url, { method, headers, body });
  const text = await res.text();
  let json;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = text;
  }
  return { status: res.status, headers: res.headers, body: json };
}

/** `POST /v1/client/sessions/{sid}/tokens`, the call behind `session.getToken()`. */
export function requestSessionToken(server, sessionId, identity) {
  return fapiRequest(server, `/client/sessions/${sessionId}/tokens`, {
    ...identity,
    form: { organization_id: '' },
  });
}

/** Asserts that a raw response is Clerk's error envelope with this status and code. */
export function assertErrorResponse(res, status, code, what) {
  const detail = `${what}: got HTTP ${res.status} ${JSON.stringify(res.body)}`;
  assert.equal(res.status, status, detail);
  assert.ok(Array.isArray(res.body?.errors) && res.body.errors.length > 0, detail);
  assert.equal(res.body.errors[0].code, code, detail);
}

/**
 * Awaits `promise`, which must reject with a Clerk API error (clerk-js's or @clerk/backend's
 * ClerkAPIResponseError) of this status and first error code. Returns the error.
 */
export async function rejectsWithClerkError(promise, { status, code, paramName }, what) {
  let error;
  try {
    const value = await promise;
    assert.fail(`${what}: expected HTTP ${status} ${code}, but it succeeded with ${describeValue(value)}`);
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    error = e;
  }
  const detail = () =>
    `${what}: expected HTTP ${status} ${code}, got ${error?.name}: ${error?.message} ` +
    `(status ${error?.status}, errors ${JSON.stringify(error?.errors?.map((x) => ({ code: x.code, meta: x.meta })))})\n${error?.stack}`;
  assert.ok(Array.isArray(error?.errors), detail());
  assert.equal(error.status, status, detail());
  assert.equal(error.errors[0]?.code, code, detail());
  if (paramName !== undefined) assert.equal(error.errors[0]?.meta?.paramName, paramName, detail());
  return error;
}

function describeValue(v) {
  if (v && typeof v === 'object') {
    return `${v.constructor?.name ?? 'object'} ${JSON.stringify({ id: v.id, status: v.status })}`;
  }
  return String(v);
}

/** The decoded header and payload of a JWT (no verification). */
export function decodeJwt(jwt) {
  assert.equal(typeof jwt, 'string', `expected a JWT string, got ${typeof jwt}`);
  const parts = jwt.split('.');
  assert.equal(parts.length, 3, `expected a three-part JWT, got ${JSON.stringify(jwt)}`);
  const part = (s) => JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
  return { header: part(parts[0]), payload: part(parts[1]) };
}
