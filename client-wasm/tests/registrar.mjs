// A minimal SIP-over-WebSocket registrar (RFC 7118) for the JsSIP test: it
// records every REGISTER, challenges with Digest (qop=auth), accepts a
// correct answer with 200 OK + Feature-Caps, and refuses a wrong one. Bound
// to a free loopback port. Only what the test needs: no transactions, no
// retransmission handling (WebSocket is reliable).
import crypto from 'node:crypto';
import { WebSocketServer } from 'ws';

const md5 = (s) => crypto.createHash('md5').update(s).digest('hex');

export function parseSip(text) {
  const [head] = text.split('\r\n\r\n');
  const [startLine, ...lines] = head.split('\r\n');
  const headers = [];
  for (const line of lines) {
    const i = line.indexOf(':');
    if (i > 0) headers.push([line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim()]);
  }
  const all = (name) => headers.filter(([n]) => n === name).map(([, v]) => v);
  return { startLine, method: startLine.split(' ')[0], uri: startLine.split(' ')[1], all, get: (name) => all(name)[0] };
}

function digestParams(value) {
  const out = {};
  const re = /(\w+)=(?:"([^"]*)"|([^\s,]+))/g;
  for (let m; (m = re.exec(value));) out[m[1].toLowerCase()] = m[2] !== undefined ? m[2] : m[3];
  return out;
}

/** ha1: the expected md5(user:realm:password); featureCaps: the 200 OK's Feature-Caps value. */
export async function startRegistrar({ realm, ha1, featureCaps }) {
  const requests = [];
  const nonce = crypto.randomBytes(12).toString('hex');
  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    maxPayload: 64 * 1024, // bound what a test peer can make us buffer
    handleProtocols: (protocols) => (protocols.has('sip') ? 'sip' : false),
  });
  await new Promise((resolve, reject) => {
    wss.once('listening', resolve);
    wss.once('error', reject);
  });
  wss.on('connection', (ws) => {
    ws.on('message', (data) => {
      const text = data.toString();
      if (text.trim() === '') return; // keep-alive CRLF
      const req = parseSip(text);
      if (req.method !== 'REGISTER') return ws.send(reply(req, 405, 'Method Not Allowed'));
      requests.push({ text, req });
      const auth = req.get('authorization');
      if (!auth) {
        return ws.send(reply(req, 401, 'Unauthorized', [
          `WWW-Authenticate: Digest realm="${realm}", nonce="${nonce}", qop="auth", algorithm=MD5`,
        ]));
      }
      const p = digestParams(auth);
      const ha2 = md5(`REGISTER:${p.uri}`);
      const expected = p.qop
        ? md5(`${ha1}:${p.nonce}:${p.nc}:${p.cnonce}:${p.qop}:${ha2}`)
        : md5(`${ha1}:${p.nonce}:${ha2}`);
      if (p.nonce !== nonce || p.response !== expected) return ws.send(reply(req, 403, 'Forbidden'));
      const contacts = req.all('contact');
      ws.send(reply(req, 200, 'OK', [
        ...contacts.map((c) => `Contact: ${c}${/;expires=/i.test(c) ? '' : ';expires=600'}`),
        `Feature-Caps: ${featureCaps}`,
      ]));
    });
  });
  return {
    url: `ws://127.0.0.1:${wss.address().port}`,
    requests,
    close: () => new Promise((resolve) => {
      for (const c of wss.clients) c.terminate();
      wss.close(resolve);
    }),
  };
}

function reply(req, code, reason, extra = []) {
  const to = req.get('to') || '';
  return [
    `SIP/2.0 ${code} ${reason}`,
    ...req.all('via').map((v) => `Via: ${v}`),
    `From: ${req.get('from')}`,
    `To: ${/;tag=/.test(to) ? to : to + ';tag=reg' + code}`,
    `Call-ID: ${req.get('call-id')}`,
    `CSeq: ${req.get('cseq')}`,
    ...extra,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}
