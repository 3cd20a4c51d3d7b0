// A private D-Bus session with the test notification server
// (notify_server.py): Chromium shows notifications there, and the tests can
// click them, which the browser turns into a trusted `notificationclick`.
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { waitFor } from './procs.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));

export async function startDesktop(tmp) {
  const dir = fs.mkdtempSync(path.join(tmp, 'dbus-'));
  const address = `unix:path=${path.join(dir, 'bus')}`;
  const bus = spawn('dbus-daemon', ['--session', '--nofork', '--nopidfile', `--address=${address}`], { stdio: 'ignore' });
  const env = { ...process.env, DBUS_SESSION_BUS_ADDRESS: address };
  await waitFor('dbus session socket', () => fs.existsSync(path.join(dir, 'bus')), 10_000);
  const server = spawn('/usr/bin/python3', [path.join(HERE, 'notify_server.py')], { env, stdio: ['pipe', 'pipe', 'inherit'] });
  const events = [];
  readline.createInterface({ input: server.stdout }).on('line', (l) => {
    try {
      events.push(JSON.parse(l));
    } catch {
      // not ours
    }
  });
  const stop = async () => {
    for (const p of [server, bus]) {
      if (p.exitCode === null && p.signalCode === null) {
        const gone = new Promise((r) => p.once('exit', r));
        p.kill('SIGTERM');
        await gone;
      }
    }
  };
  try {
    await waitFor('notification server ready', () => events.some((e) => e.event === 'ready'), 10_000);
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    env: { DBUS_SESSION_BUS_ADDRESS: address },
    events,
    /** Notifications currently on the "desktop". */
    open() {
      const m = new Map();
      for (const e of events) {
        if (e.event === 'notify') m.set(e.id, e);
        if (e.event === 'close') m.delete(e.id);
      }
      return [...m.values()];
    },
    click(id) {
      server.stdin.write(`click ${id}\n`);
    },
    stop,
  };
}
