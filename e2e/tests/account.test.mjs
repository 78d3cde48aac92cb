// The user's own account with @clerk/clerk-js in Node (native header mode), through the `User`
// methods clerk-js's account pages use: createEmailAddress, an email code from a real SMTP sink,
// update({primaryEmailAddressId}), emailAddress.destroy(), getSessions(), updatePassword with
// sign-out of other sessions, and delete() after session.startVerification once the
// reverification window (5 s here) has passed. One server for the file.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { RELAXED_IP_RATE_LIMITS, startServer, withServerLog } from '../lib/server.mjs';
import {
  backendClient,
  fapiRequest,
  loadNativeClerk,
  newCredentials,
  rejectsWithClerkError,
  requestSessionToken,
} from '../lib/clerk.mjs';
import { codeIn, startSmtpSink } from '../lib/sinks.mjs';

const WINDOW_SECONDS = 5;

let smtp;
let server;
let bapi;

before(async () => {
  smtp = await startSmtpSink();
  server = await startServer({
    args: ['--smtp-url', smtp.url, '--email-from', 'Vestibule <no-reply@vestibule.test>'],
    config: `${RELAXED_IP_RATE_LIMITS}
[settings.mfa]
reverification_seconds = ${WINDOW_SECONDS}
`,
  });
  bapi = backendClient(server);
});

after(async () => {
  await server?.stop();
  await smtp?.close();
});

const it = (name, fn) => test(name, withServerLog(() => server, fn));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Signs in on a client of its own, by raw FAPI calls: its client token and session id. */
async function signInElsewhere(identifier, password) {
  const r = await fapiRequest(server, '/client/sign_ins', {
    clientToken: '',
    form: { identifier, password },
  });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.response.status, 'complete');
  return { clientToken: r.headers.get('authorization'), sessionId: r.body.response.created_session_id };
}

describe('the user’s own account through clerk-js', () => {
  it('emails, primary, sessions, password change, and deleting the account', async () => {
    const { email, password } = newCredentials('account');
    const user = await bapi.users.createUser({ emailAddress: [email], password });
    const { clerk } = await loadNativeClerk(server);
    const si = await clerk.client.signIn.create({ identifier: email, password });
    assert.equal(si.status, 'complete');
    await clerk.setActive({ session: si.createdSessionId });
    const started = Date.now();

    // A second address, proven by the code mailed to it, becomes the primary one.
    const second = newCredentials('account-second').email;
    let added = await clerk.user.createEmailAddress({ email: second });
    assert.equal(added.verification.status, 'unverified');
    await rejectsWithClerkError(
      clerk.user.createEmailAddress({ email }),
      { status: 422, code: 'form_identifier_exists', paramName: 'email_address' },
      'an address the account already has',
    );
    added = await added.prepareVerification({ strategy: 'email_code' });
    assert.equal(added.verification.strategy, 'email_code');
    const code = codeIn(await smtp.next(second));
    await rejectsWithClerkError(
      added.attemptVerification({ code: code === '000000' ? '111111' : '000000' }),
      { status: 422, code: 'form_code_incorrect' },
      'a wrong email code',
    );
    added = await added.attemptVerification({ code });
    assert.equal(added.verification.status, 'verified');
    await clerk.user.update({ primaryEmailAddressId: added.id });
    assert.equal(clerk.user.primaryEmailAddressId, added.id);
    assert.equal(clerk.user.primaryEmailAddress?.emailAddress, second);

    // The first address goes.
    const first = clerk.user.emailAddresses.find((e) => e.emailAddress === email);
    await first.destroy();
    await clerk.user.reload();
    assert.deepEqual(
      clerk.user.emailAddresses.map((e) => e.emailAddress),
      [second],
    );
    assert.ok(Date.now() - started < WINDOW_SECONDS * 1000, 'the sensitive changes ran within the window');

    // Two sessions, one signed out by a password change.
    const elsewhere = await signInElsewhere(second, password);
    const sessions = await clerk.user.getSessions();
    assert.deepEqual(
      sessions.map((s) => s.id).sort(),
      [clerk.session.id, elsewhere.sessionId].sort(),
    );
    for (const s of sessions) {
      assert.equal(s.status, 'active');
      assert.ok(s.lastActiveAt instanceof Date);
      assert.ok(s.latestActivity, 'latestActivity');
    }
    const newPassword = newCredentials('account-new').password;
    await rejectsWithClerkError(
      clerk.user.updatePassword({ currentPassword: 'not the password', newPassword }),
      { status: 422, code: 'form_password_incorrect', paramName: 'current_password' },
      'a wrong current password',
    );
    await clerk.user.updatePassword({
      currentPassword: password,
      newPassword,
      signOutOfOtherSessions: true,
    });
    assert.equal(clerk.user.passwordEnabled, true);
    const refused = await requestSessionToken(server, elsewhere.sessionId, {
      clientToken: elsewhere.clientToken,
    });
    assert.ok(refused.status >= 400, `the other session mints no token: ${refused.status}`);
    assert.ok(await clerk.session.getToken({ skipCache: true }), 'this session goes on');

    // Long after the last verification, deleting the account asks for a fresh one.
    await sleep(Math.max(0, WINDOW_SECONDS * 1000 + 500 - (Date.now() - started)));
    await rejectsWithClerkError(
      clerk.user.delete(),
      { status: 403, code: 'session_reverification_required' },
      'deleting the account long after sign-in',
    );
    let sv = await clerk.session.startVerification({ level: 'first_factor' });
    assert.equal(sv.status, 'needs_first_factor');
    sv = await clerk.session.attemptFirstFactorVerification({ strategy: 'password', password: newPassword });
    assert.equal(sv.status, 'complete');
    await clerk.user.delete();
    await assert.rejects(bapi.users.getUser(user.id), (e) => e.status === 404);
  });
});
