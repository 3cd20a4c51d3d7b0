// What to show for a parsed push (the SDK's Notification object). Pure
// functions, so the mapping per ntype reads in one place.

function who(n) {
  return n.fromDisplay || n.from || n.fromUsername || 'unknown caller';
}

/** The tag of a call's notification: one per Call-ID, so a cancel can find it. */
export function callTag(callId) {
  return 'sipwake-call:' + callId;
}

/** For ntype 2: the tag to close, or '' for "every call notification" (no Call-ID sent). */
export function cancelTag(n) {
  return n.callId ? callTag(n.callId) : '';
}

/** `{title, options}` for showNotification, or null when nothing is shown. */
export function notificationFor(n) {
  const data = { sipwake: true, kind: n.kind, callId: n.callId, n };
  switch (n.kind) {
    case 0:
      return {
        title: `Incoming call from ${who(n)}`,
        options: {
          body: n.fromUsername && n.fromUsername !== who(n) ? `${n.fromUsername} — open the phone to answer` : 'Open the phone to answer',
          tag: callTag(n.callId),
          requireInteraction: true,
          renotify: true,
          data,
        },
      };
    case 1:
      return {
        title: `Message from ${who(n)}`,
        options: { body: n.msg || n.body || '', tag: 'sipwake-chat:' + (n.fromUsername || n.from), renotify: true, data },
      };
    case 2:
    case 4:
      return null;
    case 3:
      return {
        title: n.title || 'Notification',
        options: { body: n.msg || n.body || '', tag: 'sipwake-custom:' + Date.now(), data },
      };
    default:
      // Unknown ntype: show what the gateway sent, if anything.
      if (!n.title && !n.body && !n.msg) return null;
      return { title: n.title || 'Notification', options: { body: n.body || n.msg, data } };
  }
}

/** The phone page a click opens: the worker's scope, with why it was opened. */
export function clickTarget(data, scope) {
  const u = new URL(scope);
  u.searchParams.set('wake', data.kind === 0 ? 'call' : 'message');
  if (data.callId) u.searchParams.set('callid', data.callId);
  return u;
}
