// tsc with "moduleResolution": "bundler": `sipwake-wasm` resolves to the web
// build's types (init + typed results), as in a bundled app.
import init, { parseMpush, parsePush, registerHeaders } from 'sipwake-wasm';
import type { MpushParsed, Notification } from 'sipwake-wasm';
import * as node from 'sipwake-wasm/node';

export async function demo(): Promise<string[]> {
  await init();
  const m: MpushParsed = parseMpush('a:com.example:tok');
  const n: Notification = parsePush('{"ntype":"0"}');
  const lines: string[] = registerHeaders({ provider: 'w', package: 'p', token: 't' }, 'u', 'realm', 'pw');
  // @ts-expect-error the node build has no init()
  node.default();
  return [...lines, m.remove ? 'remove' : m.token, n.kindName, node.computePiid('u', 'r', 'p')];
}
