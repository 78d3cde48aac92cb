// The development inbox (`GET /v1/dev/messages`): where a development instance without SMTP or an
// SMS provider keeps the codes it sends, newest first.

import assert from 'node:assert/strict';

async function messages(server, recipient) {
  const url = `${server.apiUrl}/v1/dev/messages?recipient=${encodeURIComponent(recipient)}`;
  const res = await fetch(url, { headers: { authorization: `Bearer ${server.secretKey}` } });
  assert.equal(res.status, 200);
  return (await res.json()).data;
}

/** How many messages `recipient` has received. */
export async function inboxCount(server, recipient) {
  return (await messages(server, recipient)).length;
}

/** The code in the newest message to `recipient`, once there are more than `seen`. */
export async function nextInboxCode(server, recipient, seen) {
  for (let i = 0; i < 200; i++) {
    const data = await messages(server, recipient);
    if (data.length > seen) {
      const code = /\b(\d{6})\b/.exec(data[0].text ?? data[0].body ?? '')?.[1];
      assert.ok(code, `no code in ${JSON.stringify(data[0])}`);
      return code;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`no new message to ${recipient}`);
}
