// A phone number kept for MFA, and reverification, with @clerk/clerk-js in Node (native header
// mode): user.createPhoneNumber, phone.prepareVerification/attemptVerification and
// setReservedForSecondFactor (which answers with backup codes), then a change refused with
// session_reverification_required once the reverification window has passed, and
// session.startVerification with a phone code as the second factor, after which the change goes
// through. The window is 5 s here so the test can outlast it; codes come from the development
// inbox.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { verifyToken } from '@clerk/backend';
import { RELAXED_IP_RATE_LIMITS, startServer, withServerLog } from '../lib/server.mjs';
import { inboxCount, nextInboxCode } from '../lib/inbox.mjs';
import {
  backendClient,
  loadNativeClerk,
  newCredentials,
  rejectsWithClerkError,
  signOutInNode,
} from '../lib/clerk.mjs';

const WINDOW_SECONDS = 5;

let server;
let bapi;
let keys;

before(async () => {
  server = await startServer({
    config: `${RELAXED_IP_RATE_LIMITS}
[settings.mfa]
reverification_seconds = ${WINDOW_SECONDS}
`,
  });
  bapi = backendClient(server);
  keys = await server.keys();
});

after(async () => {
  await server?.stop();
});

const it = (name, fn) => test(name, withServerLog(() => server, fn));
const strategies = (factors) => (factors ?? []).map((f) => f.strategy);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe('phone numbers and reverification through clerk-js', () => {
  it('a phone kept for MFA, a refused change, session.startVerification, and the change again', async () => {
    const { email, password } = newCredentials('reverify');
    const phoneNumber = `+1555${String(Date.now()).slice(-7)}`;
    const user = await bapi.users.createUser({ emailAddress: [email], password });

    const { clerk } = await loadNativeClerk(server);
    let si = await clerk.client.signIn.create({ identifier: email, password });
    assert.equal(si.status, 'complete');
    await clerk.setActive({ session: si.createdSessionId });

    // Add the number and prove it with the SMS code.
    let phone = await clerk.user.createPhoneNumber({ phoneNumber });
    assert.equal(phone.phoneNumber, phoneNumber);
    assert.equal(phone.verification.status, 'unverified');
    let seen = await inboxCount(server, phoneNumber);
    phone = await phone.prepareVerification();
    assert.equal(phone.verification.strategy, 'phone_code');
    const smsCode = await nextInboxCode(server, phoneNumber, seen);
    await rejectsWithClerkError(
      phone.attemptVerification({ code: smsCode === '000000' ? '111111' : '000000' }),
      { status: 422, code: 'form_code_incorrect' },
      'a wrong SMS code',
    );
    phone = await phone.attemptVerification({ code: smsCode });
    assert.equal(phone.verification.status, 'verified');

    // Kept for MFA: the answer carries backup codes, and the user has two factors now.
    phone = await phone.setReservedForSecondFactor({ reserved: true });
    assert.equal(phone.reservedForSecondFactor, true);
    assert.equal(phone.defaultSecondFactor, true);
    assert.equal(phone.backupCodes?.length, 10);
    assert.equal(clerk.user.twoFactorEnabled, true, 'the piggybacked client updates the user');
    assert.equal(clerk.user.backupCodeEnabled, true);

    // Once the window has passed, regenerating backup codes needs a fresh factor.
    await sleep((WINDOW_SECONDS + 1) * 1000);
    await rejectsWithClerkError(
      clerk.user.createBackupCode(),
      { status: 403, code: 'session_reverification_required' },
      'a sensitive change long after sign-in',
    );

    // Reverify with the phone: the second factor alone, as level second_factor asks.
    let sv = await clerk.session.startVerification({ level: 'second_factor' });
    assert.equal(sv.status, 'needs_second_factor');
    assert.equal(sv.level, 'second_factor');
    assert.deepEqual(strategies(sv.supportedSecondFactors), ['phone_code', 'backup_code']);
    const phoneFactor = sv.supportedSecondFactors[0];
    assert.equal(phoneFactor.phoneNumberId, phone.id);
    seen = await inboxCount(server, phoneNumber);
    sv = await clerk.session.prepareSecondFactorVerification({
      strategy: 'phone_code',
      phoneNumberId: phoneFactor.phoneNumberId,
    });
    assert.equal(sv.secondFactorVerification.status, 'unverified');
    sv = await clerk.session.attemptSecondFactorVerification({
      strategy: 'phone_code',
      code: await nextInboxCode(server, phoneNumber, seen),
    });
    assert.equal(sv.status, 'complete');
    assert.equal(sv.session.factorVerificationAge[1], 0);
    assert.equal(clerk.session.factorVerificationAge[1], 0, 'the session clerk-js holds knows it');
    const token = await clerk.session.getToken({ skipCache: true });
    const claims = await verifyToken(token, { jwtKey: keys.publicKeyPem, issuer: server.fapiUrl });
    assert.equal(claims.fva[1], 0, 'the session token says so too');

    // The change goes through now.
    const codes = await clerk.user.createBackupCode();
    assert.equal(codes.codes.length, 10);
    await signOutInNode(clerk);

    // Signing in again asks for a code to the phone.
    si = await clerk.client.signIn.create({ identifier: email, password });
    assert.equal(si.status, 'needs_second_factor');
    seen = await inboxCount(server, phoneNumber);
    await si.prepareSecondFactor({ strategy: 'phone_code', phoneNumberId: phone.id });
    si = await si.attemptSecondFactor({
      strategy: 'phone_code',
      code: await nextInboxCode(server, phoneNumber, seen),
    });
    assert.equal(si.status, 'complete');
    await clerk.setActive({ session: si.createdSessionId });
    assert.equal(clerk.user.id, user.id);

    const fromBackend = await bapi.users.getUser(user.id);
    assert.equal(fromBackend.twoFactorEnabled, true);
    const kept = fromBackend.phoneNumbers.find((p) => p.id === phone.id);
    assert.equal(kept?.reservedForSecondFactor, true);
  });
});
