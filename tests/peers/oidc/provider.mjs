// A third-party OpenID Provider for lm's tests: panva/oidc-provider (an OpenID Certified
// implementation), configured like an organisation's identity provider would be.
//
//   node provider.mjs PORT
//
// Prints `listening http://127.0.0.1:PORT` once it serves. Everything is in memory.
//
// Accounts: any login name signs in with any password (the provider's development login
// pages). Names starting with `boss` carry the manager role. Every account is in org `acme`.
//
// Clients:
//   lm        public; device flow and refresh tokens (what lmd uses)
//   robot     confidential (secret `robot-secret`); client_credentials, a service account
//   lm-server confidential (secret `introspect-secret`); may introspect tokens
//
// Resources (RFC 8707) decide the access token's form:
//   urn:lm          (the default) a JWT with audience `lm`, signed RS256
//   urn:lm:opaque   an opaque token, only understood through introspection

import Provider from 'oidc-provider';

const port = Number(process.argv[2] ?? 0);
const issuer = `http://127.0.0.1:${port}`;

const RESOURCES = {
  'urn:lm': { audience: 'lm', accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } },
  'urn:lm:opaque': { audience: 'lm', accessTokenFormat: 'opaque' },
};

function claimsOf(subject) {
  return {
    org: 'acme',
    realm_access: { roles: subject.startsWith('boss') ? ['lm-manager', 'staff'] : ['staff'] },
  };
}

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'lm',
      token_endpoint_auth_method: 'none',
      grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'],
      response_types: [],
      redirect_uris: [],
    },
    {
      client_id: 'robot',
      client_secret: 'robot-secret',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
    },
    {
      client_id: 'lm-server',
      client_secret: 'introspect-secret',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
    },
  ],
  scopes: ['openid', 'offline_access', 'licenses'],
  features: {
    devInteractions: { enabled: true },
    deviceFlow: { enabled: true },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => 'urn:lm',
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource) => {
        const info = RESOURCES[resource];
        if (!info) throw new Error(`unknown resource ${resource}`);
        return { scope: 'licenses offline_access', ...info };
      },
    },
  },
  ttl: {
    AccessToken: 300,
    ClientCredentials: 300,
    DeviceCode: 600,
  },
  async findAccount(ctx, id) {
    return { accountId: id, async claims() { return { sub: id }; } };
  },
  async extraTokenClaims(ctx, token) {
    const subject = token.accountId ?? `client:${token.clientId}`;
    return claimsOf(token.accountId ?? (token.clientId === 'robot' ? 'boss-robot' : subject));
  },
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  // Consent is implied: an organisation's own applications do not ask.
  async loadExistingGrant(ctx) {
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid offline_access licenses');
    grant.addResourceScope('urn:lm', 'licenses offline_access');
    await grant.save();
    return grant;
  },
  cookies: { keys: ['lm-test-cookie-key'] },
  pkce: { required: () => false },
});

provider.on('server_error', (ctx, err) => console.error('server_error', err));

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`listening ${issuer}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
