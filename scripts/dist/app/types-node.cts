// tsc with "moduleResolution": "node16" from CommonJS: `sipwake-wasm`
// resolves to the node build's types (no init(), synchronous).
import sipwake = require('sipwake-wasm');

export const piid: string = sipwake.computePiid('alice', 'example.com', 'pw');
export const supports: boolean = sipwake.featureCapsSupports('*;+sip.pns="fcm"', 'fcm');
// @ts-expect-error the node build has no init()
sipwake.default();
