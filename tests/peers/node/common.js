// Helpers shared by the Node interop peers.
'use strict';

// Characters of 1, 2, 3 and 4 UTF-8 bytes, so that text messages exercise
// UTF-8 validation, including code points cut at frame boundaries.
const TEXT_ALPHABET = Array.from('The quick brown fox jumps over the lazy dog. é ü ß € ✓ 漢字 😀 🎉 ');

/** Deterministic mixed ASCII / multi-byte text whose UTF-8 encoding is exactly `nbytes` long. */
function textOfSize(nbytes) {
  const chars = [];
  let used = 0;
  for (let i = 0; used < nbytes; i++) {
    let char = TEXT_ALPHABET[i % TEXT_ALPHABET.length];
    if (used + Buffer.byteLength(char) > nbytes) char = 'x';
    chars.push(char);
    used += Buffer.byteLength(char);
  }
  return chars.join('');
}

/** Deterministic pseudo-random bytes (mulberry32). */
function bytesOfSize(nbytes, seed) {
  const out = Buffer.alloc(nbytes);
  let state = seed >>> 0;
  for (let i = 0; i < nbytes; i++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (t ^ (t >>> 14)) & 0xff;
  }
  return out;
}

/** Splits `data` into `count` roughly equal byte ranges (boundaries may fall inside a code point). */
function splitFragments(data, count) {
  return Array.from({ length: count }, (_, i) =>
    data.subarray(Math.floor((data.length * i) / count), Math.floor((data.length * (i + 1)) / count)),
  );
}

/** A FIFO whose `next()` waits for the next item, or rejects once the source has ended. */
class Queue {
  constructor() {
    this.items = [];
    this.waiters = [];
    this.endError = null;
  }

  push(item) {
    const waiter = this.waiters.shift();
    if (waiter) waiter.resolve(item);
    else this.items.push(item);
  }

  end(error) {
    this.endError = error;
    for (const waiter of this.waiters.splice(0)) waiter.reject(error);
  }

  next() {
    if (this.items.length > 0) return Promise.resolve(this.items.shift());
    if (this.endError) return Promise.reject(this.endError);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }
}

/** Collects what a client `ws` WebSocket receives, for awaiting in order. */
class Inbox {
  constructor(ws) {
    this.messages = new Queue();
    this.pongs = new Queue();
    let lastError = null;

    this.opened = new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    // The EventTarget-style close event also tells whether the close was clean.
    this.closed = new Promise((resolve) => ws.addEventListener('close', resolve, { once: true }));

    ws.on('message', (data, isBinary) => this.messages.push({ data, isBinary }));
    ws.on('pong', (data) => this.pongs.push(data));
    ws.on('error', (error) => {
      lastError = error;
    });
    ws.on('close', (code, reason) => {
      const why = lastError ? `: ${lastError.message}` : '';
      const error = new Error(
        `connection closed (code ${code}, reason ${JSON.stringify(reason.toString())})${why}`,
      );
      this.messages.end(error);
      this.pongs.end(error);
    });
  }

  next() {
    return this.messages.next();
  }

  nextPong() {
    return this.pongs.next();
  }
}

module.exports = { Inbox, bytesOfSize, splitFragments, textOfSize };
