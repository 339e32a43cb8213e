// openid-client and jose use the Web Crypto API as the global `crypto`, which Node.js has
// from version 20 on; Debian 12's Node.js is 18, where it is `node:crypto`'s `webcrypto`.
// Imported first, before the libraries load.
import { webcrypto } from 'node:crypto';

globalThis.crypto ??= webcrypto;
