// A Web Push service on loopback (RFC 8030) standing in for the browser
// vendor's: it receives the gateway's pushes for subscriptions this test
// created, checks the VAPID signature (RFC 8292) and decrypts the aes128gcm
// body (RFC 8291) with the subscription's private key, so the test can hand
// the plaintext to the browser (CDP) exactly as a real push service would.
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { execFileSync } from 'node:child_process';

const b64u = (b) => Buffer.from(b).toString('base64url');

/**
 * A test CA (the gateway trusts it via [webpush] extra_ca_pem) and a server
 * certificate for 127.0.0.1 signed by it (webpki refuses a CA certificate
 * used as the server's own).
 */
function certificate(dir) {
  const f = (n) => path.join(dir, n);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const run = (args) => execFileSync('openssl', args, { stdio: 'pipe' });
  run(['req', '-x509', ...ec, '-keyout', f('ca-key.pem'), '-out', f('ca.pem'), '-days', '1', '-subj', '/CN=sipwake web test CA']);
  run(['req', ...ec, '-keyout', f('push-key.pem'), '-out', f('push.csr'), '-subj', '/CN=127.0.0.1']);
  fs.writeFileSync(f('push.ext'), 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
  run(['x509', '-req', '-in', f('push.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca-key.pem'), '-set_serial', '2',
    '-days', '1', '-extfile', f('push.ext'), '-out', f('push-cert.pem')]);
  return { key: f('push-key.pem'), cert: f('push-cert.pem'), ca: f('ca.pem') };
}

/** A browser-side subscription: ECDH key pair + auth secret. */
export function newSubscriber() {
  const ecdh = crypto.createECDH('prime256v1');
  ecdh.generateKeys();
  return { ecdh, auth: crypto.randomBytes(16) };
}

const hmac = (key, data) => crypto.createHmac('sha256', key).update(data).digest();

/** RFC 8291 + RFC 8188 (one record). Throws on any mismatch. */
export function decrypt(body, { ecdh, auth }) {
  const salt = body.subarray(0, 16);
  const idlen = body[20];
  const asPublic = body.subarray(21, 21 + idlen);
  const ciphertext = body.subarray(21 + idlen);
  const uaPublic = ecdh.getPublicKey();
  const secret = ecdh.computeSecret(asPublic);
  const prkKey = hmac(auth, secret);
  const ikm = hmac(prkKey, Buffer.concat([Buffer.from('WebPush: info\0'), uaPublic, asPublic, Buffer.from([1])]));
  const prk = hmac(salt, ikm);
  const cek = hmac(prk, Buffer.from('Content-Encoding: aes128gcm\0\x01')).subarray(0, 16);
  const nonce = hmac(prk, Buffer.from('Content-Encoding: nonce\0\x01')).subarray(0, 12);
  const d = crypto.createDecipheriv('aes-128-gcm', cek, nonce);
  d.setAuthTag(ciphertext.subarray(ciphertext.length - 16));
  const padded = Buffer.concat([d.update(ciphertext.subarray(0, ciphertext.length - 16)), d.final()]);
  let end = padded.length - 1;
  while (end >= 0 && padded[end] === 0) end--;
  if (padded[end] !== 2) throw new Error('bad record delimiter');
  return padded.subarray(0, end).toString('utf8');
}

/** Checks `Authorization: vapid t=<JWT>, k=<key>`; returns the key (base64url) or throws. */
export function verifyVapid(header, audience) {
  const m = /^vapid t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$/.exec(header || '');
  if (!m) throw new Error(`not a VAPID Authorization header: ${header}`);
  const [h, p, s] = m[1].split('.');
  const point = Buffer.from(m[2], 'base64url');
  const key = crypto.createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: b64u(point.subarray(1, 33)), y: b64u(point.subarray(33, 65)) }, format: 'jwk' });
  const ok = crypto.verify('sha256', Buffer.from(`${h}.${p}`), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(s, 'base64url'));
  if (!ok) throw new Error('VAPID JWT signature does not verify');
  const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
  // RFC 8292 wants the endpoint's origin. web-push-native (used by the
  // gateway) leaves out the port, which real push services (on 443) never
  // notice; this loopback service has a port, so accept both spellings.
  const u = new URL(audience);
  if (claims.aud !== audience && claims.aud !== `${u.protocol}//${u.hostname}`) {
    throw new Error(`VAPID aud ${claims.aud}, want ${audience}`);
  }
  if (!(claims.exp > Date.now() / 1000)) throw new Error('VAPID JWT expired');
  return m[2];
}

export async function startPushService(dir) {
  const { key, cert, ca } = certificate(dir);
  const subscribers = new Map(); // id -> subscriber
  const received = [];
  const server = https.createServer({ key: fs.readFileSync(key), cert: fs.readFileSync(cert) }, (req, res) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size <= 8192) chunks.push(c); // RFC 8030 pushes are at most 4 KB
    });
    req.on('end', () => {
      const id = decodeURIComponent(req.url.replace(/^\/wpush\//, ''));
      const sub = subscribers.get(id);
      if (req.method !== 'POST' || !sub) {
        res.writeHead(404).end();
        return;
      }
      const entry = { id, headers: req.headers, at: Date.now() };
      try {
        entry.vapidKey = verifyVapid(req.headers.authorization, origin);
        entry.text = decrypt(Buffer.concat(chunks), sub);
      } catch (e) {
        entry.error = String(e.message || e);
      }
      received.push(entry);
      res.writeHead(entry.error ? 400 : 201, { location: `${origin}/msg/${received.length}` }).end();
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const origin = `https://127.0.0.1:${server.address().port}`;
  return {
    caPath: ca,
    received,
    /** A subscription (PushSubscription.toJSON() shape) and its private half. */
    subscribe() {
      const s = newSubscriber();
      const id = crypto.randomBytes(9).toString('base64url');
      subscribers.set(id, s);
      return { json: { endpoint: `${origin}/wpush/${id}`, keys: { p256dh: b64u(s.ecdh.getPublicKey()), auth: b64u(s.auth) } }, id };
    },
    close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(r); }),
  };
}
