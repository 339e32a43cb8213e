// A standard OpenID Connect relying party, unchanged: panva's openid-client signing a person
// in to ISSUER as the public client CLIENT_ID, the way a desktop application would.
//
//   node relying_party.mjs code ISSUER CLIENT_ID     authorization code + PKCE, loopback redirect
//   node relying_party.mjs device ISSUER CLIENT_ID   device authorization grant
//
// It prints `open <url>` for the test's browser, then after the sign-in one line
// `result <json>`: the ID token's claims, userinfo, and an access token from a refresh.
// Any failure prints `error <message>` and exits 1. Plain HTTP is allowed: loopback only.
import './webcrypto.mjs';
import * as client from 'openid-client';
import http from 'node:http';

const [mode, issuer, clientId] = process.argv.slice(2);
const scope = 'openid offline_access licenses';
const insecure = { execute: [client.allowInsecureRequests] };

function fail(e) {
  console.log(`error ${e?.code ?? ''} ${e?.message ?? e} ${JSON.stringify(e?.cause ?? '')}`);
  process.exit(1);
}

async function finish(config, tokens, expectNonce) {
  const claims = tokens.claims();
  if (expectNonce !== undefined && claims.nonce !== expectNonce) throw new Error('nonce differs');
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  console.log(`result ${JSON.stringify({ claims, userinfo, access_token: refreshed.access_token })}`);
}

async function codeFlow(config) {
  const verifier = client.randomPKCECodeVerifier();
  const challenge = await client.calculatePKCECodeChallenge(verifier);
  const state = client.randomState();
  const nonce = client.randomNonce();
  const server = http.createServer();
  await new Promise((ready) => server.listen(0, '127.0.0.1', ready));
  const redirectUri = `http://127.0.0.1:${server.address().port}/callback`;
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state,
    nonce,
  });
  server.on('request', async (req, res) => {
    const current = new URL(req.url, redirectUri);
    if (current.pathname !== '/callback') {
      res.writeHead(404).end();
      return;
    }
    try {
      const tokens = await client.authorizationCodeGrant(config, current, {
        pkceCodeVerifier: verifier,
        expectedState: state,
        expectedNonce: nonce,
        idTokenExpected: true,
      });
      res.writeHead(200, { 'content-type': 'text/html' }).end('<p id="done">Signed in to the app.</p>');
      await finish(config, tokens, nonce);
      process.exit(0);
    } catch (e) {
      res.writeHead(400, { 'content-type': 'text/html' }).end(`<p id="done">Failed: ${e.message}</p>`);
      fail(e);
    }
  });
  console.log(`open ${url.href}`);
}

async function deviceFlow(config) {
  const started = await client.initiateDeviceAuthorization(config, { scope });
  console.log(`open ${started.verification_uri_complete}`);
  const tokens = await client.pollDeviceAuthorizationGrant(config, started);
  await finish(config, tokens, undefined);
  process.exit(0);
}

try {
  const config = await client.discovery(new URL(issuer), clientId, undefined, client.None(), insecure);
  if (mode === 'code') await codeFlow(config);
  else if (mode === 'device') await deviceFlow(config);
  else throw new Error(`unknown mode ${mode}`);
} catch (e) {
  fail(e);
}
