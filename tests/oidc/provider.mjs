// A real OpenID Connect provider for the sign-in tests: the certified `oidc-provider` from npm.
//
//   node tests/oidc/provider.mjs CONFIG.json [PORT]      (or OIDC_TEST_PORT in the environment)
//
// CONFIG.json, written by the test (tests/oidc/fixtures.py):
//   {"port": 0, "client_id": "...", "client_secret": "...", "redirect_uris": ["http://.../callback/"],
//    "jwks": {"keys": [<private signing JWK made by the test>]},
//    "accounts": {"<login>": {"email": "...", "email_verified": true, "name": "..."}}}
//
// It listens on 127.0.0.1 with one confidential client (client_secret_basic, PKCE required). People
// sign in through the provider's own development pages (a form that takes a login from the accounts
// above; any password); consent is given on their behalf, as a company's provider does for its own
// apps. Every authorization and token request is written to stdout as one JSON line, so a test can
// check what the app sent (the PKCE challenge and verifier).

import { readFileSync } from 'node:fs';

import { Provider } from 'oidc-provider';

const configPath = process.argv[2];
if (!configPath) {
  console.error('usage: node provider.mjs CONFIG.json [PORT]');
  process.exit(2);
}
const config = JSON.parse(readFileSync(configPath, 'utf8'));
const port = Number(process.argv[3] || process.env.OIDC_TEST_PORT || config.port);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error(`a port between 1 and 65535 is needed (got ${port})`);
  process.exit(2);
}

const say = (fields) => process.stdout.write(`${JSON.stringify(fields)}\n`);

const accounts = config.accounts;

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [
    {
      client_id: config.client_id,
      client_secret: config.client_secret,
      redirect_uris: config.redirect_uris,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  // Discovery lists only this method, as many company providers do for a confidential client.
  clientAuthMethods: ['client_secret_basic'],
  jwks: config.jwks,
  pkce: { required: () => true },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name', 'preferred_username'],
  },
  cookies: { keys: ['test-provider-cookie-key-not-a-secret'] },
  features: { devInteractions: { enabled: true } },
  async findAccount(ctx, sub) {
    const account = accounts[sub];
    if (!account) {
      return undefined;
    }
    return {
      accountId: sub,
      async claims() {
        return { sub, ...account };
      },
    };
  },
  // First-party app: the grant is made on the person's behalf, so no consent page.
  async loadExistingGrant(ctx) {
    const { Grant } = ctx.oidc.provider;
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) {
      const found = await Grant.find(grantId);
      if (found) {
        return found;
      }
    }
    const grant = new Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid email profile');
    await grant.save();
    return grant;
  },
});

provider.on('authorization.success', (ctx) => {
  const { params } = ctx.oidc;
  say({
    event: 'authorization',
    client_id: params.client_id,
    redirect_uri: params.redirect_uri,
    scope: params.scope,
    code_challenge: params.code_challenge ?? null,
    code_challenge_method: params.code_challenge_method ?? null,
    account: ctx.oidc.session?.accountId ?? null,
  });
});

provider.on('grant.success', (ctx) => {
  const { params } = ctx.oidc;
  const header = ctx.get('authorization');
  say({
    event: 'token',
    grant_type: params.grant_type,
    code_verifier: params.code_verifier ?? null,
    client_auth: header ? header.split(' ')[0] : 'none',
  });
});

provider.on('grant.error', (ctx, error) => {
  say({ event: 'token_error', error: error.error, description: error.error_description });
});

provider.on('authorization.error', (ctx, error) => {
  say({ event: 'authorization_error', error: error.error, description: error.error_description });
});

provider.on('server_error', (ctx, error) => {
  say({ event: 'server_error', error: String(error) });
});

const server = provider.listen(port, '127.0.0.1', () => {
  say({ event: 'listening', issuer: provider.issuer });
});

const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
