// The sipwake binary under test, on free loopback ports, serving the web
// demo, service worker and SDK built into it: it runs in a scratch directory
// outside the repository with no [web] paths, as an operator would run it.
import fs from 'node:fs';
import path from 'node:path';
import { freePort, startProcess, waitFor, tail } from './procs.mjs';

export const REALM = 'sipwake.test';
export const USERS = [['alice', 'alice-pw'], ['bob', 'bob-pw'], ['carol', 'carol-pw']];

export function gatewayBinary(root) {
  if (process.env.SIPWAKE_BIN) return process.env.SIPWAKE_BIN;
  const target = process.env.CARGO_TARGET_DIR || path.join(root, 'target');
  return path.join(target, 'debug', 'sipwake');
}

const q = (s) => JSON.stringify(String(s));

/**
 * mode: { standalone: true } or { upstream: 'sip:127.0.0.1:PORT;transport=udp' }.
 * extraToml: appended verbatim (e.g. an [api] section).
 */
export async function startGateway({ root, tmp, mode, extraToml = '' }) {
  const bin = gatewayBinary(root);
  if (!fs.existsSync(bin)) throw new Error(`gateway binary ${bin} missing: run \`cargo build -p sipwake\` or set SIPWAKE_BIN`);
  const dir = fs.mkdtempSync(path.join(tmp, 'gateway-'));
  const ports = { sip: await freePort(), https: await freePort(), http: await freePort() };
  let toml = `data_dir = ${q(path.join(dir, 'data'))}\nlog = "debug"\n\n` +
    `[sip]\nudp = ["127.0.0.1:${ports.sip}"]\ntcp = ["127.0.0.1:${ports.sip}"]\ntls = []\nadvertise = "127.0.0.1"\n\n` +
    `[http]\nhttps = "127.0.0.1:${ports.https}"\nhttp = "127.0.0.1:${ports.http}"\n\n`;
  if (mode.upstream) {
    toml += `[upstream]\nserver = ${q(mode.upstream)}\n\n`;
  } else {
    const users = path.join(dir, 'users.txt');
    fs.writeFileSync(users, USERS.map(([u, p]) => `${u}:${p}\n`).join(''));
    toml += `[registrar]\nrealm = ${q(REALM)}\nusers_file = ${q(users)}\n\n`;
  }
  toml += extraToml;
  const cfg = path.join(dir, 'sipwake.toml');
  fs.writeFileSync(cfg, toml);
  const env = { RUST_LOG: '' };
  const proc = startProcess('sipwake', bin, ['--config', cfg], { cwd: dir, env, logPath: path.join(dir, 'sipwake.log') });
  const gw = {
    ports,
    dir,
    proc,
    httpsOrigin: `https://127.0.0.1:${ports.https}`,
    httpOrigin: `http://127.0.0.1:${ports.http}`,
    failure: (what) => new Error(`${what}\n--- sipwake log tail ---\n${tail(proc.log(), 60)}`),
    stop: () => proc.stop(),
  };
  try {
    await waitFor('sipwake /healthz', async () => {
      if (proc.exited()) throw gw.failure(`sipwake exited: ${JSON.stringify(proc.exited())}`);
      const r = await fetch(gw.httpOrigin + '/healthz');
      return r.ok && (await r.text()).trim() === 'ok';
    }, 30_000);
  } catch (e) {
    await proc.stop();
    throw proc.exited() && !String(e.message).includes('log tail') ? gw.failure(String(e.message)) : e;
  }
  return gw;
}
