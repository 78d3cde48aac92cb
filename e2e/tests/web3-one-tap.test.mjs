// Sign-in without a shared secret, through clerk-js in Node: Web3 wallets with
// signIn.authenticateWithWeb3 and real signers (viem's personal_sign for the four Ethereum
// wallets, tweetnacl's ed25519 for Solana), and Google One Tap with
// clerk.authenticateWithGoogleOneTap and ID tokens signed by a test key that a local JWKS
// endpoint publishes, as Google's does.

import assert from 'node:assert/strict';
import { createSign, generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { verifyToken } from '@clerk/backend';
import bs58 from 'bs58';
import nacl from 'tweetnacl';
import { privateKeyToAccount } from 'viem/accounts';
import { startServer, withServerLog } from '../lib/server.mjs';
import { backendClient, loadNativeClerk, rejectsWithClerkError, signOutInNode } from '../lib/clerk.mjs';

let server;
let bapi;
let google;

const GOOGLE_CLIENT_ID = 'vestibule-e2e.apps.googleusercontent.com';

/** Google's key endpoint, stood in for: one RSA key, published as a JWKS on a loopback port. */
async function startGoogle() {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'e2e-google-1', alg: 'RS256', use: 'sig' };
  const http = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise((resolve) => http.listen(0, '127.0.0.1', resolve));
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return {
    url: `http://127.0.0.1:${http.address().port}/oauth2/v3/certs`,
    /** An ID token as Google's One Tap hands the page one. */
    token(email, changes = {}) {
      const now = Math.floor(Date.now() / 1000);
      const header = b64({ alg: 'RS256', kid: jwk.kid, typ: 'JWT' });
      const payload = b64({
        iss: 'https://accounts.google.com',
        aud: GOOGLE_CLIENT_ID,
        sub: String(now),
        email,
        email_verified: true,
        iat: now,
        exp: now + 3600,
        ...changes,
      });
      const signature = createSign('RSA-SHA256').update(`${header}.${payload}`).sign(privateKey).toString('base64url');
      return `${header}.${payload}.${signature}`;
    },
    close: () => new Promise((resolve) => http.close(resolve)),
  };
}

before(async () => {
  google = await startGoogle();
  server = await startServer({
    config: `
[settings.google_one_tap]
client_id = "${GOOGLE_CLIENT_ID}"
jwks_url = "${google.url}"

[settings.web3]
metamask = true
coinbase_wallet = true
okx_wallet = true
base = true
solana = true
`,
  });
  bapi = backendClient(server);
});

after(async () => {
  await server?.stop();
  await google?.close();
});

const it = (name, fn) => test(name, withServerLog(() => server, fn));

/** An Ethereum wallet: its address and what its personal_sign answers, as a wallet would. */
function ethWallet() {
  const account = privateKeyToAccount(`0x${Buffer.from(nacl.randomBytes(32)).toString('hex')}`);
  return {
    address: account.address,
    generateSignature: ({ nonce }) => account.signMessage({ message: nonce }),
  };
}

/** A Solana wallet: a base58 address, and an ed25519 signature of the message's bytes in base64. */
function solWallet() {
  const keys = nacl.sign.keyPair();
  return {
    address: bs58.encode(keys.publicKey),
    generateSignature: ({ nonce }) =>
      Buffer.from(nacl.sign.detached(new TextEncoder().encode(nonce), keys.secretKey)).toString('base64'),
  };
}

describe('Web3 wallets: authenticateWithWeb3 with real signers', () => {
  it('each of the five wallet strategies signs in a user created with @clerk/backend', async () => {
    const eth = ethWallet();
    const sol = solWallet();
    const user = await bapi.users.createUser({ web3Wallet: [eth.address, sol.address], skipPasswordRequirement: true });
    assert.deepEqual(
      user.web3Wallets.map((w) => w.web3Wallet),
      [eth.address.toLowerCase(), sol.address],
    );
    const listed = await bapi.users.getUserList({ web3Wallet: [eth.address] });
    assert.deepEqual(
      listed.data.map((u) => u.id),
      [user.id],
      'getUserList finds the user by wallet, in any case',
    );

    const { clerk } = await loadNativeClerk(server);
    const env = clerk.__internal_environment ?? clerk.environment;
    assert.deepEqual(env?.userSettings?.attributes?.web3_wallet?.first_factors, [
      'web3_metamask_signature',
      'web3_coinbase_wallet_signature',
      'web3_okx_wallet_signature',
      'web3_base_signature',
      'web3_solana_signature',
    ]);
    for (const [strategy, wallet] of [
      ['web3_metamask_signature', eth],
      ['web3_coinbase_wallet_signature', eth],
      ['web3_okx_wallet_signature', eth],
      ['web3_base_signature', eth],
      ['web3_solana_signature', sol],
    ]) {
      let signed = 0;
      const si = await clerk.client.signIn.authenticateWithWeb3({
        identifier: wallet.address,
        strategy,
        walletName: strategy === 'web3_solana_signature' ? 'phantom' : undefined,
        generateSignature: async (params) => {
          signed += 1;
          return wallet.generateSignature(params);
        },
      });
      assert.equal(signed, 1, `${strategy}: one signature asked for`);
      assert.equal(si.status, 'complete', `${strategy}: ${si.status}`);
      assert.equal(si.firstFactorVerification?.strategy, strategy);
      await clerk.setActive({ session: si.createdSessionId });
      assert.equal(clerk.user?.id, user.id, strategy);
      assert.equal(clerk.user?.primaryWeb3Wallet?.web3Wallet, eth.address.toLowerCase());
      const token = await clerk.session.getToken();
      const claims = await verifyToken(token, { secretKey: server.secretKey, apiUrl: server.apiUrl });
      assert.equal(claims.sub, user.id, strategy);
      await signOutInNode(clerk);
    }
  });

  it('another wallet, a reused message, a malformed signature and an unknown wallet are refused', async () => {
    const eth = ethWallet();
    await bapi.users.createUser({ web3Wallet: [eth.address], skipPasswordRequirement: true });
    const stranger = ethWallet();
    const { clerk } = await loadNativeClerk(server);
    await rejectsWithClerkError(
      clerk.client.signIn.authenticateWithWeb3({
        identifier: eth.address,
        strategy: 'web3_metamask_signature',
        generateSignature: stranger.generateSignature,
      }),
      { status: 422, code: 'form_param_value_invalid', paramName: 'signature' },
      "another wallet's signature",
    );
    await rejectsWithClerkError(
      clerk.client.signIn.authenticateWithWeb3({
        identifier: eth.address,
        strategy: 'web3_okx_wallet_signature',
        generateSignature: async () => '0xnot-a-signature',
      }),
      { status: 422, code: 'form_param_format_invalid', paramName: 'signature' },
      'a malformed signature',
    );
    // A signature of one handed-out message does not answer the next one.
    let first;
    const si = await clerk.client.signIn.authenticateWithWeb3({
      identifier: eth.address,
      strategy: 'web3_base_signature',
      generateSignature: async (params) => {
        first = { nonce: params.nonce, signature: await eth.generateSignature(params) };
        return first.signature;
      },
    });
    assert.equal(si.status, 'complete');
    await signOutInNode(clerk);
    await clerk.client.signIn.create({ identifier: eth.address });
    const factor = clerk.client.signIn.supportedFirstFactors.find((f) => f.strategy === 'web3_base_signature');
    await clerk.client.signIn.prepareFirstFactor(factor);
    assert.notEqual(clerk.client.signIn.firstFactorVerification.message, first.nonce, 'a fresh message each time');
    await rejectsWithClerkError(
      clerk.client.signIn.attemptFirstFactor({ strategy: 'web3_base_signature', signature: first.signature }),
      { status: 422, code: 'form_param_value_invalid', paramName: 'signature' },
      'a signature of an earlier message',
    );
    await rejectsWithClerkError(
      clerk.client.signIn.create({ identifier: ethWallet().address }),
      { status: 422, code: 'form_identifier_not_found' },
      'a wallet no account has',
    );
  });
});

describe('Google One Tap: authenticateWithGoogleOneTap', () => {
  it('an ID token for a verified email signs its account in once; a token for another app is refused', async () => {
    const email = `one-tap-${Date.now()}@example.com`;
    const user = await bapi.users.createUser({ emailAddress: [email], skipPasswordRequirement: true });
    const { clerk } = await loadNativeClerk(server);
    const env = clerk.__internal_environment ?? clerk.environment;
    assert.equal(env?.displayConfig?.googleOneTapClientId, GOOGLE_CLIENT_ID);
    const token = google.token(email);
    const si = await clerk.authenticateWithGoogleOneTap({ token });
    assert.equal(si.status, 'complete', `One Tap sign-in status: ${si.status}`);
    assert.equal(si.firstFactorVerification?.strategy, 'google_one_tap');
    await clerk.setActive({ session: si.createdSessionId });
    assert.equal(clerk.user?.id, user.id);
    const claims = await verifyToken(await clerk.session.getToken(), {
      secretKey: server.secretKey,
      apiUrl: server.apiUrl,
    });
    assert.equal(claims.sub, user.id);
    await signOutInNode(clerk);

    await rejectsWithClerkError(
      clerk.authenticateWithGoogleOneTap({ token }),
      { status: 422, code: 'form_param_value_invalid', paramName: 'token' },
      'the same ID token again',
    );
    await rejectsWithClerkError(
      clerk.authenticateWithGoogleOneTap({ token: google.token(email, { aud: 'another-app.apps.googleusercontent.com' }) }),
      { status: 422, code: 'form_param_value_invalid', paramName: 'token' },
      'an ID token for another application',
    );
  });
});
