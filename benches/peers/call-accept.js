// k6 peer of scenarios/call-accept.yaml, for the CPU-per-session comparison of issue 6
// (scripts/bench, docs/performance.md).
//
// The same flow, frame for frame, as `sigbench run scenarios/call-accept.yaml`:
//   caller: call {type: 2, account: callee, requestId}      -> expect 200, save channelId
//   callee: await INVITE from caller with that requestId     (within 2 s)
//   callee: accept {channelId, account: caller, requestId, autoJoin: true} -> expect 200
//   caller: await ACCEPT                                     (within 2 s)
//   pause 100..500 ms (uniform)
//   caller: close {channelId}                                -> expect 200
//   callee: await ROOM_CLOSE                                 (within 2 s)
//
// Like sigbench, every VU is one worker of the closed model: it logs its two accounts
// (caller and callee) in once, keeps both connections open, and runs its share of the
// sessions back to back over them. (A k6 iteration cannot keep a WebSocket open into the
// next one, so a VU runs ONE iteration that loops over its sessions; with one iteration
// per session k6 would add a connect, two logins and two closes to every session.) The
// only difference is the split: sigbench's workers take the next session from a shared
// counter, here each VU gets SESSIONS / CONCURRENCY of them up front.
//
// Each step's latency goes into a Trend named like the step, as sigbench records it; the
// response codes are checked and mismatches counted in `failures`.
//
// Run: k6 run -e TARGET=ws://127.0.0.1:PORT/ -e SECRET=s [-e SESSIONS=1000]
//      [-e CONCURRENCY=100] [-e PAUSE_MIN_MS=100 -e PAUSE_MAX_MS=500]
//      benches/peers/call-accept.js
// SECRET is the server's --secret (tokens are HMAC-SHA256(secret, account) in lowercase
// hex, protocol P-3.3); against `sigbench serve --open` any value works.

import { WebSocket } from 'k6/experimental/websockets';
import { hmac } from 'k6/crypto';
import { Counter, Trend } from 'k6/metrics';
import { setTimeout, clearTimeout } from 'k6/timers';

const TARGET = __ENV.TARGET || 'ws://127.0.0.1:8080/';
const SECRET = __ENV.SECRET || 'secret';
const SESSIONS = parseInt(__ENV.SESSIONS || '1000', 10);
const CONCURRENCY = parseInt(__ENV.CONCURRENCY || '100', 10);
const WITHIN_MS = 2000;
// The think time before hanging up, uniform in [PAUSE_MIN_MS, PAUSE_MAX_MS] (the
// scenario's 100ms..500ms; 0 and 0 for the no-think-time flow of closed-max.yaml).
const PAUSE_MIN_MS = parseFloat(__ENV.PAUSE_MIN_MS || '100');
const PAUSE_MAX_MS = parseFloat(__ENV.PAUSE_MAX_MS || '500');
const RUN = __ENV.RUN || Date.now().toString(36);

export const options = {
  scenarios: {
    calls: {
      executor: 'per-vu-iterations',
      vus: CONCURRENCY,
      iterations: 1,
      maxDuration: __ENV.MAX_DURATION || '10m',
    },
  },
  thresholds: { failures: ['count==0'] },
};

const trends = {
  call: new Trend('call', true),
  invite: new Trend('invite_delivered', true),
  accept: new Trend('accept', true),
  accepted: new Trend('accept_delivered', true),
  close: new Trend('hang_up', true),
  closed: new Trend('close_delivered', true),
  login: new Trend('login', true),
};
const failures = new Counter('failures');
const sessionsDone = new Counter('sessions');

// One logged-in device: pairs responses with requests by id, and buffers pushes until
// an await takes them (an event may arrive before its await starts).
class Device {
  constructor(account) {
    this.account = account;
    this.nextId = 1;
    this.pending = new Map();
    this.pushes = [];
    this.waiter = null;
  }

  open() {
    return new Promise((resolve, reject) => {
      this.ws = new WebSocket(TARGET);
      this.ws.onopen = () => resolve();
      this.ws.onerror = (e) => reject(new Error(`${this.account}: ${e.error}`));
      this.ws.onmessage = (m) => this.onFrame(JSON.parse(m.data));
      this.ws.onclose = () => {
        for (const [, p] of this.pending) p.reject(new Error('connection closed'));
        this.pending.clear();
      };
    });
  }

  onFrame(frame) {
    if (frame.push === undefined) {
      const p = this.pending.get(frame.id);
      if (p) {
        this.pending.delete(frame.id);
        p.resolve(frame);
      }
      return;
    }
    if (frame.push !== 'notify') return;
    this.pushes.push(frame.event);
    if (this.waiter) this.waiter();
  }

  request(op, params) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ id, op, params }));
    });
  }

  // The oldest buffered event that `matches`, waiting at most WITHIN_MS.
  take(matches) {
    return new Promise((resolve) => {
      let timer = null;
      const look = () => {
        const i = this.pushes.findIndex(matches);
        if (i < 0) return false;
        const event = this.pushes.splice(i, 1)[0];
        this.waiter = null;
        if (timer !== null) clearTimeout(timer);
        resolve(event);
        return true;
      };
      if (look()) return;
      this.waiter = look;
      timer = setTimeout(() => {
        this.waiter = null;
        resolve(null);
      }, WITHIN_MS);
    });
  }
}

function expectCode(step, frame, code) {
  if (frame.code !== code) {
    failures.add(1, { step });
    return false;
  }
  return true;
}

async function login(device) {
  await device.open();
  const token = hmac('sha256', SECRET, device.account, 'hex');
  const t0 = Date.now();
  const r = await device.request('login', { account: device.account, token });
  trends.login.add(Date.now() - t0);
  expectCode('login', r, 200);
}

async function session(caller, callee, n) {
  const requestId = `${RUN}-${n}`;
  const t0 = Date.now();
  const call = await caller.request('call', { type: 2, account: callee.account, requestId });
  trends.call.add(Date.now() - t0);
  if (!expectCode('call', call, 200)) return false;
  const cid = call.data.channel.channelId;

  const invite = await callee.take(
    (e) => e.eventType === 'INVITE' && e.from === caller.account && e.requestId === requestId,
  );
  if (invite === null) return failures.add(1, { step: 'invite delivered' }), false;
  trends.invite.add(Date.now() - t0);

  const t1 = Date.now();
  const accept = await callee.request('accept', {
    channelId: cid, account: caller.account, requestId, autoJoin: true,
  });
  trends.accept.add(Date.now() - t1);
  if (!expectCode('accept', accept, 200)) return false;

  const accepted = await caller.take((e) => e.eventType === 'ACCEPT');
  if (accepted === null) return failures.add(1, { step: 'accept delivered' }), false;
  trends.accepted.add(Date.now() - t1);

  if (PAUSE_MAX_MS > 0) {
    const pause = PAUSE_MIN_MS + Math.random() * (PAUSE_MAX_MS - PAUSE_MIN_MS);
    await new Promise((resolve) => setTimeout(resolve, pause));
  }

  const t2 = Date.now();
  const close = await caller.request('close', { channelId: cid });
  trends.close.add(Date.now() - t2);
  if (!expectCode('hang up', close, 200)) return false;

  const closed = await callee.take((e) => e.eventType === 'ROOM_CLOSE');
  if (closed === null) return failures.add(1, { step: 'close delivered' }), false;
  trends.closed.add(Date.now() - t2);
  return true;
}

export default async function () {
  const vu = __VU; // 1-based
  const mine = Math.floor(SESSIONS / CONCURRENCY) + (vu <= SESSIONS % CONCURRENCY ? 1 : 0);
  const caller = new Device(`k6${RUN}-caller-${vu}`);
  const callee = new Device(`k6${RUN}-callee-${vu}`);
  await Promise.all([login(caller), login(callee)]);
  for (let i = 0; i < mine; i++) {
    // Session numbers are unique over all VUs, like sigbench's.
    const ok = await session(caller, callee, i * CONCURRENCY + vu);
    sessionsDone.add(1, { ok: ok ? 'true' : 'false' });
    // Between sessions, sigbench drops any push left over; so do we.
    caller.pushes.length = 0;
    callee.pushes.length = 0;
  }
  caller.ws.close();
  callee.ws.close();
}
