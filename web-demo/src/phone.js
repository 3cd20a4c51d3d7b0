// The SIP side of the web phone: one JsSIP UA, one call at a time, SIP MESSAGE
// chat. Knows nothing of the DOM; the page listens to its events.
import JsSIP from 'jssip/lib/JsSIP.js';

JsSIP.debug.disable('JsSIP:*');

const C = JsSIP.C.causes;

/** A user-facing sentence for a JsSIP failure cause (and SIP status, when one arrived). */
export function describeCause(cause, status) {
  switch (cause) {
    case C.AUTHENTICATION_ERROR:
      return `wrong user name or password${status ? ` (${status})` : ''}`;
    case C.USER_DENIED_MEDIA_ACCESS:
      return 'microphone access was denied: allow the microphone for this site and try again';
    case C.CONNECTION_ERROR:
      return 'the gateway WebSocket is not connected';
    case C.REQUEST_TIMEOUT:
      return 'no answer from the gateway (timeout)';
    case C.BUSY:
      return 'busy';
    case C.REJECTED:
      return 'rejected';
    case C.NOT_FOUND:
      return 'not found (the callee is not registered)';
    case C.UNAVAILABLE:
      return 'unavailable';
    case C.CANCELED:
      return 'cancelled';
    case C.NO_ANSWER:
      return 'no answer';
    case C.BYE:
      return 'hung up';
    default:
      return `${cause || 'failed'}${status ? ` (${status})` : ''}`;
  }
}

/** `1234` → `sip:1234@domain`; a full SIP URI or `user@host` is kept. */
export function targetUri(target, domain) {
  const t = String(target).trim();
  if (/^sips?:/i.test(t)) return t;
  if (t.includes('@')) return 'sip:' + t;
  return `sip:${t}@${domain}`;
}

export class Phone extends EventTarget {
  /**
   * account: { user, password, domain, wsUrl, upstream }
   * push: { headers: string[] (X-MPUSH/X-PIID), contactUri: string|null } or null
   */
  constructor(account, push) {
    super();
    this.account = account;
    this.session = null;
    this.stopping = false;
    const socket = new JsSIP.WebSocketInterface(account.wsUrl);
    const config = {
      sockets: [socket],
      uri: `sip:${account.user}@${account.domain}`,
      password: account.password,
      register: true,
      register_expires: 600,
      session_timers: false,
      user_agent: 'sipwake-web-demo (JsSIP)',
      // Retry a dropped WebSocket quickly, but not forever hammering.
      connection_recovery_min_interval: 2,
      connection_recovery_max_interval: 30,
    };
    // A stable +sip.instance: the gateway keys this device's push binding by it.
    if (account.instanceId) config.instance_id = account.instanceId;
    if (push && push.contactUri) config.contact_uri = push.contactUri;
    this.ua = new JsSIP.UA(config);
    const headers = [];
    if (account.upstream) headers.push(`X-Sy.Uppersrv: ${account.upstream}`);
    if (push && push.headers) headers.push(...push.headers);
    this.ua.registrator().setExtraHeaders(headers);
    this.#wire();
  }

  #emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  #wire() {
    const ua = this.ua;
    ua.on('connected', () => this.#emit('connection', { up: true }));
    ua.on('disconnected', (e) => {
      if (this.stopping) return;
      const code = e && e.code ? ` (code ${e.code})` : '';
      this.#emit('connection', { up: false, reason: `the WebSocket to the gateway closed${code}` });
    });
    ua.on('registered', (e) => this.#emit('registration', { state: 'registered', response: e.response }));
    ua.on('unregistered', () => this.#emit('registration', { state: 'unregistered' }));
    ua.on('registrationFailed', (e) => {
      const status = e.response ? e.response.status_code : undefined;
      this.#emit('registration', { state: 'failed', reason: describeCause(e.cause, status), status });
    });
    ua.on('newRTCSession', (e) => this.#onSession(e.session, e.originator));
    ua.on('newMessage', (e) => {
      if (e.originator !== 'remote') return;
      const from = e.request.from;
      this.#emit('message', {
        from: from.display_name || from.uri.user || from.uri.toString(),
        text: e.request.body || '',
      });
    });
  }

  #onSession(session, originator) {
    if (this.session) {
      // One call at a time: a second caller gets busy.
      if (originator === 'remote') session.terminate({ status_code: 486, reason_phrase: 'Busy Here' });
      return;
    }
    this.session = session;
    const remote = session.remote_identity;
    const peer = remote.display_name || remote.uri.user || remote.uri.toString();
    const watchPc = (pc) => {
      const report = () => this.#emit('media', { state: pc.connectionState, ice: pc.iceConnectionState });
      pc.addEventListener('connectionstatechange', report);
      pc.addEventListener('iceconnectionstatechange', report);
      pc.addEventListener('track', (ev) => this.#emit('track', { stream: ev.streams[0] || new MediaStream([ev.track]) }));
    };
    if (session.connection) watchPc(session.connection);
    else session.on('peerconnection', (e) => watchPc(e.peerconnection));

    session.on('progress', () => this.#emit('call', { state: 'ringing', peer, originator }));
    session.on('accepted', () => this.#emit('call', { state: 'answered', peer, originator }));
    session.on('confirmed', () => this.#emit('call', { state: 'established', peer, originator }));
    const end = (kind) => (e) => {
      if (this.session === session) this.session = null;
      const status = e.message && e.message.status_code;
      this.#emit('call', { state: kind, peer, originator, reason: describeCause(e.cause, status), cause: e.cause });
    };
    session.on('ended', end('ended'));
    session.on('failed', end('failed'));
    this.#emit('call', { state: originator === 'remote' ? 'incoming' : 'calling', peer, originator, callId: session.id });
  }

  start() {
    this.ua.start();
  }

  /** Unregister (with the given final headers, e.g. X-MPUSH: null) and close the socket. */
  stop(finalHeaders) {
    this.stopping = true;
    if (finalHeaders) this.ua.registrator().setExtraHeaders(finalHeaders);
    // JsSIP unregisters (all bindings of this contact) before closing the transport.
    this.ua.stop();
  }

  call(target) {
    this.ua.call(targetUri(target, this.account.domain), {
      mediaConstraints: { audio: true, video: false },
      pcConfig: { iceServers: [] },
    });
  }

  answer() {
    if (!this.session) return;
    this.session.answer({ mediaConstraints: { audio: true, video: false }, pcConfig: { iceServers: [] } });
  }

  reject() {
    if (this.session) this.session.terminate({ status_code: 486, reason_phrase: 'Busy Here' });
  }

  hangup() {
    if (this.session) this.session.terminate();
  }

  /** Resolves when the MESSAGE got a 2xx; rejects with a readable reason. */
  sendMessage(target, text) {
    return new Promise((resolve, reject) => {
      this.ua.sendMessage(targetUri(target, this.account.domain), text, {
        eventHandlers: {
          succeeded: () => resolve(),
          failed: (e) => reject(new Error(describeCause(e.cause, e.response && e.response.status_code))),
        },
      });
    });
  }
}
