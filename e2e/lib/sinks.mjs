// Where the server's messages land in the tests: a real SMTP server (nodemailer's smtp-server,
// each message parsed with mailparser) and an HTTP sink for the SMS webhook that checks
// X-Vestibule-Signature. Both listen on an ephemeral port of 127.0.0.1 inside the test process.

import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';

const WAIT_TIMEOUT_MS = 10_000;

/**
 * Messages by recipient, each handed out once: `next(to)` returns the oldest message to `to` that
 * no earlier `next` returned, waiting for it if none has arrived yet.
 */
class Mailbox {
  constructor(kind) {
    this.kind = kind;
    /** Everything received, in order of arrival. */
    this.all = [];
    this.taken = new Set();
    this.waiters = new Set();
  }

  add(message) {
    this.all.push(message);
    for (const w of this.waiters) w();
  }

  /** Messages to `to` (compared without case) received so far, taken or not. */
  to(to) {
    const want = to.toLowerCase();
    return this.all.filter((m) => m.to.some((r) => r.toLowerCase() === want));
  }

  async next(to, { timeoutMs = WAIT_TIMEOUT_MS } = {}) {
    const find = () => this.to(to).find((m) => !this.taken.has(m));
    let found = find();
    if (!found) {
      found = await new Promise((resolve, reject) => {
        const waiter = () => {
          const m = find();
          if (m) {
            clearTimeout(timer);
            this.waiters.delete(waiter);
            resolve(m);
          }
        };
        const timer = setTimeout(() => {
          this.waiters.delete(waiter);
          reject(
            new Error(
              `no ${this.kind} to ${to} within ${timeoutMs} ms; received so far: ` +
                JSON.stringify(this.all.map((m) => ({ to: m.to, purpose: m.purpose, subject: m.subject }))),
            ),
          );
        }, timeoutMs);
        this.waiters.add(waiter);
      });
    }
    this.taken.add(found);
    return found;
  }

  /** Asserts that no message to `to` beyond those already taken arrives within `ms`. */
  async expectNothingNew(to, ms, what) {
    await new Promise((r) => setTimeout(r, ms));
    const fresh = this.to(to).filter((m) => !this.taken.has(m));
    assert.deepEqual(
      fresh.map((m) => m.subject ?? m.body),
      [],
      `${what}: unexpected ${this.kind} to ${to}`,
    );
  }
}

/**
 * An SMTP server without TLS or authentication, as `smtp://127.0.0.1:PORT?tls=none` expects.
 * Each message is `{to, from, subject, text, html, headers, envelope}`; `to` holds the envelope
 * recipients (RCPT TO).
 */
export async function startSmtpSink() {
  const mailbox = new Mailbox('email');
  const errors = [];
  const smtp = new SMTPServer({
    secure: false,
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    logger: false,
    banner: 'vestibule e2e sink',
    // The server under test may keep its connection open for the next message: at close, end it
    // after a moment instead of waiting the default 30 s for the client to quit.
    closeTimeout: 200,
    onData(stream, session, callback) {
      simpleParser(stream)
        .then((parsed) => {
          mailbox.add({
            to: session.envelope.rcptTo.map((r) => r.address),
            envelope: {
              from: session.envelope.mailFrom?.address ?? null,
              to: session.envelope.rcptTo.map((r) => r.address),
            },
            from: parsed.from?.text ?? null,
            fromAddress: parsed.from?.value?.[0]?.address ?? null,
            toHeader: parsed.to?.text ?? null,
            subject: parsed.subject ?? null,
            text: parsed.text ?? '',
            html: typeof parsed.html === 'string' ? parsed.html : '',
            contentType: parsed.headers.get('content-type')?.value ?? null,
            receivedAt: Date.now(),
          });
          callback();
        })
        .catch((e) => {
          errors.push(e);
          callback(e);
        });
    },
  });
  smtp.on('error', (e) => errors.push(e));
  await new Promise((resolve, reject) => {
    smtp.server.once('error', reject);
    smtp.listen(0, '127.0.0.1', () => {
      smtp.server.off('error', reject);
      resolve();
    });
  });
  const { port } = smtp.server.address();
  return {
    port,
    /** What `vestibule serve --smtp-url` takes. */
    url: `smtp://127.0.0.1:${port}?tls=none`,
    mailbox,
    errors,
    next: (to, options) => mailbox.next(to, options),
    close: () => new Promise((resolve) => smtp.close(resolve)),
  };
}

/** The signature header's value for `rawBody` at unix time `t`, as the server computes it. */
export function smsSignature(secret, t, rawBody) {
  return createHmac('sha256', secret).update(`${t}.${rawBody}`).digest('hex');
}

/**
 * Checks `X-Vestibule-Signature: t=<unix>,v1=<hex>` against the raw body; returns a reason on
 * failure, null when it is good. A timestamp more than five minutes away is refused too.
 */
export function checkSmsSignature(secret, header, rawBody, now = Date.now()) {
  if (!header) return 'no X-Vestibule-Signature header';
  const fields = {};
  for (const part of header.split(',')) {
    const i = part.indexOf('=');
    if (i > 0) fields[part.slice(0, i).trim()] = part.slice(i + 1).trim();
  }
  if (!/^\d+$/.test(fields.t ?? '')) return `no unix timestamp t in ${JSON.stringify(header)}`;
  if (!/^[0-9a-f]{64}$/.test(fields.v1 ?? '')) return `no hex SHA-256 v1 in ${JSON.stringify(header)}`;
  if (Math.abs(now / 1000 - Number(fields.t)) > 300) return `timestamp t=${fields.t} is more than 5 minutes away`;
  const want = Buffer.from(smsSignature(secret, fields.t, rawBody), 'hex');
  const got = Buffer.from(fields.v1, 'hex');
  if (!timingSafeEqual(want, got)) return 'v1 is not HMAC-SHA256(secret, "<t>.<raw body>")';
  return null;
}

/**
 * The SMS webhook: `POST /sms` with JSON `{to, body, purpose, message_id}`. With a `secret`,
 * requests whose signature does not verify are answered 401 and recorded in `rejected`; good
 * ones are answered 200 and become messages `{to: [to], body, purpose, messageId, signature}`.
 */
export async function startSmsSink({ secret } = {}) {
  const mailbox = new Mailbox('SMS');
  const rejected = [];
  const http = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const url = new URL(req.url, 'http://sink');
      if (req.method !== 'POST' || url.pathname !== '/sms') {
        rejected.push({ reason: `${req.method} ${url.pathname}`, raw });
        res.writeHead(404).end();
        return;
      }
      const signature = req.headers['x-vestibule-signature'] ?? null;
      if (secret) {
        const reason = checkSmsSignature(secret, signature, raw);
        if (reason) {
          rejected.push({ reason, signature, raw });
          res.writeHead(401, { 'content-type': 'text/plain' }).end(reason);
          return;
        }
      }
      let json;
      try {
        json = JSON.parse(raw);
      } catch (e) {
        rejected.push({ reason: `body is not JSON: ${e.message}`, raw });
        res.writeHead(400).end();
        return;
      }
      mailbox.add({
        to: [json.to],
        body: json.body,
        purpose: json.purpose,
        messageId: json.message_id,
        json,
        contentType: req.headers['content-type'] ?? null,
        signature,
        receivedAt: Date.now(),
      });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
  });
  await new Promise((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address();
  return {
    port,
    /** What `vestibule serve --sms-webhook-url` takes. */
    url: `http://127.0.0.1:${port}/sms`,
    secret,
    mailbox,
    rejected,
    next: (to, options) => mailbox.next(to, options),
    close: () =>
      new Promise((resolve) => {
        http.closeAllConnections();
        http.close(resolve);
      }),
  };
}

/** The six-digit code in a message's text (email plain-text part or SMS body). */
export function codeIn(message) {
  const text = message.text ?? message.body ?? '';
  const codes = [...text.matchAll(/(?<!\d)(\d{6})(?!\d)/g)].map((m) => m[1]);
  assert.ok(codes.length > 0, `no six-digit code in ${JSON.stringify(text)}`);
  assert.ok(
    codes.every((c) => c === codes[0]),
    `several different codes in ${JSON.stringify(text)}`,
  );
  return codes[0];
}

/** The verification link (`…/v1/verify?token=…`) in an email's plain-text part. */
export function linkIn(message) {
  const text = message.text ?? message.body ?? '';
  const links = [...text.matchAll(/https?:\/\/[^\s<>"]+\/v1\/verify\?[^\s<>"]+/g)].map((m) => m[0]);
  assert.ok(links.length > 0, `no /v1/verify link in ${JSON.stringify(text)}`);
  return links[0];
}
