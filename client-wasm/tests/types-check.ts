// Compile-only test (strict tsc, see run.mjs) of the .d.ts that wasm-bindgen
// emits: the returned objects are typed, not `any`. Each @ts-expect-error
// line fails the build if the typing it guards becomes too loose.
import init, {
  computePiid, contactUriWithPn, featureCapsSupports, formatFeatureCaps, parseFeatureCaps, formatPnParams, mpushHeader, mpushToPn, mpushValue,
  parseApns, parseFcmData, parseMpush, parsePnParams, parsePush, parseWebpush, piidHeader,
  pnToMpush, pushDefaults, registerHeaders, renderApns, renderFcm, renderTemplate, defaultFcmTemplate, verifyPiid, version,
} from '../pkg/web/sipwake_wasm.js';
import type { FeatureCaps, PushFields, MpushBindingInput, MpushParsed, Notification, PnParams } from '../pkg/web/sipwake_wasm.js';

export async function demo(): Promise<string[]> {
  await init();
  const binding: MpushBindingInput = { provider: 'w', package: 'web.app', token: 'tok' };
  const headers: string[] = [mpushHeader(binding), piidHeader('alice', 'example.com', 'pw'), mpushValue(binding)];

  const lines: string[] = registerHeaders(binding, 'alice', 'example.com', 'pw');
  headers.push(...lines);

  const parsed: MpushParsed = parseMpush('s:i:com.x:tok');
  if (!parsed.remove) {
    const pkg: string = parsed.package; // narrowed by the `remove` discriminant
    headers.push(pkg);
  }
  // @ts-expect-error a removal has no package
  if (parsed.remove) headers.push(parsed.package);
  // @ts-expect-error unknown provider letter
  mpushHeader({ provider: 'x', package: 'p', token: 't' });

  const pn: PnParams | null = parsePnParams('<sip:a@h;pn-provider=fcm;pn-param=p;pn-prid=t>');
  if (pn) {
    const prid: string | null = pn.prid;
    headers.push(formatPnParams(pn), String(prid), contactUriWithPn('sip:a@h', { provider: 'fcm', param: 'p', prid: 't' }));
  }
  const back: MpushParsed = pnToMpush({ provider: 'webpush', prid: 'x' });
  const pn2: PnParams = mpushToPn(binding);
  headers.push(String(back.remove), pn2.provider);

  const n: Notification = parsePush('{"data":{"ntype":"1"}}');
  const kind: number = n.kind;
  // @ts-expect-error kind is a number
  const wrong: string = n.kind;
  const others: Notification[] = [parseApns({ aps: {} }), parseWebpush('{}'), parseFcmData({ ntype: '0' })];
  headers.push(String(kind), wrong, n.kindName, others[0].callId);

  const caps: FeatureCaps = parseFeatureCaps('*;+sip.pns="webpush";+sip.pnsreg="120"');
  const refresh: number | null = caps.pnsregSeconds;
  const offered: boolean = featureCapsSupports(['*;+sip.pns="fcm"'], 'fcm') && featureCapsSupports(null, 'fcm');
  // @ts-expect-error pns is a list
  const pnsWrong: string = caps.pns;
  headers.push(formatFeatureCaps({ pns: ['fcm'] }), String(refresh), String(offered), pnsWrong);

  const fields: PushFields = pushDefaults({ kind: 1, from: 'Alice', msg: 'hi' });
  const ttl: number = fields.ttl;
  // @ts-expect-error unknown target
  renderFcm(fields, 'fcmPhone', -1);
  const rendered: unknown = renderTemplate(defaultFcmTemplate(), fields);
  headers.push(String(ttl), JSON.stringify(rendered), JSON.stringify(renderFcm({}, 'fcmWeb', undefined)), JSON.stringify(renderApns({})));

  const ok: boolean = verifyPiid(computePiid('a', 'b', 'c'), 'a', 'b', 'c');
  headers.push(String(ok), version());
  return headers;
}
