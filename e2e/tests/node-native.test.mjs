// @clerk/clerk-js in Node, in the native (header) mode of Expo and the Chrome extension, and
// @clerk/backend against the same server.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { verifyToken } from '@clerk/backend';
import { startServer, withServerLog } from '../lib/server.mjs';
import {
  assertErrorResponse,
  backendClient,
  decodeJwt,
  fapiRequest,
  loadNativeClerk,
  newCredentials,
  rejectsWithClerkError,
  requestSessionToken,
  signOutInNode,
} from '../lib/clerk.mjs';

let server;
let bapi;
let keys;

before(async () => {
  server = await startServer();
  bapi = backendClient(server);
  keys = await server.keys();
});

after(async () => {
  await server?.stop();
});

/** A test whose failure message carries the server's stderr tail. */
const it = (name, fn) => test(name, withServerLog(() => server, fn));

async function createUser(label, extra = {}) {
  const creds = newCredentials(label);
  const user = await bapi.users.createUser({
    emailAddress: [creds.email],
    password: creds.password,
    firstName: 'Ada',
    lastName: 'Lovelace',
    ...extra,
  });
  assert.match(user.id, /^user_/, `createUser returned ${JSON.stringify(user.raw ?? user)}`);
  return { ...creds, user };
}

/** A fresh native clerk-js signed in (one step) and made active. */
async function signedInClerk({ email, password }) {
  const native = await loadNativeClerk(server);
  const si = await native.clerk.client.signIn.create({ identifier: email, password });
  assert.equal(si.status, 'complete', `one-step sign-in status: ${si.status}`);
  assert.match(si.createdSessionId ?? '', /^sess_/);
  await native.clerk.setActive({ session: si.createdSessionId });
  assert.equal(native.clerk.session?.id, si.createdSessionId, 'setActive did not make the session current');
  native.sessionId = si.createdSessionId;
  return native;
}

/** Both ways @clerk/backend verifies a session token: the PEM, and JWKS fetched with the secret key. */
async function verifyBothWays(token, { userId, sessionId }) {
  const viaPem = await verifyToken(token, { jwtKey: keys.publicKeyPem, issuer: server.fapiUrl });
  const viaJwks = await verifyToken(token, { secretKey: server.secretKey, apiUrl: server.apiUrl });
  for (const [how, payload] of [
    ['jwtKey (PEM)', viaPem],
    ['secretKey + apiUrl (JWKS)', viaJwks],
  ]) {
    assert.equal(payload.sub, userId, `verifyToken via ${how}: sub`);
    assert.equal(payload.sid, sessionId, `verifyToken via ${how}: sid`);
    assert.equal(payload.iss, server.fapiUrl, `verifyToken via ${how}: iss`);
    assert.ok(payload.exp > Date.now() / 1000, `verifyToken via ${how}: exp ${payload.exp} is in the past`);
  }
  return viaPem;
}

describe('Backend API with @clerk/backend', () => {
  it('keys show agrees with the running server', async () => {
    assert.equal(keys.publishableKey, server.publishableKey);
    assert.equal(keys.secretKey, server.secretKey);
    assert.match(keys.kid, /^ins_/);
  });

  it('createUser, getUser and getUserList by e-mail address', async () => {
    const { email, user } = await createUser('bapi');
    assert.equal(user.firstName, 'Ada');
    assert.equal(user.primaryEmailAddress?.emailAddress, email);
    assert.equal(user.passwordEnabled, true);
    assert.equal(user.banned, false);
    assert.equal(user.locked, false);

    const fetched = await bapi.users.getUser(user.id);
    assert.equal(fetched.id, user.id);
    assert.deepEqual(
      fetched.emailAddresses.map((e) => e.emailAddress),
      [email],
    );

    const list = await bapi.users.getUserList({ emailAddress: [email] });
    assert.equal(list.totalCount, 1, `getUserList totalCount: ${JSON.stringify(list.totalCount)}`);
    assert.deepEqual(
      list.data.map((u) => u.id),
      [user.id],
    );
    const none = await bapi.users.getUserList({ emailAddress: ['nobody-here@example.com'] });
    assert.equal(none.totalCount, 0);
    assert.deepEqual(none.data, []);
  });

  it('createUser refuses a taken e-mail address and a short password with 422', async () => {
    const { email } = await createUser('taken');
    const taken = await rejectsWithClerkError(
      bapi.users.createUser({ emailAddress: [email], password: newCredentials('x').password }),
      { status: 422, code: 'form_identifier_exists' },
      'createUser with a taken e-mail address',
    );
    assert.equal(taken.errors[0].meta?.paramName, 'email_address');
    await rejectsWithClerkError(
      bapi.users.createUser({ emailAddress: [newCredentials('short').email], password: 'short' }),
      { status: 422, code: 'form_password_length_too_short', paramName: 'password' },
      'createUser with a short password',
    );
  });

  it('a wrong secret key is refused with 401', async () => {
    const wrong = backendClient(server, `sk_test_${'x'.repeat(40)}`);
    const err = await rejectsWithClerkError(
      wrong.users.getUserList(),
      { status: 401, code: 'clerk_key_invalid' },
      'getUserList with a wrong secret key',
    );
    assert.equal(err.status, 401);
    await rejectsWithClerkError(
      wrong.users.getUser('user_doesnotmatter'),
      { status: 401, code: 'clerk_key_invalid' },
      'getUser with a wrong secret key',
    );
  });

  it('getUserList pages with limit and offset; totalCount counts every match', async () => {
    const tag = `page${Date.now().toString(36)}`;
    const created = [];
    for (let i = 0; i < 3; i++) created.push((await createUser(`${tag}-${i}`)).user.id);
    const first = await bapi.users.getUserList({ query: tag, limit: 2, orderBy: '+created_at' });
    const second = await bapi.users.getUserList({ query: tag, limit: 2, offset: 2, orderBy: '+created_at' });
    assert.equal(first.totalCount, 3);
    assert.equal(second.totalCount, 3);
    assert.equal(first.data.length, 2);
    assert.equal(second.data.length, 1);
    const pages = [...first.data, ...second.data];
    assert.deepEqual(pages.map((u) => u.id).sort(), [...created].sort(), 'the two pages hold each user once');
    const times = pages.map((u) => u.createdAt);
    assert.deepEqual(times, [...times].sort((a, b) => a - b), `+created_at order: ${times}`);
    assert.equal(await bapi.users.getCount({ query: tag }), 3);
  });

  it('verifyToken with a wrong secret key fails on the JWKS request (secret-key-invalid)', async () => {
    const creds = await createUser('jwkswrong');
    const native = await signedInClerk(creds);
    const token = await native.clerk.session.getToken();
    let error;
    try {
      await verifyToken(token, { secretKey: `sk_test_${'y'.repeat(40)}`, apiUrl: server.apiUrl });
    } catch (e) {
      error = e;
    }
    assert.ok(error, 'verifyToken with a wrong secret key succeeded');
    assert.equal(error.reason, 'secret-key-invalid', `${error.name}: ${error.message} (reason ${error.reason})`);
  });

  it('getUser of an unknown id is 404', async () => {
    await rejectsWithClerkError(
      bapi.users.getUser('user_2unknownunknownunknownxx'),
      { status: 404, code: 'resource_not_found' },
      'getUser(unknown)',
    );
  });
});

describe('clerk-js in Node, native header mode', () => {
  it('identifier first, a wrong then the right password, setActive, getToken verified both ways', async () => {
    const { email, password, user } = await createUser('native');
    const native = await loadNativeClerk(server);
    const { clerk } = native;
    assert.equal(clerk.session ?? null, null, 'no session before signing in');

    const si = await clerk.client.signIn.create({ identifier: email });
    assert.equal(si.status, 'needs_first_factor');
    assert.equal(si.identifier, email);
    assert.ok(
      si.supportedFirstFactors?.some((f) => f.strategy === 'password'),
      `supportedFirstFactors lacks password: ${JSON.stringify(si.supportedFirstFactors)}`,
    );
    assert.equal(si.userData?.firstName, 'Ada');
    assert.equal(si.userData?.lastName, 'Lovelace');
    assert.ok(native.clientToken, 'the server returned no client token in the authorization header');
    const tokenBeforeSignIn = native.clientToken;

    await rejectsWithClerkError(
      si.attemptFirstFactor({ strategy: 'password', password: `${password}-wrong` }),
      { status: 422, code: 'form_password_incorrect', paramName: 'password' },
      'attemptFirstFactor with a wrong password',
    );
    assert.equal(clerk.client.signIn.status, 'needs_first_factor', 'a wrong password must not advance the sign-in');

    const done = await si.attemptFirstFactor({ strategy: 'password', password });
    assert.equal(done.status, 'complete');
    assert.match(done.createdSessionId ?? '', /^sess_/);
    assert.notEqual(native.clientToken, tokenBeforeSignIn, 'the client token must change when the sign-in completes');
    const sessionId = done.createdSessionId;

    await clerk.setActive({ session: sessionId });
    assert.equal(clerk.session?.id, sessionId);
    assert.equal(clerk.session?.status, 'active');
    assert.equal(clerk.user?.id, user.id);
    assert.equal(clerk.user?.primaryEmailAddress?.emailAddress, email);

    const token = await clerk.session.getToken();
    const { header, payload } = decodeJwt(token);
    assert.equal(header.alg, 'RS256');
    assert.equal(header.kid, keys.kid, 'the token is signed with the key keys show reports');
    assert.equal(payload.sub, user.id);
    assert.equal(payload.sid, sessionId);
    await verifyBothWays(token, { userId: user.id, sessionId });

    // A token minted on the wire (skipping clerk-js's cache) verifies too.
    const fresh = await clerk.session.getToken({ skipCache: true });
    await verifyBothWays(fresh, { userId: user.id, sessionId });

    // The operator sees the session.
    const list = await bapi.sessions.getSessionList({ userId: user.id });
    assert.ok(list.totalCount >= 1, `getSessionList totalCount: ${list.totalCount}`);
    const listed = list.data.find((s) => s.id === sessionId);
    assert.ok(listed, `getSessionList lacks ${sessionId}: ${JSON.stringify(list.data.map((s) => s.id))}`);
    assert.equal(listed.status, 'active');
    assert.equal(listed.userId, user.id);
    const refreshed = await bapi.users.getUser(user.id);
    assert.ok(refreshed.lastSignInAt > 0, `lastSignInAt: ${refreshed.lastSignInAt}`);

    // Signing out: signOut() makes the call, then trips over the missing window.
    const clientToken = native.clientToken;
    await signOutInNode(clerk);
    assert.equal(clerk.session, null, 'clerk.session after signOut');
    assert.equal(clerk.user, null, 'clerk.user after signOut');
    const res = await requestSessionToken(server, sessionId, { clientToken });
    assertErrorResponse(res, 401, 'signed_out', 'minting a token for a signed-out session');
    const ended = await bapi.sessions.getSession(sessionId);
    assert.ok(['removed', 'ended'].includes(ended.status), `session status after sign-out: ${ended.status}`);
  });

  it('signIn.create({identifier, password}) completes in one step; removeSessions signs out', async () => {
    const creds = await createUser('onestep');
    const native = await signedInClerk(creds);
    const { clerk, sessionId } = native;
    const token = await clerk.session.getToken();
    await verifyBothWays(token, { userId: creds.user.id, sessionId });

    // A signed-in client in single-session mode cannot start another sign-in.
    await rejectsWithClerkError(
      clerk.client.signIn.create({ identifier: creds.email, password: creds.password }),
      { status: 400, code: 'session_exists' },
      'a second sign-in on a signed-in client',
    );

    const clientToken = native.clientToken;
    await clerk.client.removeSessions();
    // removeSessions() updates the client; clerk.session follows on the next client emit.
    assert.deepEqual(
      clerk.client.signedInSessions.map((s) => s.id),
      [],
      'client still has signed-in sessions after removeSessions()',
    );
    const res = await requestSessionToken(server, sessionId, { clientToken });
    assertErrorResponse(res, 401, 'signed_out', 'minting after removeSessions()');

    // The same client may sign in again afterwards.
    const again = await clerk.client.signIn.create({ identifier: creds.email, password: creds.password });
    assert.equal(again.status, 'complete');
    assert.notEqual(again.createdSessionId, sessionId);
  });

  it('a restarted app restores its session from the stored client token', async () => {
    const creds = await createUser('restart');
    const first = await signedInClerk(creds);
    const restarted = new (first.clerk.constructor)(server.publishableKey, { proxyUrl: server.url });
    const stored = first.clientToken;
    restarted.__internal_onBeforeRequest((req) => {
      req.credentials = 'omit';
      req.url.searchParams.append('_is_native', '1');
      req.headers.set('authorization', stored);
    });
    await restarted.load({ standardBrowser: false, telemetry: false });
    assert.equal(restarted.session?.id, first.sessionId, 'session not restored from the client token');
    assert.equal(restarted.user?.id, creds.user.id);
    const token = await restarted.session.getToken({ skipCache: true });
    await verifyBothWays(token, { userId: creds.user.id, sessionId: first.sessionId });
  });

  it('username and phone number identifiers sign in too', async () => {
    const tag = Math.random().toString(36).slice(2, 10);
    const phone = `+1555${String(Math.floor(Math.random() * 1e7)).padStart(7, '0')}`;
    const creds = await createUser('ids', { username: `ada_${tag}`, phoneNumber: [phone] });
    assert.equal(creds.user.username, `ada_${tag}`);
    assert.equal(creds.user.phoneNumbers[0]?.phoneNumber, phone);
    for (const identifier of [`ada_${tag}`, phone]) {
      const { clerk } = await loadNativeClerk(server);
      const si = await clerk.client.signIn.create({ identifier });
      assert.equal(si.status, 'needs_first_factor', `identifier ${identifier}`);
      const done = await si.attemptFirstFactor({ strategy: 'password', password: creds.password });
      assert.equal(done.status, 'complete', `identifier ${identifier}`);
      await clerk.setActive({ session: done.createdSessionId });
      assert.equal(clerk.user?.id, creds.user.id, `identifier ${identifier}`);
    }
  });

  it('session.end() ends the current session', async () => {
    const creds = await createUser('end');
    const native = await signedInClerk(creds);
    const ended = await native.clerk.session.end();
    assert.equal(ended.status, 'ended');
    assert.deepEqual(native.clerk.client.signedInSessions, []);
    const res = await requestSessionToken(server, native.sessionId, { clientToken: native.clientToken });
    assertErrorResponse(res, 401, 'signed_out', 'minting for an ended session');
    assert.equal((await bapi.sessions.getSession(native.sessionId)).status, 'ended');
  });

  it('updateUser: profile and metadata reach clerk-js; a new password with signOutOfOtherSessions revokes sessions', async () => {
    const creds = await createUser('update');
    const native = await signedInClerk(creds);

    const renamed = await bapi.users.updateUser(creds.user.id, { firstName: 'Augusta' });
    assert.equal(renamed.firstName, 'Augusta');
    const withMeta = await bapi.users.updateUserMetadata(creds.user.id, { publicMetadata: { plan: 'pro' } });
    assert.deepEqual(withMeta.publicMetadata, { plan: 'pro' });
    // clerk-js's own User resource: GET /v1/me.
    await native.clerk.user.reload();
    assert.equal(native.clerk.user.firstName, 'Augusta');
    assert.deepEqual(native.clerk.user.publicMetadata, { plan: 'pro' });
    // The user changes their own profile: PATCH /v1/me (tunnelled), seen by the operator.
    await native.clerk.user.update({ lastName: 'King', unsafeMetadata: { theme: 'dark' } });
    assert.equal(native.clerk.user.lastName, 'King');
    const seen = await bapi.users.getUser(creds.user.id);
    assert.equal(seen.lastName, 'King');
    assert.deepEqual(seen.unsafeMetadata, { theme: 'dark' });
    // Session.reload(): GET /v1/client/sessions/{id}.
    await native.clerk.session.reload();
    assert.equal(native.clerk.session.status, 'active');

    const newPassword = `${creds.password}-new`;
    await bapi.users.updateUser(creds.user.id, { password: newPassword, signOutOfOtherSessions: true });
    const res = await requestSessionToken(server, native.sessionId, { clientToken: native.clientToken });
    assertErrorResponse(res, 401, 'signed_out', 'minting after a password change that signs out other sessions');

    const { clerk } = await loadNativeClerk(server);
    const si = await clerk.client.signIn.create({ identifier: creds.email });
    assert.equal(si.userData.firstName, 'Augusta');
    await rejectsWithClerkError(
      si.attemptFirstFactor({ strategy: 'password', password: creds.password }),
      { status: 422, code: 'form_password_incorrect', paramName: 'password' },
      'the old password after a change',
    );
    const done = await si.attemptFirstFactor({ strategy: 'password', password: newPassword });
    assert.equal(done.status, 'complete');
  });

  it('unknown identifier is 422 form_identifier_not_found', async () => {
    const { clerk } = await loadNativeClerk(server);
    await rejectsWithClerkError(
      clerk.client.signIn.create({ identifier: 'nobody-at-all@example.com' }),
      { status: 422, code: 'form_identifier_not_found' },
      'signIn.create with an unknown e-mail',
    );
  });

  it('revokeSession ends a session: tokens are refused and clerk-js signs out', async () => {
    const creds = await createUser('revoke');
    const native = await signedInClerk(creds);
    const { clerk, sessionId } = native;

    const listed = await bapi.sessions.getSessionList({ userId: creds.user.id });
    assert.deepEqual(
      listed.data.map((s) => [s.id, s.status]),
      [[sessionId, 'active']],
    );
    const revoked = await bapi.sessions.revokeSession(sessionId);
    assert.equal(revoked.id, sessionId);
    assert.equal(revoked.status, 'revoked');
    assert.equal((await bapi.sessions.getSession(sessionId)).status, 'revoked');

    const res = await requestSessionToken(server, sessionId, { clientToken: native.clientToken });
    assertErrorResponse(res, 401, 'signed_out', 'minting for a revoked session');

    // clerk-js's own refresh hits the same 401, refetches the client and drops the session.
    await rejectsWithClerkError(
      clerk.session.getToken({ skipCache: true }),
      { status: 401, code: 'signed_out' },
      'getToken({skipCache}) for a revoked session',
    );
    assert.equal(clerk.session, null, 'clerk.session after the 401');

    const active = await bapi.sessions.getSessionList({ userId: creds.user.id, status: 'active' });
    assert.equal(active.totalCount, 0, `active sessions left: ${JSON.stringify(active.data.map((s) => s.id))}`);
  });

  it('banUser: the right password gets 403 user_banned and live sessions stop minting; unbanUser lets them in', async () => {
    const creds = await createUser('banned');
    const before = await signedInClerk(creds);

    const banned = await bapi.users.banUser(creds.user.id);
    assert.equal(banned.banned, true);
    const res = await requestSessionToken(server, before.sessionId, { clientToken: before.clientToken });
    assertErrorResponse(res, 401, 'signed_out', "minting for a banned user's session");

    const { clerk } = await loadNativeClerk(server);
    const si = await clerk.client.signIn.create({ identifier: creds.email });
    await rejectsWithClerkError(
      si.attemptFirstFactor({ strategy: 'password', password: creds.password }),
      { status: 403, code: 'user_banned' },
      'attemptFirstFactor for a banned user',
    );
    await rejectsWithClerkError(
      clerk.client.signIn.create({ identifier: creds.email, password: creds.password }),
      { status: 403, code: 'user_banned' },
      'one-step sign-in for a banned user',
    );
    assert.equal(clerk.session ?? null, null);

    const unbanned = await bapi.users.unbanUser(creds.user.id);
    assert.equal(unbanned.banned, false);
    const after = await clerk.client.signIn.create({ identifier: creds.email, password: creds.password });
    assert.equal(after.status, 'complete');
  });

  it('lockUser: 403 user_locked even with the right password; unlockUser lets them in', async () => {
    const creds = await createUser('locked');
    const locked = await bapi.users.lockUser(creds.user.id);
    assert.equal(locked.locked, true);

    const { clerk } = await loadNativeClerk(server);
    const si = await clerk.client.signIn.create({ identifier: creds.email });
    assert.equal(si.status, 'needs_first_factor');
    await rejectsWithClerkError(
      si.attemptFirstFactor({ strategy: 'password', password: creds.password }),
      { status: 403, code: 'user_locked' },
      'attemptFirstFactor for a locked user',
    );

    const unlocked = await bapi.users.unlockUser(creds.user.id);
    assert.equal(unlocked.locked, false);
    const done = await si.attemptFirstFactor({ strategy: 'password', password: creds.password });
    assert.equal(done.status, 'complete');
    await clerk.setActive({ session: done.createdSessionId });
    const token = await clerk.session.getToken();
    await verifyBothWays(token, { userId: creds.user.id, sessionId: done.createdSessionId });
  });

  it('deleteUser: the user is gone, cannot sign in, and their sessions cannot mint', async () => {
    const creds = await createUser('deleted');
    const live = await signedInClerk(creds);

    const deleted = await bapi.users.deleteUser(creds.user.id);
    assert.equal(deleted.id, creds.user.id);
    assert.equal(deleted.deleted, true);
    await rejectsWithClerkError(
      bapi.users.getUser(creds.user.id),
      { status: 404, code: 'resource_not_found' },
      'getUser after deleteUser',
    );
    const list = await bapi.users.getUserList({ emailAddress: [creds.email] });
    assert.equal(list.totalCount, 0);

    const res = await requestSessionToken(server, live.sessionId, { clientToken: live.clientToken });
    assert.ok(
      res.status === 401 || res.status === 404,
      `minting for a deleted user's session must fail, got HTTP ${res.status} ${JSON.stringify(res.body)}`,
    );
    const client = await fapiRequest(server, '/client', { method: 'GET', clientToken: live.clientToken });
    assert.equal(client.status, 200, JSON.stringify(client.body));
    assert.deepEqual(
      (client.body.response?.sessions ?? []).map((s) => s.id),
      [],
      "the client still lists the deleted user's session",
    );

    const { clerk } = await loadNativeClerk(server);
    await rejectsWithClerkError(
      clerk.client.signIn.create({ identifier: creds.email, password: creds.password }),
      { status: 422, code: 'form_identifier_not_found' },
      'sign-in as a deleted user',
    );
  });
});

describe('Sign-in tokens: @clerk/backend issues, clerk-js signs in with the ticket', () => {
  it('createSignInToken, signIn.create({strategy: ticket}) once; used and revoked tickets refused', async () => {
    const { user } = await createUser('ticket');
    const issued = await bapi.signInTokens.createSignInToken({ userId: user.id, expiresInSeconds: 600 });
    assert.match(issued.id, /^sit_/);
    assert.equal(issued.userId, user.id);
    assert.equal(issued.status, 'pending');
    assert.ok(issued.token.length >= 40, `ticket: ${issued.token}`);

    const { clerk } = await loadNativeClerk(server);
    const si = await clerk.client.signIn.create({ strategy: 'ticket', ticket: issued.token });
    assert.equal(si.status, 'complete', `ticket sign-in status: ${si.status}`);
    assert.equal(si.firstFactorVerification?.strategy, 'ticket');
    assert.equal(si.firstFactorVerification?.status, 'verified');
    await clerk.setActive({ session: si.createdSessionId });
    assert.equal(clerk.user?.id, user.id);
    const token = await clerk.session.getToken();
    await verifyBothWays(token, { userId: user.id, sessionId: si.createdSessionId });
    await signOutInNode(clerk);

    await rejectsWithClerkError(
      clerk.client.signIn.create({ strategy: 'ticket', ticket: issued.token }),
      { status: 400, code: 'sign_in_token_already_used_code', paramName: 'ticket' },
      'a used ticket',
    );
    const revoked = await bapi.signInTokens.createSignInToken({ userId: user.id });
    const after = await bapi.signInTokens.revokeSignInToken(revoked.id);
    assert.equal(after.status, 'revoked');
    await rejectsWithClerkError(
      clerk.client.signIn.create({ strategy: 'ticket', ticket: revoked.token }),
      { status: 400, code: 'sign_in_token_revoked_code' },
      'a revoked ticket',
    );
    await rejectsWithClerkError(
      clerk.client.signIn.create({ strategy: 'ticket', ticket: `${issued.token}x` }),
      { status: 400, code: 'ticket_invalid_code' },
      'a forged ticket',
    );
  });
});
