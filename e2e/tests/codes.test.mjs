// One-time codes, email links, password reset and lockout with @clerk/clerk-js in Node (native
// header mode). Messages travel the way they do in production: email over SMTP to a real SMTP
// server in this process, SMS to a webhook sink in this process that checks the signature. The
// development inbox is not used.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { verifyToken } from '@clerk/backend';
import { RELAXED_IP_RATE_LIMITS, startServer, withServerLog } from '../lib/server.mjs';
import {
  assertErrorResponse,
  backendClient,
  loadNativeClerk,
  newCredentials,
  rejectsWithClerkError,
  requestSessionToken,
} from '../lib/clerk.mjs';
import { codeIn, linkIn, startSmsSink, startSmtpSink } from '../lib/sinks.mjs';

const EMAIL_FROM = 'Vestibule <no-reply@vestibule.test>';
const REDIRECT_URL = 'http://localhost:3000/verified';

let smtp;
let sms;
let server;
let bapi;
let keys;

before(async () => {
  smtp = await startSmtpSink();
  sms = await startSmsSink({ secret: randomBytes(24).toString('hex') });
  server = await startServer({
    args: [
      '--smtp-url', smtp.url,
      '--email-from', EMAIL_FROM,
      '--sms-webhook-url', sms.url,
      '--sms-webhook-secret', sms.secret,
    ],
    config: RELAXED_IP_RATE_LIMITS,
  });
  bapi = backendClient(server);
  keys = await server.keys();
});

after(async () => {
  await server?.stop();
  await smtp?.close();
  await sms?.close();
});

/** A test whose failure message carries the server's stderr tail. */
const it = (name, fn) => test(name, withServerLog(() => server, fn));

function randomPhone() {
  return `+1555${String(Math.floor(Math.random() * 1e7)).padStart(7, '0')}`;
}

async function createUser(label, { phone = false } = {}) {
  const creds = newCredentials(label);
  const phoneNumber = phone ? randomPhone() : undefined;
  const user = await bapi.users.createUser({
    emailAddress: [creds.email],
    ...(phoneNumber ? { phoneNumber: [phoneNumber] } : {}),
    password: creds.password,
    firstName: 'Ada',
  });
  assert.match(user.id, /^user_/);
  return { ...creds, phoneNumber, user };
}

/** The entry of `supportedFirstFactors` for `strategy`. */
function factor(signIn, strategy) {
  const f = signIn.supportedFirstFactors?.find((x) => x.strategy === strategy);
  assert.ok(f, `supportedFirstFactors lacks ${strategy}: ${JSON.stringify(signIn.supportedFirstFactors)}`);
  return f;
}

/** setActive, getToken, and @clerk/backend's verifyToken (PEM and JWKS) for the new session. */
async function activateAndVerify(clerk, sessionId, userId) {
  await clerk.setActive({ session: sessionId });
  assert.equal(clerk.session?.id, sessionId, 'setActive did not make the session current');
  assert.equal(clerk.user?.id, userId);
  const token = await clerk.session.getToken();
  for (const options of [
    { jwtKey: keys.publicKeyPem, issuer: server.fapiUrl },
    { secretKey: server.secretKey, apiUrl: server.apiUrl },
  ]) {
    const payload = await verifyToken(token, options);
    assert.equal(payload.sub, userId);
    assert.equal(payload.sid, sessionId);
  }
  return token;
}

/** A code that is not `code`: the same length, every digit different. */
function wrongCode(code) {
  return [...code].map((d) => String((Number(d) + 1) % 10)).join('');
}

describe('codes and links by real SMTP and the SMS webhook, clerk-js in native mode', () => {
  it('email_code: identifier, prepareFirstFactor, a wrong then the right code from the SMTP server, token verified', async () => {
    const { email, user } = await createUser('emailcode');
    const { clerk } = await loadNativeClerk(server);

    const si = await clerk.client.signIn.create({ identifier: email });
    assert.equal(si.status, 'needs_first_factor');
    const emailCode = factor(si, 'email_code');
    assert.match(emailCode.emailAddressId ?? '', /^idn_/, JSON.stringify(emailCode));
    assert.equal(emailCode.emailAddressId, user.primaryEmailAddressId);
    assert.ok(emailCode.safeIdentifier, `email_code has no safeIdentifier: ${JSON.stringify(emailCode)}`);

    const prepared = await si.prepareFirstFactor({ strategy: 'email_code', emailAddressId: emailCode.emailAddressId });
    assert.equal(prepared.status, 'needs_first_factor');
    assert.equal(prepared.firstFactorVerification.strategy, 'email_code');
    assert.equal(prepared.firstFactorVerification.status, 'unverified');

    const mail = await smtp.next(email);
    assert.deepEqual(mail.envelope.to, [email]);
    assert.equal(mail.fromAddress, 'no-reply@vestibule.test', `From: ${mail.from}`);
    assert.match(mail.contentType ?? '', /^multipart\/alternative/, 'plain text and HTML');
    const code = codeIn(mail);
    assert.ok(mail.subject.includes(code), `subject: ${mail.subject}`);
    assert.ok(mail.html.includes(code), 'the HTML part carries the code too');

    const wrong = await rejectsWithClerkError(
      si.attemptFirstFactor({ strategy: 'email_code', code: wrongCode(code) }),
      { status: 422, code: 'form_code_incorrect', paramName: 'code' },
      'attemptFirstFactor with a wrong code',
    );
    assert.ok(wrong.errors[0].longMessage, 'a wrong code comes with a message to show');
    assert.equal(clerk.client.signIn.status, 'needs_first_factor', 'a wrong code must not advance the sign-in');

    const done = await si.attemptFirstFactor({ strategy: 'email_code', code });
    assert.equal(done.status, 'complete');
    assert.equal(done.firstFactorVerification.status, 'verified');
    assert.match(done.createdSessionId ?? '', /^sess_/);
    await activateAndVerify(clerk, done.createdSessionId, user.id);

    // A code belongs to its sign-in: it does not complete another client's sign-in of the same user.
    const other = await loadNativeClerk(server);
    const again = await other.clerk.client.signIn.create({ identifier: email });
    await again.prepareFirstFactor({ strategy: 'email_code', emailAddressId: emailCode.emailAddressId });
    const second = codeIn(await smtp.next(email));
    if (second !== code) {
      await rejectsWithClerkError(
        again.attemptFirstFactor({ strategy: 'email_code', code }),
        { status: 422, code: 'form_code_incorrect' },
        'the first sign-in\'s code on a second sign-in',
      );
    }
    assert.equal((await again.attemptFirstFactor({ strategy: 'email_code', code: second })).status, 'complete');
  });

  it('email_code in one step: signIn.create({strategy, identifier}); a resend within 30 s is 429 with retryAfter', async () => {
    const { email, user } = await createUser('onestepcode');
    const { clerk } = await loadNativeClerk(server);

    const si = await clerk.client.signIn.create({ strategy: 'email_code', identifier: email });
    assert.equal(si.status, 'needs_first_factor');
    assert.equal(si.firstFactorVerification.strategy, 'email_code');
    assert.equal(si.firstFactorVerification.status, 'unverified');
    const code = codeIn(await smtp.next(email));

    const resend = await rejectsWithClerkError(
      si.prepareFirstFactor({ strategy: 'email_code', emailAddressId: factor(si, 'email_code').emailAddressId }),
      { status: 429, code: 'too_many_requests' },
      'a second code within the resend cooldown',
    );
    assert.ok(
      Number.isInteger(resend.retryAfter) && resend.retryAfter > 0 && resend.retryAfter <= 30,
      `retryAfter: ${resend.retryAfter}`,
    );

    const done = await si.attemptFirstFactor({ strategy: 'email_code', code });
    assert.equal(done.status, 'complete');
    await activateAndVerify(clerk, done.createdSessionId, user.id);
    // Nothing else was sent for this sign-in (the refused resend sent nothing).
    await smtp.mailbox.expectNothingNew(email, 200, 'after the refused resend');
  });

  it('phone_code: the code arrives at the SMS webhook, signed; a wrong then the right code', async () => {
    const { phoneNumber, user } = await createUser('phonecode', { phone: true });
    const { clerk } = await loadNativeClerk(server);

    const si = await clerk.client.signIn.create({ identifier: phoneNumber });
    assert.equal(si.status, 'needs_first_factor');
    const phoneCode = factor(si, 'phone_code');
    assert.equal(phoneCode.phoneNumberId, user.primaryPhoneNumberId);
    await si.prepareFirstFactor({ strategy: 'phone_code', phoneNumberId: phoneCode.phoneNumberId });

    const message = await sms.next(phoneNumber);
    assert.deepEqual(sms.rejected, [], 'every webhook request carried a valid signature');
    assert.match(message.signature ?? '', /^t=\d+,v1=[0-9a-f]{64}$/);
    assert.match(message.contentType ?? '', /^application\/json/);
    assert.equal(message.json.to, phoneNumber);
    assert.equal(message.purpose, 'sign_in_code');
    assert.match(message.messageId ?? '', /\S/, 'message_id');
    const code = codeIn(message);

    await rejectsWithClerkError(
      si.attemptFirstFactor({ strategy: 'phone_code', code: wrongCode(code) }),
      { status: 422, code: 'form_code_incorrect', paramName: 'code' },
      'a wrong phone code',
    );
    const done = await si.attemptFirstFactor({ strategy: 'phone_code', code });
    assert.equal(done.status, 'complete');
    await activateAndVerify(clerk, done.createdSessionId, user.id);
    // The phone is the only place the code went.
    assert.deepEqual(smtp.mailbox.to(phoneNumber), []);
  });

  it('reset_password_email_code: needs_new_password, policy, resetPassword signs out other sessions', async () => {
    const { email, password, user } = await createUser('reset');

    // A session signed in earlier, elsewhere.
    const elsewhere = await loadNativeClerk(server);
    const earlier = await elsewhere.clerk.client.signIn.create({ identifier: email, password });
    assert.equal(earlier.status, 'complete');
    await elsewhere.clerk.setActive({ session: earlier.createdSessionId });
    await elsewhere.clerk.session.getToken();

    const { clerk } = await loadNativeClerk(server);
    const si = await clerk.client.signIn.create({ strategy: 'reset_password_email_code', identifier: email });
    assert.equal(si.status, 'needs_first_factor');
    assert.equal(si.firstFactorVerification.strategy, 'reset_password_email_code');
    const mail = await smtp.next(email);
    assert.match(mail.subject, /password reset/i, `subject: ${mail.subject}`);
    const code = codeIn(mail);

    await rejectsWithClerkError(
      si.attemptFirstFactor({ strategy: 'reset_password_email_code', code: wrongCode(code) }),
      { status: 422, code: 'form_code_incorrect' },
      'a wrong reset code',
    );
    const verified = await si.attemptFirstFactor({ strategy: 'reset_password_email_code', code });
    assert.equal(verified.status, 'needs_new_password');
    assert.equal(verified.firstFactorVerification.status, 'verified');
    assert.equal(verified.createdSessionId ?? null, null, 'no session before the new password is set');

    // The policy applies, and its violations are errors the app can show.
    await rejectsWithClerkError(
      si.resetPassword({ password: 'short1', signOutOfOtherSessions: true }),
      { status: 422, code: 'form_password_length_too_short', paramName: 'password' },
      'resetPassword with a short password',
    );
    await rejectsWithClerkError(
      si.resetPassword({ password: 'qwerty123', signOutOfOtherSessions: true }),
      { status: 422, code: 'form_password_pwned', paramName: 'password' },
      'resetPassword with a common password',
    );
    assert.equal(clerk.client.signIn.status, 'needs_new_password', 'a refused password keeps the step');

    const newPassword = newCredentials('x').password;
    const done = await si.resetPassword({ password: newPassword, signOutOfOtherSessions: true });
    assert.equal(done.status, 'complete');
    assert.match(done.createdSessionId ?? '', /^sess_/);
    await activateAndVerify(clerk, done.createdSessionId, user.id);

    // The earlier session elsewhere is over.
    const res = await requestSessionToken(server, earlier.createdSessionId, { clientToken: elsewhere.clientToken });
    assertErrorResponse(res, 401, 'signed_out', 'minting for a session the reset signed out');
    // The app elsewhere, restarted with its stored client token, finds itself signed out.
    const restarted = await loadNativeClerk(server, { clientToken: elsewhere.clientToken });
    assert.equal(restarted.clerk.session ?? null, null, 'the signed-out session came back after a restart');
    assert.deepEqual(restarted.clerk.client.signedInSessions, []);
    const sessions = await bapi.sessions.getSessionList({ userId: user.id, status: 'active' });
    assert.deepEqual(
      sessions.data.map((s) => s.id),
      [done.createdSessionId],
      'only the session the reset created is active',
    );

    // The old password is gone; the new one works.
    const later = await loadNativeClerk(server);
    const retry = await later.clerk.client.signIn.create({ identifier: email });
    await rejectsWithClerkError(
      retry.attemptFirstFactor({ strategy: 'password', password }),
      { status: 422, code: 'form_password_incorrect' },
      'the old password after a reset',
    );
    assert.equal((await retry.attemptFirstFactor({ strategy: 'password', password: newPassword })).status, 'complete');
  });

  it('reset_password_phone_code by SMS: five wrong guesses fail the code; a new sign-in resets the password', async () => {
    const { phoneNumber, email, user } = await createUser('phonereset', { phone: true });
    const { clerk } = await loadNativeClerk(server);

    const si = await clerk.client.signIn.create({ strategy: 'reset_password_phone_code', identifier: phoneNumber });
    assert.equal(si.firstFactorVerification.strategy, 'reset_password_phone_code');
    const message = await sms.next(phoneNumber);
    assert.equal(message.purpose, 'reset_password_code');
    const code = codeIn(message);

    for (let i = 0; i < 5; i++) {
      await rejectsWithClerkError(
        si.attemptFirstFactor({ strategy: 'reset_password_phone_code', code: wrongCode(code) }),
        { status: 422, code: 'form_code_incorrect' },
        `wrong guess ${i + 1} of 5`,
      );
    }
    // After five wrong guesses the code is spent, even the right one.
    await rejectsWithClerkError(
      si.attemptFirstFactor({ strategy: 'reset_password_phone_code', code }),
      { status: 400, code: 'verification_failed' },
      'the right code after five wrong guesses',
    );
    assert.equal((await si.reload()).firstFactorVerification.status, 'failed');

    // A new sign-in sends a new code.
    const again = await clerk.client.signIn.create({ strategy: 'reset_password_phone_code', identifier: phoneNumber });
    const fresh = codeIn(await sms.next(phoneNumber));
    const verified = await again.attemptFirstFactor({ strategy: 'reset_password_phone_code', code: fresh });
    assert.equal(verified.status, 'needs_new_password');
    const newPassword = newCredentials('x').password;
    const done = await again.resetPassword({ password: newPassword });
    assert.equal(done.status, 'complete');
    await activateAndVerify(clerk, done.createdSessionId, user.id);
    assert.deepEqual(sms.rejected, []);
    assert.deepEqual(smtp.mailbox.to(email), [], 'a reset by phone sends no email');
  });

  it('email_link: createEmailLinkFlow polls while a separate HTTP client opens the link', async () => {
    const { email, user } = await createUser('emaillink');
    const { clerk } = await loadNativeClerk(server);

    const si = await clerk.client.signIn.create({ identifier: email });
    const { emailAddressId } = factor(si, 'email_link');
    assert.equal(emailAddressId, user.primaryEmailAddressId);
    // The link may only lead back to an origin the instance allows: no open redirect.
    await rejectsWithClerkError(
      si.prepareFirstFactor({ strategy: 'email_link', emailAddressId, redirectUrl: 'https://evil.example/verified' }),
      { status: 422, code: 'form_param_value_invalid', paramName: 'redirect_url' },
      'an email link to a foreign origin',
    );
    const { startEmailLinkFlow, cancelEmailLinkFlow } = si.createEmailLinkFlow();
    let settled = false;
    const flow = startEmailLinkFlow({ emailAddressId, redirectUrl: REDIRECT_URL }).finally(() => {
      settled = true;
    });

    try {
      const mail = await smtp.next(email);
      const link = linkIn(mail);
      const linkUrl = new URL(link);
      assert.equal(linkUrl.origin, server.url, `the link goes to the server itself: ${link}`);
      assert.equal(linkUrl.pathname, '/v1/verify');
      const token = linkUrl.searchParams.get('token') ?? '';
      assert.ok(token.length >= 22, `token too short for 128 bits: ${JSON.stringify(token)}`);
      assert.ok(mail.html.includes(link.replaceAll('&', '&amp;')) || mail.html.includes(link), 'the HTML part links too');
      assert.equal(settled, false, 'the flow must wait for the link');

      // Another device: no cookies, no client token, redirects not followed.
      const opened = await fetch(link, { redirect: 'manual' });
      assert.equal(opened.status, 303, `GET ${link}: HTTP ${opened.status} ${await opened.text()}`);
      const location = new URL(opened.headers.get('location'), link);
      assert.equal(`${location.origin}${location.pathname}`, REDIRECT_URL, `Location: ${location}`);
      assert.equal(location.searchParams.get('__clerk_status'), 'verified', `Location: ${location}`);
      const createdSession = location.searchParams.get('__clerk_created_session');
      assert.match(createdSession ?? '', /^sess_/, `Location: ${location}`);

      const done = await flow;
      assert.equal(done.status, 'complete');
      assert.equal(done.firstFactorVerification.status, 'verified');
      assert.equal(done.createdSessionId, createdSession, 'the session the redirect names is the one the client got');
      await activateAndVerify(clerk, done.createdSessionId, user.id);

      // The link works once.
      const reopened = await fetch(link, { redirect: 'manual' });
      assert.equal(reopened.status, 303);
      const again = new URL(reopened.headers.get('location'), link);
      assert.equal(again.searchParams.get('__clerk_status'), 'failed', `Location on reuse: ${again}`);
      assert.equal(again.searchParams.get('__clerk_created_session'), null, `Location on reuse: ${again}`);
    } finally {
      cancelEmailLinkFlow();
    }
  });

  it('lockout: ten wrong passwords lock the account (403 user_locked, lockout_expires_in_seconds); unlockUser', async () => {
    const { email, password, user } = await createUser('lockout');
    const native = await loadNativeClerk(server);
    const { clerk } = native;
    const si = await clerk.client.signIn.create({ identifier: email });

    const outcomes = [];
    for (let i = 0; i < 10; i++) {
      try {
        await si.attemptFirstFactor({ strategy: 'password', password: `${password}-wrong-${i}` });
        outcomes.push('accepted');
      } catch (e) {
        outcomes.push(`${e.status} ${e.errors?.[0]?.code}`);
      }
    }
    // Each of the ten is a plain wrong password; the lock applies from the next attempt on.
    assert.deepEqual(outcomes, Array(10).fill('422 form_password_incorrect'), 'ten wrong passwords');

    const locked = await rejectsWithClerkError(
      si.attemptFirstFactor({ strategy: 'password', password }),
      { status: 403, code: 'user_locked' },
      'the right password on a locked account',
    );
    // The remaining time is meta.lockout_expires_in_seconds on the wire. clerk-js 6.40.0 (its
    // ClerkAPIError, from @clerk/shared) copies only a fixed list of meta keys into camelCase
    // (paramName, sessionId, emailAddresses, identifiers, zxcvbn, plan, …), and this is not one of
    // them, so the number is read from the response body clerk-js received.
    assert.equal(native.lastResponse?.status, 403);
    const wire = native.lastResponse.payload?.errors?.[0];
    assert.equal(wire?.code, 'user_locked', JSON.stringify(native.lastResponse.payload));
    const seconds = wire.meta?.lockout_expires_in_seconds;
    assert.ok(
      Number.isInteger(seconds) && seconds > 3500 && seconds <= 3600,
      `meta.lockout_expires_in_seconds: ${JSON.stringify(wire.meta)}`,
    );
    const camel = locked.errors[0].meta?.lockoutExpiresInSeconds;
    if (camel !== undefined) assert.equal(camel, seconds, 'a clerk-js that maps the key must agree');
    assert.ok(locked.errors[0].longMessage, 'the lockout comes with a message to show');
    // A new sign-in does not get around it.
    await rejectsWithClerkError(
      clerk.client.signIn.create({ identifier: email, password }),
      { status: 403, code: 'user_locked' },
      'a one-step sign-in on a locked account',
    );

    const seen = await bapi.users.getUser(user.id);
    assert.equal(seen.locked, true);
    const unlocked = await bapi.users.unlockUser(user.id);
    assert.equal(unlocked.locked, false);

    const after = await loadNativeClerk(server);
    const done = await after.clerk.client.signIn.create({ identifier: email, password });
    assert.equal(done.status, 'complete');
    await activateAndVerify(after.clerk, done.createdSessionId, user.id);
  });
});

describe('rate limits with the default settings', () => {
  let limited;
  before(async () => {
    limited = await startServer();
  });
  after(async () => {
    await limited?.stop();
  });

  test(
    'sign-in creations from one IP: the first 30 in a 10 s window pass, then 429 with Retry-After',
    withServerLog(
      () => limited,
      async () => {
        const { clerk } = await loadNativeClerk(limited);
        const outcomes = [];
        let refused;
        // 30 per fixed 10 s window: the first 30 pass whatever the window boundaries; a refusal
        // must come by the 61st.
        for (let i = 0; i < 61 && !refused; i++) {
          try {
            await clerk.client.signIn.create({ identifier: `nobody-${i}-${randomBytes(3).toString('hex')}@example.com` });
            outcomes.push('accepted');
          } catch (e) {
            if (e.status === 429) refused = e;
            else outcomes.push(`${e.status} ${e.errors?.[0]?.code}`);
          }
        }
        assert.deepEqual(
          outcomes.slice(0, 30),
          Array(30).fill('422 form_identifier_not_found'),
          'the first 30 creations are answered (unknown identifiers)',
        );
        assert.ok(refused, `no 429 after ${outcomes.length} creations`);
        assert.equal(refused.errors?.[0]?.code, 'too_many_requests');
        assert.ok(
          Number.isInteger(refused.retryAfter) && refused.retryAfter >= 1 && refused.retryAfter <= 10,
          `retryAfter: ${refused.retryAfter}`,
        );
      },
    ),
  );
});
