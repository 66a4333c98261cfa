// OpenID Connect provider for Guichet's integration tests.
//
// Wraps the `oidc-provider` package with static test clients, made-up accounts (any
// login, any password), automatic consent, loopback-only redirect URI matching and a
// small control API under /__test/ that lets a test inject faults (key rotation,
// broken ID tokens, downtime). See README.md beside this file.
//
// Usage: PORT=0 node tests/oidc/provider.mjs
// Prints exactly one line on stdout once listening: `listening http://127.0.0.1:PORT`.
// Everything else goes to stderr. Exits when stdin closes, and on SIGTERM / SIGINT.

import * as crypto from 'node:crypto';
import * as http from 'node:http';

// oidc-provider prints its notices with console.info (stdout); stdout is reserved for the
// single "listening" line, so every console output goes to stderr. This must run before
// oidc-provider is loaded, hence the dynamic imports below.
const writeStdout = process.stdout.write.bind(process.stdout);
console.log = console.error;
console.info = console.error;
console.debug = console.error;

const { default: Provider } = await import('oidc-provider');
const jose = await import('jose');

const HOST = '127.0.0.1';
const ID_TOKEN_TTL = 600;
const DEFAULT_SIRET = '21670482500019';
const PARTNER_SIRET = '12345678900011';
const PARTNER_DOMAIN = 'partner.example';
const IDP_ID = 'fia1';
const PLACEHOLDER_REDIRECT_URI = 'http://127.0.0.1/auth/callback';
const PLACEHOLDER_POST_LOGOUT_REDIRECT_URI = 'http://127.0.0.1/';
const TEST_CLIENT_IDS = new Set(['guichet', 'guichet-jwt', 'guichet-proconnect']);

function log(...args) {
  console.error('[oidc]', ...args);
}

// ---------------------------------------------------------------------------------------
// Keys

async function newSigningKey() {
  const { privateKey } = await jose.generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
  const jwk = await jose.exportJWK(privateKey);
  jwk.kid = crypto.randomBytes(12).toString('base64url');
  jwk.alg = 'RS256';
  jwk.use = 'sig';
  return { jwk, privateKey };
}

// The key the provider currently signs with, and the previous one (published in the JWKS
// after a rotation with keep_old, verify-only).
let signing = await newSigningKey();

function publicPart(jwk) {
  const { kty, n, e, kid, alg, use } = jwk;
  return { kty, n, e, kid, alg, use };
}

// ---------------------------------------------------------------------------------------
// Accounts: the login typed in the form is the account; any password is accepted.

const ACCOUNT_PREFIX = 'sub-';

function loginFromAccountId(accountId) {
  return accountId.startsWith(ACCOUNT_PREFIX) ? accountId.slice(ACCOUNT_PREFIX.length) : accountId;
}

function capitalize(word) {
  return word ? word[0].toUpperCase() + word.slice(1).toLowerCase() : word;
}

function claimsFor(login) {
  const at = login.lastIndexOf('@');
  const local = at >= 0 ? login.slice(0, at) : login;
  const domain = at >= 0 ? login.slice(at + 1).toLowerCase() : '';
  const parts = local.split(/[._\-+]+/).filter(Boolean).map(capitalize);
  const givenName = parts[0] || 'Test';
  const familyName = parts.length > 1 ? parts.slice(1).join(' ') : 'Testeur';
  const claims = {
    sub: ACCOUNT_PREFIX + login,
    given_name: givenName,
    family_name: familyName,
    usual_name: familyName,
    name: `${givenName} ${familyName}`,
    uid: login,
    siret: domain === PARTNER_DOMAIN ? PARTNER_SIRET : DEFAULT_SIRET,
    idp_id: IDP_ID,
  };
  if (at >= 0) {
    claims.email = login;
    claims.email_verified = !local.toLowerCase().startsWith('unverified');
  }
  return claims;
}

async function findAccount(ctx, accountId) {
  const login = loginFromAccountId(accountId);
  if (!login) return undefined;
  return {
    accountId: ACCOUNT_PREFIX + login,
    async claims() {
      return claimsFor(login);
    },
  };
}

// The acr values an authorization request asks for: acr_values, or the claims parameter's
// id_token.acr value / values. Returns [values, essential].
function requestedAcr(params) {
  const values = new Set((params.acr_values || '').split(' ').filter(Boolean));
  let essential = false;
  if (params.claims) {
    try {
      const acr = JSON.parse(params.claims)?.id_token?.acr;
      if (acr) {
        if (typeof acr.value === 'string') values.add(acr.value);
        if (Array.isArray(acr.values)) acr.values.forEach((v) => values.add(v));
        essential = acr.essential === true;
      }
    } catch {
      // oidc-provider rejects a malformed claims parameter itself.
    }
  }
  return [values, essential];
}

function acrFor(login, params) {
  const [values] = requestedAcr(params);
  return values.has('eidas2') && login.startsWith('strong') ? 'eidas2' : 'eidas1';
}

// ---------------------------------------------------------------------------------------
// Loopback redirect URIs: any port, fixed path for the callback, any path for logout.

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

function loopbackUrl(value) {
  let url;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' || !LOOPBACK_HOSTS.has(url.hostname) || url.hash || url.username || url.password) {
    return undefined;
  }
  return url;
}

function patchClientClass(provider) {
  const proto = provider.Client.prototype;
  const redirectUriAllowed = proto.redirectUriAllowed;
  const postLogoutRedirectUriAllowed = proto.postLogoutRedirectUriAllowed;
  proto.redirectUriAllowed = function allowLoopbackCallback(value) {
    if (value === PLACEHOLDER_REDIRECT_URI) return false;
    const url = loopbackUrl(value);
    if (url && url.pathname === '/auth/callback' && !url.search) return true;
    return redirectUriAllowed.call(this, value);
  };
  proto.postLogoutRedirectUriAllowed = function allowLoopbackLogout(value) {
    if (loopbackUrl(value)) return true;
    return postLogoutRedirectUriAllowed.call(this, value);
  };
}

// ---------------------------------------------------------------------------------------
// Storage: in memory, shared by every Provider instance so that sessions, grants and
// codes survive a key rotation (which builds a new instance).

const store = new Map();

function storeGet(key) {
  const entry = store.get(key);
  if (!entry) return undefined;
  if (entry.expiresAt && entry.expiresAt <= Date.now()) {
    store.delete(key);
    return undefined;
  }
  return entry.value;
}

function storeSet(key, value, expiresIn) {
  store.set(key, { value, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : undefined });
}

setInterval(() => {
  for (const key of store.keys()) storeGet(key);
}, 60_000).unref();

class SharedMemoryAdapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    storeSet(this.key(id), payload, expiresIn);
    if (this.model === 'Session' && payload.uid) storeSet(`sessionUid:${payload.uid}`, id, expiresIn);
    if (payload.userCode) storeSet(`userCode:${payload.userCode}`, id, expiresIn);
    if (payload.grantId) {
      const grantKey = `grant:${payload.grantId}`;
      const members = storeGet(grantKey) ?? [];
      members.push(this.key(id));
      storeSet(grantKey, members, expiresIn);
    }
  }

  async find(id) {
    return storeGet(this.key(id));
  }

  async findByUid(uid) {
    const id = storeGet(`sessionUid:${uid}`);
    return id === undefined ? undefined : this.find(id);
  }

  async findByUserCode(userCode) {
    const id = storeGet(`userCode:${userCode}`);
    return id === undefined ? undefined : this.find(id);
  }

  async consume(id) {
    const payload = storeGet(this.key(id));
    if (payload) payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    store.delete(this.key(id));
  }

  async revokeByGrantId(grantId) {
    const grantKey = `grant:${grantId}`;
    for (const key of storeGet(grantKey) ?? []) store.delete(key);
    store.delete(grantKey);
  }
}

// ---------------------------------------------------------------------------------------
// Provider configuration

const CLIENT_DEFAULTS = {
  token_endpoint_auth_method: 'client_secret_basic',
  grant_types: ['authorization_code'],
  response_types: ['code'],
  id_token_signed_response_alg: 'RS256',
  redirect_uris: [PLACEHOLDER_REDIRECT_URI],
  post_logout_redirect_uris: [PLACEHOLDER_POST_LOGOUT_REDIRECT_URI],
};

const CLIENTS = [
  { ...CLIENT_DEFAULTS, client_id: 'guichet', client_secret: 'guichet-secret' },
  {
    ...CLIENT_DEFAULTS,
    client_id: 'guichet-jwt',
    client_secret: 'guichet-jwt-secret',
    userinfo_signed_response_alg: 'RS256',
  },
  { ...CLIENT_DEFAULTS, client_id: 'guichet-proconnect', client_secret: 'guichet-proconnect-secret' },
];

// Consent is automatic for the test clients: whatever they ask for is granted.
async function loadExistingGrant(ctx) {
  const { oidc } = ctx;
  const { clientId } = oidc.client;
  const { accountId } = oidc.session;
  const grantId = oidc.result?.consent?.grantId || oidc.session.grantIdFor(clientId);
  let grant = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
  if (grant && grant.accountId !== accountId) grant = undefined;
  if (!TEST_CLIENT_IDS.has(clientId)) return grant;
  grant ||= new oidc.provider.Grant({ clientId, accountId });
  const scopes = [...oidc.requestParamOIDCScopes];
  if (scopes.length) grant.addOIDCScope(scopes.join(' '));
  const claims = [...oidc.requestParamClaims];
  if (claims.length) grant.addOIDCClaims(claims);
  await grant.save();
  return grant;
}

const configuration = {
  adapter: SharedMemoryAdapter,
  clients: CLIENTS,
  findAccount,
  loadExistingGrant,
  responseTypes: ['code'],
  pkce: { required: () => true },
  acrValues: ['eidas1', 'eidas2'],
  scopes: ['openid', 'email', 'profile', 'uid', 'siret', 'usual_name', 'given_name', 'idp_id'],
  claims: {
    acr: null,
    amr: null,
    auth_time: null,
    sid: null,
    iss: null,
    email_verified: null,
    family_name: null,
    name: null,
    openid: ['sub', 'acr'],
    email: ['email', 'email_verified'],
    profile: ['given_name', 'family_name', 'name', 'usual_name'],
    uid: ['uid'],
    siret: ['siret'],
    usual_name: ['usual_name'],
    given_name: ['given_name'],
    idp_id: ['idp_id'],
  },
  // Scope-based claims go into the ID token too, not only into userinfo.
  conformIdTokenClaims: false,
  allowOmittingSingleRegisteredRedirectUri: false,
  features: {
    devInteractions: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    userinfo: { enabled: true },
    jwtUserinfo: { enabled: true },
    claimsParameter: { enabled: true },
    revocation: { enabled: false },
    introspection: { enabled: false },
  },
  ttl: {
    AccessToken: 600,
    AuthorizationCode: 120,
    ClientCredentials: 600,
    Grant: 3600,
    IdToken: ID_TOKEN_TTL,
    Interaction: 600,
    Session: 3600,
  },
  cookies: {
    keys: ['guichet-test-cookie-key-not-secret'],
  },
  clientBasedCORS: () => false,
};

// ---------------------------------------------------------------------------------------
// Test control state

let downUntil = 0;
let pendingFault = null;

const FAULT_MODES = new Set([
  'tamper', 'expired', 'wrong_nonce', 'wrong_issuer', 'wrong_audience', 'future_iat', 'unknown_key', 'alg_none',
]);

function b64json(part) {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
}

async function resign(header, payload, privateKey) {
  return new jose.CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader(header)
    .sign(privateKey);
}

async function applyFault(mode, idToken) {
  const [h, p, s] = idToken.split('.');
  const header = b64json(h);
  const payload = b64json(p);
  const now = Math.floor(Date.now() / 1000);
  switch (mode) {
    case 'tamper': {
      const i = Math.floor(s.length / 2);
      const flipped = s[i] === 'A' ? 'B' : 'A';
      return `${h}.${p}.${s.slice(0, i)}${flipped}${s.slice(i + 1)}`;
    }
    case 'expired':
      payload.iat = now - 3600 - ID_TOKEN_TTL;
      payload.exp = now - 3600;
      if (payload.auth_time) payload.auth_time = payload.iat;
      return resign(header, payload, signing.privateKey);
    case 'wrong_nonce':
      payload.nonce = `wrong-${crypto.randomBytes(8).toString('hex')}`;
      return resign(header, payload, signing.privateKey);
    case 'wrong_issuer':
      payload.iss = 'http://evil.example';
      return resign(header, payload, signing.privateKey);
    case 'wrong_audience':
      payload.aud = 'someone-else';
      return resign(header, payload, signing.privateKey);
    case 'future_iat':
      payload.iat = now + 600;
      payload.exp = now + 3600;
      return resign(header, payload, signing.privateKey);
    case 'unknown_key': {
      const stranger = await newSigningKey();
      return resign({ ...header, kid: stranger.jwk.kid }, payload, stranger.privateKey);
    }
    case 'alg_none': {
      const noneHeader = Buffer.from(JSON.stringify({ ...header, alg: 'none' })).toString('base64url');
      return `${noneHeader}.${p}.`;
    }
    default:
      throw new Error(`unknown fault ${mode}`);
  }
}

async function readJson(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 64 * 1024) throw new Error('body too large');
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  return text ? JSON.parse(text) : {};
}

function reply(ctx, status, body) {
  ctx.status = status;
  ctx.type = 'application/json';
  ctx.body = body;
}

async function testControl(ctx) {
  const route = `${ctx.method} ${ctx.path}`;
  let body;
  if (ctx.method === 'POST') {
    try {
      body = await readJson(ctx.req);
    } catch (err) {
      return reply(ctx, 400, { error: `invalid JSON body: ${err.message}` });
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      return reply(ctx, 400, { error: 'body must be a JSON object' });
    }
  }
  switch (route) {
    case 'GET /__test/health':
      return reply(ctx, 200, {
        ok: true,
        issuer: issuer,
        kid: signing.jwk.kid,
        down: Date.now() < downUntil,
        fault: pendingFault,
      });
    case 'POST /__test/rotate': {
      const previous = signing;
      const next = await newSigningKey();
      const keepOld = body.keep_old === true;
      const keys = [next.jwk];
      if (keepOld) keys.push({ ...previous.jwk, key_ops: ['verify'] });
      current = buildProvider(keys);
      signing = next;
      log(`rotated signing key to ${next.jwk.kid}${keepOld ? `, still publishing ${previous.jwk.kid}` : ''}`);
      return reply(ctx, 200, { kid: next.jwk.kid, ...(keepOld ? { old_kid: previous.jwk.kid } : {}) });
    }
    case 'POST /__test/fault': {
      const mode = body.id_token;
      if (mode === null) {
        pendingFault = null;
        return reply(ctx, 200, { id_token: null });
      }
      if (!FAULT_MODES.has(mode)) {
        return reply(ctx, 400, { error: `id_token must be one of ${[...FAULT_MODES].join(', ')} or null` });
      }
      pendingFault = mode;
      log(`next ID token: ${mode}`);
      return reply(ctx, 200, { id_token: mode });
    }
    case 'POST /__test/down': {
      const seconds = body.seconds;
      if (typeof seconds !== 'number' || !(seconds >= 0) || seconds > 3600) {
        return reply(ctx, 400, { error: 'seconds must be a number between 0 and 3600' });
      }
      downUntil = Date.now() + seconds * 1000;
      log(`down for ${seconds}s`);
      return reply(ctx, 200, { down_until_ms: downUntil });
    }
    default:
      return reply(ctx, 404, { error: `no test route ${route}` });
  }
}

// Koa middleware placed before the provider's own routes.
async function testHarness(ctx, next) {
  if (ctx.path === '/__test' || ctx.path.startsWith('/__test/')) {
    return testControl(ctx);
  }
  if (Date.now() < downUntil) {
    ctx.status = 503;
    ctx.set('Retry-After', String(Math.max(1, Math.ceil((downUntil - Date.now()) / 1000))));
    ctx.type = 'application/json';
    ctx.body = { error: 'temporarily_unavailable', error_description: 'provider is down (test fault)' };
    return undefined;
  }
  await next();
  if (
    pendingFault
    && ctx.method === 'POST'
    && ctx.path === '/token'
    && ctx.status === 200
    && ctx.body
    && typeof ctx.body === 'object'
    && typeof ctx.body.id_token === 'string'
  ) {
    const mode = pendingFault;
    pendingFault = null;
    ctx.body = { ...ctx.body, id_token: await applyFault(mode, ctx.body.id_token) };
    log(`applied ID token fault ${mode}`);
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------
// Provider instances: one per signing key set, swapped on rotation.

let issuer;
let current;

function buildProvider(keys) {
  const provider = new Provider(issuer, { ...configuration, jwks: { keys } });
  patchClientClass(provider);

  // The login form only carries the login name: turn it into the account id and decide
  // the acr from what the authorization request asked for.
  const interactionResult = provider.interactionResult.bind(provider);
  provider.interactionResult = async (req, res, result, options) => {
    if (result?.login?.accountId) {
      const details = await provider.interactionDetails(req, res);
      const login = loginFromAccountId(String(result.login.accountId));
      const acr = acrFor(login, details.params);
      const [values, essential] = requestedAcr(details.params);
      if (essential && values.size && !values.has(acr)) {
        return interactionResult(req, res, {
          error: 'access_denied',
          error_description: `acr ${[...values].join(' ')} could not be obtained for ${login}`,
        }, { mergeWithLastSubmission: false });
      }
      result = {
        ...result,
        login: { ...result.login, accountId: ACCOUNT_PREFIX + login, acr, amr: ['pwd'] },
      };
    }
    return interactionResult(req, res, result, options);
  };

  provider.use(testHarness);
  provider.on('server_error', (ctx, err) => log('server_error', ctx.method, ctx.path, err));
  provider.on('authorization.error', (ctx, err) => log('authorization.error', err.message, err.error_description ?? ''));
  provider.on('grant.error', (ctx, err) => log('grant.error', err.message, err.error_description ?? ''));
  provider.on('end_session.error', (ctx, err) => log('end_session.error', err.message, err.error_description ?? ''));
  return { provider, handler: provider.callback() };
}

const server = http.createServer((req, res) => {
  if (!current) {
    res.statusCode = 503;
    res.end();
    return;
  }
  current.handler(req, res);
});

const port = Number.parseInt(process.env.PORT ?? '0', 10);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  log(`invalid PORT ${process.env.PORT}`);
  process.exit(2);
}

await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(port, HOST, resolve);
});
issuer = `http://${HOST}:${server.address().port}`;
current = buildProvider([signing.jwk]);

function shutdown(reason) {
  log(`stopping: ${reason}`);
  server.close();
  server.closeAllConnections?.();
  process.exit(0);
}

process.stdin.on('end', () => shutdown('stdin closed'));
process.stdin.on('close', () => shutdown('stdin closed'));
process.stdin.on('error', () => shutdown('stdin error'));
process.stdin.resume();
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

writeStdout(`listening ${issuer}\n`);
log(`issuer ${issuer}, signing key ${signing.jwk.kid}`);
