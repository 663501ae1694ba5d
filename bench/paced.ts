// Child process of bench/serve.ts: open-loop load at a constant rate, in a process of its own so that neither the
// cluster primary nor autocannon shares its event loop. Request i is due at start + i / rate whatever happened to
// earlier ones, and its latency counts from when it was due, so a stall anywhere (server, kernel, this generator)
// shows up in every request it delays. Requests are pre-encoded HTTP/1.1 bytes written to keep-alive sockets, and
// responses are parsed only as far as the status and Content-Length: per request this costs a fraction of what
// node:http or undici cost, which matters on two cores shared with the server.
import { connect, type Socket } from "node:net";
import { percentile } from "./load.ts";

export interface PacedCommand {
  url: string;
  /** Cycled; each is sent as `POST path`. */
  requests: { headers: Record<string, string>; body: Uint8Array }[];
  path: string;
  rate: number;
  seconds: number;
  /** Sockets opened on demand, up to this many; beyond it requests wait (and their wait counts). */
  maxConnections: number;
}

export interface PacedReply {
  /** Latencies of the 2xx responses from when each request was due, ms, sorted. */
  latencies: number[];
  seconds: number;
  statusCodes: Record<string, number>;
  errors: number;
  connections: number;
  /** How late the generator itself sent requests that had a free socket (its own event-loop lag), ms. */
  sendLagP99: number;
  cpuMsPerRequest: number;
}

interface Pending {
  due: number;
  request: { head: Buffer; body: Uint8Array };
}

class Connection {
  private buffer: Buffer = Buffer.alloc(0);
  private current: Pending | undefined;
  readonly socket: Socket;
  private readonly done: (c: Connection, pending: Pending, status: number) => void;

  constructor(
    socket: Socket,
    done: (c: Connection, pending: Pending, status: number) => void,
    failed: (c: Connection, pending: Pending | undefined) => void,
  ) {
    this.socket = socket;
    this.done = done;
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    // 'close' always follows 'error'; a socket the server closed while idle just leaves the pool.
    socket.on("error", () => undefined);
    socket.on("close", () => failed(this, this.current));
  }

  send(pending: Pending): void {
    this.current = pending;
    this.socket.cork();
    this.socket.write(pending.request.head);
    this.socket.write(pending.request.body);
    this.socket.uncork();
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const end = this.buffer.indexOf("\r\n\r\n");
    if (end < 0 || !this.current) return;
    const head = this.buffer.subarray(0, end).toString("latin1");
    const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
    if (this.buffer.length < end + 4 + length) return;
    const status = Number(head.slice(9, 12));
    this.buffer = this.buffer.subarray(end + 4 + length);
    const pending = this.current;
    this.current = undefined;
    this.done(this, pending, status);
  }
}

export async function runPacedLoad(cmd: PacedCommand): Promise<PacedReply> {
  const url = new URL(cmd.path, cmd.url);
  const encoded = cmd.requests.map(({ headers, body }) => {
    const lines = Object.entries({ ...headers, host: url.host, "content-length": String(body.length) }).map(
      ([k, v]) => `${k}: ${v}\r\n`,
    );
    return { head: Buffer.from(`POST ${url.pathname} HTTP/1.1\r\n${lines.join("")}\r\n`, "latin1"), body };
  });
  const total = Math.round(cmd.rate * cmd.seconds);
  const latencies: number[] = [];
  const sendLags: number[] = [];
  const statusCodes: Record<string, number> = {};
  const idle: Connection[] = [];
  const waiting: Pending[] = [];
  let open = 0;
  let errors = 0;
  let finished = 0;
  let allDone: () => void = () => undefined;
  const completed = new Promise<void>((resolve) => (allDone = resolve));
  const settle = (): void => {
    if (++finished === total) allDone();
  };

  const next = (c: Connection): void => {
    const queued = waiting.shift();
    if (queued) c.send(queued);
    else idle.push(c);
  };
  const onDone = (c: Connection, pending: Pending, status: number): void => {
    statusCodes[status] = (statusCodes[status] ?? 0) + 1;
    if (status >= 200 && status < 300) latencies.push(performance.now() - pending.due);
    settle();
    next(c);
  };
  const onFailed = (c: Connection, pending: Pending | undefined): void => {
    c.socket.destroy();
    open--;
    const i = idle.indexOf(c);
    if (i >= 0) idle.splice(i, 1);
    if (pending) {
      errors++;
      settle();
    }
  };
  const openConnection = (first: Pending): void => {
    open++;
    const socket = connect({ host: url.hostname, port: Number(url.port) });
    const c = new Connection(socket, onDone, onFailed);
    socket.once("connect", () => c.send(first));
  };

  const cpu = process.cpuUsage();
  const started = performance.now();
  let i = 0;
  while (i < total) {
    const now = performance.now();
    while (i < total && started + (i * 1000) / cmd.rate <= now) {
      const pending: Pending = { due: started + (i * 1000) / cmd.rate, request: encoded[i % encoded.length]! };
      i++;
      const c = idle.pop();
      if (c) {
        sendLags.push(now - pending.due);
        c.send(pending);
      } else if (open < cmd.maxConnections) openConnection(pending);
      else waiting.push(pending);
    }
    const wait = started + (i * 1000) / cmd.rate - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  const timeout = setTimeout(allDone, 10_000);
  await completed;
  clearTimeout(timeout);
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  for (const c of idle) c.socket.destroy();
  latencies.sort((a, b) => a - b);
  sendLags.sort((a, b) => a - b);
  return {
    latencies,
    seconds,
    statusCodes,
    errors: errors + (total - finished),
    connections: open,
    sendLagP99: percentile(sendLags, 0.99),
    cpuMsPerRequest: (used.user + used.system) / 1000 / total,
  };
}

if (process.send) {
  process.once("message", (cmd: PacedCommand) => {
    void runPacedLoad(cmd).then(
      (reply) => process.send?.(reply, () => process.disconnect()),
      (err: unknown) => {
        console.error(`paced load failed: ${(err as Error).message}`);
        process.exit(1);
      },
    );
  });
}
