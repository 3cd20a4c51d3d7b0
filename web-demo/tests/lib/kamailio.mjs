// A real Kamailio 5.6 as the upstream registrar, from the e2e template
// (tests/kamailio/kamailio.cfg.tmpl): digest auth, Path, stateful proxy.
import fs from 'node:fs';
import path from 'node:path';
import dgram from 'node:dgram';
import crypto from 'node:crypto';
import { freePort, startProcess, waitFor, tail } from './procs.mjs';

const MODULES = '/usr/lib/x86_64-linux-gnu/kamailio/modules/';

function optionsPing(port) {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    const t = setTimeout(() => { s.close(); resolve(false); }, 500);
    s.on('message', (m) => {
      clearTimeout(t);
      s.close();
      resolve(/^SIP\/2\.0 200/.test(m.toString()));
    });
    s.bind(0, '127.0.0.1', () => {
      const lp = s.address().port;
      const branch = 'z9hG4bK' + crypto.randomBytes(6).toString('hex');
      const msg = `OPTIONS sip:127.0.0.1:${port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${lp};branch=${branch};rport\r\n` +
        `Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=p\r\nTo: <sip:127.0.0.1:${port}>\r\n` +
        `Call-ID: ${branch}@probe\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`;
      s.send(msg, port, '127.0.0.1');
    });
  });
}

export async function startKamailio({ root, tmp, realm, users }) {
  const dir = fs.mkdtempSync(path.join(tmp, 'kamailio-'));
  const port = await freePort();
  const usersFile = path.join(dir, 'users.cfg');
  fs.writeFileSync(usersFile, users.map(([u, p]) => `$sht(auth=>${u}) = "${p}";\n`).join(''));
  const tmpl = fs.readFileSync(path.join(root, 'tests', 'kamailio', 'kamailio.cfg.tmpl'), 'utf8');
  const cfg = tmpl
    .replaceAll('@@IP@@', '127.0.0.1').replaceAll('@@PORT@@', String(port))
    .replaceAll('@@REALM@@', realm).replaceAll('@@MPATH@@', MODULES)
    .replaceAll('@@SECRET@@', crypto.randomBytes(8).toString('hex'))
    .replaceAll('@@USERS_FILE@@', usersFile)
    // One UDP worker: responses relayed in order (see the template).
    .replaceAll('@@CHILDREN@@', '1')
    // Path support on, MD5 digest (the template's defaults in tests/src/kamailio.rs).
    .replaceAll('@@USE_PATH@@', '1')
    .replaceAll('@@AUTH_ALGORITHM@@', '');
  if (cfg.includes('@@')) throw new Error('kamailio.cfg.tmpl has a placeholder this harness does not fill');
  const cfgPath = path.join(dir, 'kamailio.cfg');
  fs.writeFileSync(cfgPath, cfg);
  const proc = startProcess('kamailio', '/usr/sbin/kamailio',
    ['-DD', '-E', '-m', '64', '-M', '8', '-f', cfgPath, '-Y', dir, '-P', path.join(dir, 'kamailio.pid')],
    { cwd: dir, env: {}, logPath: path.join(dir, 'kamailio.log') });
  try {
    await waitFor('kamailio OPTIONS 200', async () => {
      if (proc.exited()) throw new Error('kamailio exited:\n' + tail(proc.log()));
      return optionsPing(port);
    }, 15_000, 100);
  } catch (e) {
    await proc.stop();
    throw e;
  }
  return { port, uri: (t = 'udp') => `sip:127.0.0.1:${port};transport=${t}`, proc, stop: () => proc.stop() };
}
