#!/usr/bin/env node
// Interop peer: a Node `ws` client that probes an echo server's size limits
// with incompressible messages. The same contract as ../py_limits.py:
//
// Usage: node limits.js URL [--deflate] CASE...
//
// Each CASE is SIZExFRAMES: one binary message of SIZE pseudo-random bytes in
// FRAMES frames (ws sends exactly FRAMES, the last with FIN), on a fresh
// connection to URL/SIZExFRAMES. Prints `RESULT <case> echo`,
// `RESULT <case> closed <code>` or `RESULT <case> error <what>` per case and,
// with compression, `NEGOTIATED <case> <extensions>`. See ../README.md.
'use strict';

const { WebSocket } = require('ws');
const { bytesOfSize, splitFragments } = require('./common');

const CASE_TIMEOUT_MS = 20_000;
const MAX_PAYLOAD = 64 * 1024 * 1024;

function parseCase(name) {
  const [size, frames = '1'] = name.split('x');
  const parsed = [Number(size), Number(frames)];
  if (!parsed.every(Number.isInteger) || parsed[1] < 1) throw new Error(`bad case ${name}`);
  return parsed;
}

/** Resolves with the case's outcome; never rejects. */
function runCase(url, name, deflate) {
  const [size, frames] = parseCase(name);
  const message = bytesOfSize(size, size);
  return new Promise((resolve) => {
    // threshold 0: compress every message, as websockets does.
    const ws = new WebSocket(`${url}/${name}`, {
      perMessageDeflate: deflate ? { threshold: 0 } : false,
      maxPayload: MAX_PAYLOAD,
    });
    let settled = false;
    const settle = (outcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(outcome);
    };
    const timer = setTimeout(() => {
      settle(`error timed out after ${CASE_TIMEOUT_MS / 1000}s`);
      ws.terminate();
    }, CASE_TIMEOUT_MS);
    let lastError = null;
    ws.on('error', (error) => {
      lastError = error;
    });
    ws.on('open', () => {
      if (deflate) console.log(`NEGOTIATED ${name} ${ws.extensions || 'none'}`);
      const pieces = splitFragments(message, frames);
      pieces.forEach((piece, i) => ws.send(piece, { binary: true, fin: i === pieces.length - 1 }));
    });
    ws.on('message', (data) => {
      settle(data.equals(message) ? 'echo' : `error echo of ${data.length} bytes differs`);
      ws.close(1000);
    });
    ws.on('close', (code) => {
      // 1005 and 1006 are what ws reports for no code and no Close frame.
      if (code === 1006) settle(`error no close frame${lastError ? `: ${lastError.message}` : ''}`);
      else settle(`closed ${code === 1005 ? 'none' : code}`);
    });
  });
}

async function main() {
  const args = process.argv.slice(2);
  const deflate = args.includes('--deflate');
  const [url, ...cases] = args.filter((arg) => arg !== '--deflate');
  try {
    if (!url || cases.length === 0) throw new Error('no cases');
    cases.forEach(parseCase);
  } catch {
    console.error('usage: limits.js URL [--deflate] SIZExFRAMES...');
    return 2;
  }
  for (const name of cases) {
    console.log(`RESULT ${name} ${await runCase(url, name, deflate)}`);
  }
  return 0;
}

main().then((code) => process.exit(code));
