/**
 * Watcher load processes for the fan-out bench (bench/run.ts's `fanOut`). Each is a child process
 * that connects its share of Socket.IO watchers (websocket transport) to one drop room and records,
 * per watcher, the `drop:counts` messages it got, their delays from the message's `serverNow`, and
 * when it first saw `remaining: 0`: all with Date.now(), the same machine clock as the server's and
 * the storm's. It reports them over IPC when asked, so the process running the claim storm is not
 * also the one receiving tens of thousands of messages.
 *
 * This file is both: `startWatcherProcess()` (the parent's handle) and, when forked, the child.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { io, type Socket } from 'socket.io-client';

/** Delays are counted per millisecond up to this; longer ones land in the last bucket. */
export const MAX_DELAY_MS = 60_000;

export interface ConnectOrder {
  url: string;
  dropId: string;
  count: number;
  /** Connections being set up at once (handshake and `drop:watch` both answered). */
  concurrency: number;
  /** Date.now() after which no new connection is started. */
  deadline: number;
}

export interface ConnectOutcome {
  connected: number;
  failed: number;
  firstError: string | null;
}

/** Since the last reset, per connected watcher (in connection order). */
export interface WatcherReport {
  messages: Uint32Array;
  /** Date.now() when it first saw `remaining: 0`; NaN if it has not. */
  soldOutAt: Float64Array;
  /** Index = delay in ms (receipt − `serverNow`), value = messages; the last bucket is ≥ MAX_DELAY_MS. */
  delays: Uint32Array;
  /** Watchers whose connection dropped after they had connected (since the start). */
  disconnected: number;
}

type Command = ({ type: 'connect' } & ConnectOrder) | { type: 'reset' } | { type: 'report' } | { type: 'close' };
type Reply =
  | { type: 'progress'; connected: number; failed: number }
  | ({ type: 'connected' } & ConnectOutcome)
  | { type: 'reset' }
  | { type: 'sold-out' }
  | ({ type: 'report' } & WatcherReport);

export interface WatcherProcess {
  pid: number;
  connect(order: ConnectOrder, progress: (connected: number, failed: number) => void): Promise<ConnectOutcome>;
  /** Zeroes the stats; `soldOut()` then waits for every live watcher of this process to see `remaining: 0`. */
  reset(): Promise<void>;
  soldOut(): Promise<void>;
  report(): Promise<WatcherReport>;
  /** Ends the process (its sockets close with it). */
  close(): Promise<void>;
}

/** Forks one watcher process (Node as the bench's own, IPC with structured clone for the typed arrays). */
export function startWatcherProcess(): WatcherProcess {
  const child: ChildProcess = fork(import.meta.filename, [], { execPath: process.execPath, serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const waiting = new Map<Reply['type'], { resolve: (reply: Reply) => void; reject: (error: Error) => void }>();
  let onProgress: (connected: number, failed: number) => void = () => {};
  let soldOut: Promise<void> = Promise.resolve();
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', (code) => {
      exited = true;
      for (const w of waiting.values()) w.reject(new Error(`watcher process exited with ${code}`));
      waiting.clear();
      resolve();
    }),
  );
  child.on('message', (reply: Reply) => {
    if (reply.type === 'progress') return onProgress(reply.connected, reply.failed);
    const w = waiting.get(reply.type);
    waiting.delete(reply.type);
    w?.resolve(reply);
  });
  const ask = <T extends Reply['type']>(command: Command, answer: T) =>
    new Promise<Extract<Reply, { type: T }>>((resolve, reject) => {
      if (exited) return reject(new Error('watcher process has exited'));
      waiting.set(answer, { resolve: resolve as (reply: Reply) => void, reject });
      child.send(command);
    });
  return {
    pid: child.pid!,
    async connect(order, progress) {
      onProgress = progress;
      const { connected, failed, firstError } = await ask({ type: 'connect', ...order }, 'connected');
      return { connected, failed, firstError };
    },
    async reset() {
      // Registered before the reset is sent: the answer may follow it at once.
      soldOut = new Promise<void>((resolve, reject) => waiting.set('sold-out', { resolve: () => resolve(), reject }));
      soldOut.catch(() => {});
      await ask({ type: 'reset' }, 'reset');
    },
    soldOut: () => soldOut,
    async report() {
      const { messages, soldOutAt, delays, disconnected } = await ask({ type: 'report' }, 'report');
      return { messages, soldOutAt, delays, disconnected };
    },
    async close() {
      if (!exited) child.send({ type: 'close' } satisfies Command);
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exit;
      clearTimeout(killer);
    },
  };
}

function runChild(): void {
  const send = (reply: Reply) => process.send!(reply);
  const sockets: Socket[] = [];
  let messages = new Uint32Array(0);
  let soldOutAt = new Float64Array(0);
  const delays = new Uint32Array(MAX_DELAY_MS + 1);
  let connected = 0;
  let disconnected = 0;
  let soldOut = 0;
  let soldOutSent = true;

  const checkSoldOut = () => {
    if (!soldOutSent && soldOut >= connected - disconnected) {
      soldOutSent = true;
      send({ type: 'sold-out' });
    }
  };

  async function connect(order: ConnectOrder): Promise<void> {
    messages = new Uint32Array(order.count);
    soldOutAt = new Float64Array(order.count).fill(Number.NaN);
    let next = 0;
    let failed = 0;
    let firstError: string | null = null;
    const progress = setInterval(() => send({ type: 'progress', connected, failed }), 250);
    const one = async () => {
      const socket = io(order.url, { transports: ['websocket'], forceNew: true, reconnection: false, timeout: 20_000 });
      let index = -1;
      socket.on('drop:counts', (counts: { remaining: number; serverNow: string }) => {
        if (index < 0) return;
        const now = Date.now();
        messages[index]! += 1;
        delays[Math.min(MAX_DELAY_MS, Math.max(0, now - Date.parse(counts.serverNow)))]! += 1;
        if (counts.remaining === 0 && Number.isNaN(soldOutAt[index])) {
          soldOutAt[index] = now;
          soldOut += 1;
          checkSoldOut();
        }
      });
      try {
        await new Promise<void>((resolve, reject) => socket.once('connect', () => resolve()).once('connect_error', reject));
        const ack = (await socket.timeout(20_000).emitWithAck('drop:watch', { dropId: order.dropId })) as { ok: boolean; code?: string };
        if (!ack.ok) throw new Error(`drop:watch answered ${ack.code}`);
        index = connected++;
        sockets.push(socket);
        socket.on('disconnect', () => {
          disconnected += 1;
          checkSoldOut();
        });
      } catch (error) {
        failed += 1;
        firstError ??= error instanceof Error ? error.message : String(error);
        socket.close();
      }
    };
    await Promise.all(
      Array.from({ length: Math.min(order.concurrency, order.count) }, async () => {
        while (next < order.count && Date.now() < order.deadline) {
          next += 1;
          await one();
        }
      }),
    );
    clearInterval(progress);
    send({ type: 'progress', connected, failed });
    send({ type: 'connected', connected, failed, firstError });
  }

  process.on('message', (command: Command) => {
    switch (command.type) {
      case 'connect':
        void connect(command);
        break;
      case 'reset':
        messages.fill(0);
        soldOutAt.fill(Number.NaN);
        delays.fill(0);
        soldOut = 0;
        soldOutSent = false;
        send({ type: 'reset' });
        checkSoldOut();
        break;
      case 'report':
        send({ type: 'report', messages: messages.slice(0, connected), soldOutAt: soldOutAt.slice(0, connected), delays, disconnected });
        break;
      case 'close':
        // The kernel closes every socket with the process.
        process.exit(0);
    }
  });
  // The parent went away: nothing to report to.
  process.on('disconnect', () => process.exit(0));
}

if (process.argv[1] === import.meta.filename && process.send) runChild();
