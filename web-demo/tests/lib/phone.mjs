// Drives the web phone page like a user: the form, the buttons, the status texts.
import { logConsole } from './browser.mjs';

/**
 * Test-only network rule: RTP stays on loopback. Remote ICE candidates that
 * are not 127.0.0.1/::1 are dropped before the browser sees them.
 */
export function loopbackOnlyIce() {
  const keep = (sdp) => sdp.split('\r\n').filter((l) => !l.startsWith('a=candidate:') || / (127\.0\.0\.1|::1) /.test(l)).join('\r\n');
  const orig = RTCPeerConnection.prototype.setRemoteDescription;
  RTCPeerConnection.prototype.setRemoteDescription = function (desc, ...rest) {
    if (desc && desc.sdp) desc = { type: desc.type, sdp: keep(desc.sdp) };
    return orig.call(this, desc, ...rest);
  };
}

export async function openPhone(ctx, origin, label, sink) {
  await ctx.addInitScript(loopbackOnlyIce);
  const page = await ctx.newPage();
  logConsole(page, label, sink);
  await page.goto(origin + '/');
  await page.waitForFunction(() => document.body.dataset.ready === 'true');
  return page;
}

export async function fillAccount(page, { user, password, domain, wsUrl, upstream, pushMode }) {
  await page.getByLabel('SIP user').fill(user);
  await page.getByLabel('Password').fill(password);
  await page.getByLabel('SIP domain').fill(domain);
  if (wsUrl) await page.getByLabel('Gateway WebSocket URL').fill(wsUrl);
  if (upstream) await page.getByLabel('Upstream SIP server (optional)').fill(upstream);
  if (pushMode) await page.getByLabel('Push signalling').selectOption(pushMode);
}

/** Waits until `#id`'s text matches `re`; the error names the last text seen. */
export async function waitText(page, id, re, timeout = 20_000) {
  try {
    await page.waitForFunction(([i, src, flags]) => new RegExp(src, flags).test(document.getElementById(i).textContent), [id, re.source, re.flags], { timeout });
  } catch (e) {
    const text = await page.locator('#' + id).textContent().catch(() => '?');
    const err = await page.locator('#error').textContent().catch(() => '?');
    throw new Error(`#${id} never matched ${re}: it says "${text}" (error panel: "${err}")`);
  }
  return page.locator('#' + id).textContent();
}
