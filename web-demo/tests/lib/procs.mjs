// Child processes and ports for the browser tests: free loopback ports,
// processes with their log kept for failure messages, bounded waits.
import net from 'node:net';
import dgram from 'node:dgram';
import fs from 'node:fs';
import { spawn } from 'node:child_process';

/** Waits until `fn()` returns a truthy value (polled), or throws after `ms`. */
export async function waitFor(what, fn, ms = 30_000, every = 50) {
  const deadline = Date.now() + ms;
  for (;;) {
    let v;
    try {
      v = await fn();
    } catch {
      v = undefined;
    }
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, every)); // poll interval, bounded by the deadline
  }
}

function tcpFree(port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

function udpFree(port) {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    s.once('error', () => resolve(false));
    s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

const handed = new Set();

/** A loopback port free for TCP and UDP (the kernel picks; never handed out twice per run). */
export async function freePort() {
  for (let i = 0; i < 50; i++) {
    const port = await new Promise((resolve, reject) => {
      const s = net.createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => {
        const p = s.address().port;
        s.close(() => resolve(p));
      });
    });
    if (!handed.has(port) && (await udpFree(port)) && (await tcpFree(port))) {
      handed.add(port);
      return port;
    }
  }
  throw new Error('no free loopback port found');
}

/** A child process whose stdout+stderr go to `logPath`; `stop()` sends SIGTERM, then SIGKILL. */
export function startProcess(name, cmd, args, { cwd, env, logPath }) {
  const log = fs.openSync(logPath, 'a');
  const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', log, log] });
  fs.closeSync(log);
  let exited = null;
  const done = new Promise((resolve) => child.once('exit', (code, sig) => {
    exited = { code, sig };
    resolve(exited);
  }));
  child.once('error', (e) => {
    exited = { code: -1, sig: String(e.message) };
  });
  return {
    name,
    child,
    logPath,
    exited: () => exited,
    log: () => {
      try {
        return fs.readFileSync(logPath, 'utf8');
      } catch {
        return '';
      }
    },
    async stop(ms = 10_000) {
      if (exited) return exited;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), ms);
      const r = await done;
      clearTimeout(t);
      return r;
    },
  };
}

export function tail(text, lines = 40) {
  return text.split('\n').slice(-lines).join('\n');
}
