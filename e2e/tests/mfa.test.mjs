// Second factors and client trust with @clerk/clerk-js in Node (native header mode): a new client
// confirms a password with an email code, a known client does not; TOTP enrolled through the
// SDK's User methods, then sign-ins that stop at needs_second_factor until a TOTP or backup code
// is given. Codes come from the development inbox (a development instance without SMTP), TOTP
// codes are computed here from the secret the server handed out, as an authenticator app would.

import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { verifyToken } from '@clerk/backend';
import { RELAXED_IP_RATE_LIMITS, startServer, withServerLog } from '../lib/server.mjs';
import { inboxCount as countIn, nextInboxCode as nextIn } from '../lib/inbox.mjs';
import {
  backendClient,
  loadNativeClerk,
  newCredentials,
  rejectsWithClerkError,
  signOutInNode,
} from '../lib/clerk.mjs';

let server;
let bapi;
let keys;

before(async () => {
  server = await startServer({ config: RELAXED_IP_RATE_LIMITS, clientTrust: true });
  bapi = backendClient(server);
  keys = await server.keys();
});

after(async () => {
  await server?.stop();
});

const it = (name, fn) => test(name, withServerLog(() => server, fn));

/** RFC 4648 base32 without padding, as authenticator apps read `secret`. */
function base32Decode(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const out = [];
  for (const ch of text.replace(/=+$/, '').toUpperCase()) {
    const i = alphabet.indexOf(ch);
    assert.ok(i >= 0, `not base32: ${ch}`);
    value = (value << 5) | i;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >>> bits) & 0xff);
    }
  }
  return Buffer.from(out);
}

/** RFC 6238 TOTP (SHA-1, 6 digits, 30 s), `offset` steps from now. */
function totpCode(secret, offset = 0) {
  const step = Math.floor(Date.now() / 1000 / 30) + offset;
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', base32Decode(secret)).update(counter).digest();
  const at = mac[mac.length - 1] & 0x0f;
  const binary = ((mac[at] & 0x7f) << 24) | (mac[at + 1] << 16) | (mac[at + 2] << 8) | mac[at + 3];
  return String(binary % 1_000_000).padStart(6, '0');
}

async function activate(clerk, sessionId, userId) {
  await clerk.setActive({ session: sessionId });
  assert.equal(clerk.session?.id, sessionId);
  assert.equal(clerk.user?.id, userId);
  const token = await clerk.session.getToken();
  const payload = await verifyToken(token, { jwtKey: keys.publicKeyPem, issuer: server.fapiUrl });
  assert.equal(payload.sub, userId);
  assert.equal(payload.sid, sessionId);
  return payload;
}

const inboxCount = (recipient) => countIn(server, recipient);
const nextInboxCode = (recipient, seen) => nextIn(server, recipient, seen);
const strategies = (factors) => (factors ?? []).map((f) => f.strategy);

describe('second factors and client trust through clerk-js', () => {
  it('client trust, TOTP enrolment with user.createTOTP/verifyTOTP, then TOTP and backup-code sign-ins', async () => {
    const { email, password } = newCredentials('mfa');
    const user = await bapi.users.createUser({ emailAddress: [email], password });

    // A fresh client: a wrong password is the ordinary error; the right one needs client trust.
    const first = await loadNativeClerk(server);
    let clerk = first.clerk;
    await rejectsWithClerkError(
      clerk.client.signIn.create({ identifier: email, password: `${password}x` }),
      { status: 422, code: 'form_password_incorrect' },
      'a wrong password from a new client',
    );
    const seen = await inboxCount(email);
    let si = await clerk.client.signIn.create({ identifier: email, password });
    assert.equal(si.status, 'needs_client_trust');
    assert.equal(si.clientTrustState, 'new');
    assert.equal(si.createdSessionId, null);
    const emailFactor = si.supportedSecondFactors.find((f) => f.strategy === 'email_code');
    assert.ok(emailFactor?.emailAddressId, JSON.stringify(si.supportedSecondFactors));
    await si.prepareSecondFactor({ strategy: 'email_code', emailAddressId: emailFactor.emailAddressId });
    si = await si.attemptSecondFactor({ strategy: 'email_code', code: await nextInboxCode(email, seen) });
    assert.equal(si.status, 'complete');
    await activate(clerk, si.createdSessionId, user.id);
    await signOutInNode(clerk);

    // The same client again: trusted now, the password completes.
    si = await clerk.client.signIn.create({ identifier: email, password });
    assert.equal(si.status, 'complete');
    assert.equal(si.clientTrustState, 'known');
    const before = await activate(clerk, si.createdSessionId, user.id);
    assert.deepEqual(before.fva, [0, -1], 'no second factor yet');

    // Enrol an authenticator app through the SDK's User methods.
    const totp = await clerk.user.createTOTP();
    assert.match(totp.id, /^totp_/);
    assert.equal(totp.verified, false);
    assert.match(totp.secret, /^[A-Z2-7]{32}$/);
    assert.match(totp.uri, /^otpauth:\/\/totp\//);
    assert.equal(new URL(totp.uri).searchParams.get('secret'), totp.secret);
    await rejectsWithClerkError(
      clerk.user.verifyTOTP({ code: totpCode(totp.secret, 5) }),
      { status: 422, code: 'form_code_incorrect' },
      'verifyTOTP with a code from the wrong time',
    );
    // The previous step's code (an app whose clock is a little behind) is accepted; it leaves
    // the current step's code for the sign-in below.
    const verified = await clerk.user.verifyTOTP({ code: totpCode(totp.secret, -1) });
    assert.equal(verified.verified, true);
    assert.equal(verified.backupCodes.length, 10);
    assert.equal(clerk.user.totpEnabled, true, 'the piggybacked client updates the user');
    assert.equal(clerk.user.twoFactorEnabled, true);
    assert.equal(clerk.user.backupCodeEnabled, true);
    const backupCodes = verified.backupCodes;
    await signOutInNode(clerk);

    // Password, then TOTP: no session until the second factor is given.
    si = await clerk.client.signIn.create({ identifier: email, password });
    assert.equal(si.status, 'needs_second_factor');
    assert.equal(si.createdSessionId, null);
    assert.deepEqual(strategies(si.supportedSecondFactors), ['totp', 'backup_code']);
    await rejectsWithClerkError(
      si.attemptSecondFactor({ strategy: 'totp', code: totpCode(totp.secret, -1) }),
      { status: 422, code: 'form_code_incorrect' },
      'the code used to enrol, again',
    );
    si = await si.attemptSecondFactor({ strategy: 'totp', code: totpCode(totp.secret) });
    assert.equal(si.status, 'complete');
    const withTotp = await activate(clerk, si.createdSessionId, user.id);
    assert.deepEqual(withTotp.fva, [0, 0], 'both factors just verified');
    await signOutInNode(clerk);

    // A fresh client with a backup code (MFA takes precedence over client trust).
    const second = await loadNativeClerk(server);
    clerk = second.clerk;
    si = await clerk.client.signIn.create({ identifier: email, password });
    assert.equal(si.status, 'needs_second_factor');
    si = await si.attemptSecondFactor({ strategy: 'backup_code', code: backupCodes[0] });
    assert.equal(si.status, 'complete');
    await activate(clerk, si.createdSessionId, user.id);
    await signOutInNode(clerk);

    // Each backup code works once.
    si = await clerk.client.signIn.create({ identifier: email, password });
    assert.equal(si.status, 'needs_second_factor');
    await rejectsWithClerkError(
      si.attemptSecondFactor({ strategy: 'backup_code', code: backupCodes[0] }),
      { status: 422, code: 'form_code_incorrect' },
      'a used backup code',
    );

    const fromBackend = await bapi.users.getUser(user.id);
    assert.equal(fromBackend.totpEnabled, true);
    assert.equal(fromBackend.backupCodeEnabled, true);
    assert.equal(fromBackend.twoFactorEnabled, true);
  });
});
