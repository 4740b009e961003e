#!/usr/bin/env node
// Interop peer: a Node `ws` echo server with a few test commands.
//
// Usage: node server.js [--deflate]
//
// Listens on 127.0.0.1 on an ephemeral port and prints `LISTENING <port>` once
// ready. Exits on SIGTERM/SIGINT or when stdin reaches EOF, so that it never
// outlives the test that spawned it. See ../README.md for the commands.
'use strict';

const { WebSocketServer } = require('ws');
const { splitFragments } = require('./common');

const MAX_PAYLOAD = 64 * 1024 * 1024;
const PONG_TIMEOUT_MS = 10_000; // how long to wait for the pong answering `cmd:ping`

/** `{"path": ..., "headers": {...}}` with lower-cased names, repeated headers joined by ", ". */
function handshakeInfo(req) {
  const headers = {};
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i].toLowerCase();
    const value = req.rawHeaders[i + 1];
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
  }
  return JSON.stringify({ path: req.url, headers });
}

/** Splits "a:b:rest" into ["a", "b:rest"]: only the first colon separates. */
function splitOnce(text) {
  const i = text.indexOf(':');
  return i < 0 ? [text, ''] : [text.slice(0, i), text.slice(i + 1)];
}

function handleConnection(ws, req) {
  const pendingPings = []; // { payload, timer }, oldest first

  function runCommand(command) {
    const [name, args] = splitOnce(command.slice('cmd:'.length));
    switch (name) {
      case 'close': {
        const [code, reason] = splitOnce(args);
        ws.close(Number(code), reason);
        break;
      }
      case 'ping': {
        ws.ping(Buffer.from(args));
        const entry = { payload: args };
        entry.timer = setTimeout(() => {
          pendingPings.splice(pendingPings.indexOf(entry), 1);
          ws.send(`error:no pong for ping ${JSON.stringify(args)} within ${PONG_TIMEOUT_MS / 1000}s`);
        }, PONG_TIMEOUT_MS);
        pendingPings.push(entry);
        break;
      }
      case 'fragments': {
        const [count, text] = splitOnce(args);
        const n = Number(count);
        if (!Number.isInteger(n) || n < 1) throw new RangeError(`invalid fragment count ${count}`);
        splitFragments(Buffer.from(text), n).forEach((fragment, i) =>
          ws.send(fragment, { binary: false, fin: i === n - 1 }),
        );
        break;
      }
      case 'headers':
        ws.send(handshakeInfo(req));
        break;
      default:
        ws.send(`error:unknown command ${JSON.stringify(command)}`);
    }
  }

  ws.on('message', (data, isBinary) => {
    const command = isBinary ? null : data.toString();
    if (command?.startsWith('cmd:')) {
      try {
        runCommand(command);
      } catch (error) {
        ws.send(`error:bad command ${JSON.stringify(command)}: ${error.message}`);
      }
    } else {
      ws.send(data, { binary: isBinary });
    }
  });

  ws.on('pong', (data) => {
    const payload = data.toString();
    const i = pendingPings.findIndex((entry) => entry.payload === payload);
    if (i < 0) return; // unsolicited pong
    clearTimeout(pendingPings[i].timer);
    pendingPings.splice(i, 1);
    ws.send(`pong:${payload}`);
  });

  ws.on('close', () => pendingPings.forEach(({ timer }) => clearTimeout(timer)));
  ws.on('error', () => {}); // e.g. a client that vanished; 'close' follows
}

function main() {
  const args = process.argv.slice(2);
  if (args.some((arg) => arg !== '--deflate')) {
    console.error('usage: server.js [--deflate]');
    process.exit(2);
  }

  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    perMessageDeflate: args.includes('--deflate'),
    maxPayload: MAX_PAYLOAD,
    handleProtocols: (offered) => (offered.has('chat') ? 'chat' : false),
  });
  wss.on('connection', handleConnection);
  wss.on('listening', () => console.log(`LISTENING ${wss.address().port}`));
  wss.on('error', (error) => {
    console.error(`server error: ${error.message}`);
    process.exit(1);
  });

  // Exit when the parent closes our stdin (or dies), or on a signal.
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
  process.on('SIGTERM', () => process.exit(0));
  process.on('SIGINT', () => process.exit(0));
}

main();
