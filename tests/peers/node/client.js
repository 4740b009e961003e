#!/usr/bin/env node
// Interop peer: a Node `ws` client that exercises an echo server.
//
// Usage: node client.js URL SCENARIO [--deflate]
//
// The server at URL must echo every text and binary message unchanged, answer
// pings, and echo the close code and reason. Each check prints one line; the
// exit status is 0 only if every check passed. See ../README.md.
'use strict';

const { WebSocket } = require('ws');
const { Inbox, bytesOfSize, textOfSize } = require('./common');

const SCENARIO_TIMEOUT_MS = 30_000;
const CLOSE_TIMEOUT_MS = 10_000; // how long ws waits for the server to drop TCP
const CLEAN_CLOSE_BUDGET_MS = 5_000; // a clean closing handshake must finish within this
const MAX_PAYLOAD = 64 * 1024 * 1024;

const SIZES = [0, 125, 126, 65535, 65536, 1048576, 1048577];

class CheckFailed extends Error {}

function ok(message) {
  console.log(`ok   ${message}`);
}

function check(condition, message) {
  if (!condition) throw new CheckFailed(message);
  ok(message);
}

function describe(isBinary, length) {
  return `${isBinary ? 'binary' : 'text'} message of ${length} bytes`;
}

/** Sends a message (or fragments, each sent as one frame) and resolves once written. */
function send(ws, data, options = {}) {
  return new Promise((resolve, reject) => {
    ws.send(data, options, (error) => (error ? reject(error) : resolve()));
  });
}

/** Sends `fragments` as one message, one frame per fragment. */
async function sendFragments(ws, fragments, binary) {
  for (const [i, fragment] of fragments.entries()) {
    await send(ws, fragment, { binary, fin: i === fragments.length - 1 });
  }
}

async function expectEcho(inbox, expected, isBinary, label) {
  const message = await inbox.next();
  if (message.isBinary !== isBinary) {
    throw new CheckFailed(
      `${label}: sent ${describe(isBinary, expected.length)}, ` +
        `got ${describe(message.isBinary, message.data.length)}`,
    );
  }
  if (!message.data.equals(expected)) {
    throw new CheckFailed(
      `${label}: echo differs from what was sent (${describe(message.isBinary, message.data.length)})`,
    );
  }
  ok(`${label}: echoed ${describe(isBinary, expected.length)}`);
}

// Scenarios -------------------------------------------------------------------

async function scenarioSizes(ws, inbox) {
  for (const size of SIZES) {
    const text = textOfSize(size);
    await send(ws, text);
    await expectEcho(inbox, Buffer.from(text), false, `sizes: text ${size}`);

    const data = bytesOfSize(size, size);
    await send(ws, data);
    await expectEcho(inbox, data, true, `sizes: binary ${size}`);
  }
}

async function scenarioFragmented(ws, inbox) {
  const strings = ['Hello, ', 'fragmented ', 'wörld € ', '😀', ''];
  await sendFragments(ws, strings, false);
  await expectEcho(inbox, Buffer.from(strings.join('')), false, 'fragmented: text (string fragments)');

  // Split multi-byte code points across frames: '€' is e2 82 ac and '😀' is
  // f0 9f 98 80. Each fragment alone is invalid UTF-8; the whole is valid.
  const encoded = Buffer.from('a€b😀c');
  const cuts = [0, 2, 3, 6, 8, encoded.length];
  const pieces = cuts.slice(1).map((end, i) => encoded.subarray(cuts[i], end));
  await sendFragments(ws, pieces, false);
  await expectEcho(inbox, encoded, false, 'fragmented: text split inside code points');

  const blobs = [0, 1, 2, 3, 4].map((seed) => bytesOfSize(1000, seed));
  await sendFragments(ws, blobs, true);
  await expectEcho(inbox, Buffer.concat(blobs), true, 'fragmented: binary');

  const big = Array(3).fill(Buffer.from(textOfSize(70000)));
  await sendFragments(ws, big, false);
  await expectEcho(inbox, Buffer.concat(big), false, 'fragmented: text with 70000-byte fragments');

  // A ping sent between two fragments of the same message: the server must
  // answer it and still reassemble the message.
  await send(ws, Buffer.from('before ping, '), { binary: true, fin: false });
  ws.ping(Buffer.from('mid-fragment'));
  await send(ws, Buffer.from('after ping'), { binary: true, fin: true });
  await expectEcho(inbox, Buffer.from('before ping, after ping'), true, 'fragmented: ping between fragments');
  const pong = await inbox.nextPong();
  check(pong.equals(Buffer.from('mid-fragment')), 'fragmented: pong for ping sent between fragments');
}

async function scenarioPing(ws, inbox) {
  for (const payload of [Buffer.from('hello-ping'), Buffer.alloc(0), Buffer.from([...Array(125).keys()])]) {
    ws.ping(payload);
    const pong = await inbox.nextPong();
    check(pong.equals(payload), `ping: pong with the same ${payload.length}-byte payload`);
  }

  await send(ws, 'message around a ping');
  ws.ping(Buffer.from('interleaved'));
  await expectEcho(inbox, Buffer.from('message around a ping'), false, 'ping: message sent before a ping');
  const pong = await inbox.nextPong();
  check(pong.equals(Buffer.from('interleaved')), 'ping: pong after a message');
}

async function scenarioClose(ws, inbox) {
  await send(ws, 'before close');
  await expectEcho(inbox, Buffer.from('before close'), false, 'close: message before close');

  const started = Date.now();
  ws.close(4000, 'bye from peer');
  const event = await inbox.closed;
  const elapsed = Date.now() - started;

  check(event.wasClean, 'close: closing handshake completed (close frames both ways)');
  check(event.code === 4000, `close: server echoed code ${event.code} (want 4000)`);
  // RFC 6455 §5.5.1: the echo typically repeats the code; the reason is optional.
  check(
    event.reason === '' || event.reason === 'bye from peer',
    `close: server echoed reason ${JSON.stringify(event.reason)} (want "" or "bye from peer")`,
  );
  check(
    elapsed < CLEAN_CLOSE_BUDGET_MS,
    `close: handshake and TCP close took ${elapsed} ms (limit ${CLEAN_CLOSE_BUDGET_MS} ms)`,
  );
}

async function scenarioVanish(ws, inbox) {
  await send(ws, 'about to vanish');
  await expectEcho(inbox, Buffer.from('about to vanish'), false, 'vanish: message before vanishing');
  ws.terminate(); // destroys the TCP socket without a close frame
  await inbox.closed;
  ok('vanish: connection destroyed without a close frame');
}

async function scenarioMany(ws, inbox) {
  const count = 1000;
  const messages = Array.from({ length: count }, (_, i) => `message ${String(i).padStart(4, '0')} ✓`);
  const sent = Promise.all(messages.map((message) => send(ws, message)));
  for (const [i, expected] of messages.entries()) {
    const { data, isBinary } = await inbox.next();
    if (isBinary || data.toString() !== expected) {
      throw new CheckFailed(
        `many: echo #${i} is ${JSON.stringify(data.toString())}, want ${JSON.stringify(expected)}`,
      );
    }
  }
  await sent;
  ok(`many: ${count} echoes received in order`);
}

const SCENARIOS = {
  sizes: scenarioSizes,
  fragmented: scenarioFragmented,
  ping: scenarioPing,
  close: scenarioClose,
  vanish: scenarioVanish,
  many: scenarioMany,
};
const ALL = ['sizes', 'fragmented', 'ping', 'close', 'many'];

async function runScenario(url, name, deflate) {
  const ws = new WebSocket(url, {
    perMessageDeflate: deflate,
    maxPayload: MAX_PAYLOAD,
    closeTimeout: CLOSE_TIMEOUT_MS,
  });
  const inbox = new Inbox(ws);
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(
      () => reject(new CheckFailed(`${name}: timed out after ${SCENARIO_TIMEOUT_MS / 1000}s`)),
      SCENARIO_TIMEOUT_MS,
    );
  });
  try {
    await Promise.race([
      (async () => {
        await inbox.opened;
        if (deflate) {
          check(ws.extensions.includes('permessage-deflate'), `${name}: server did not accept permessage-deflate`);
          ok(`${name}: permessage-deflate negotiated (${ws.extensions})`);
        }
        await SCENARIOS[name](ws, inbox);
      })(),
      timeout,
    ]);
  } catch (error) {
    if (error instanceof CheckFailed) throw error;
    throw new CheckFailed(`${name}: ${error.name}: ${error.message}`);
  } finally {
    clearTimeout(timer);
    ws.terminate();
  }
}

async function main() {
  const args = process.argv.slice(2);
  const deflate = args.includes('--deflate');
  const [url, scenario, ...rest] = args.filter((arg) => arg !== '--deflate');
  if (!url || !(scenario in SCENARIOS || scenario === 'all') || rest.length > 0) {
    console.error(`usage: client.js URL {${[...Object.keys(SCENARIOS), 'all'].join(',')}} [--deflate]`);
    return 2;
  }

  const names = scenario === 'all' ? ALL : [scenario];
  try {
    for (const name of names) {
      await runScenario(url, name, deflate);
    }
  } catch (error) {
    console.log(`FAIL ${error.message}`);
    return 1;
  }
  console.log(`node_client: all checks passed (${names.join(', ')})`);
  return 0;
}

main().then((code) => process.exit(code));
