// Smoke test of the test OpenID Connect provider (provider.mjs beside this file): starts
// it, runs complete code flows with PKCE the way Guichet does, and exercises every test
// control endpoint. A tool for whoever maintains the harness; the Rust suite does not run
// it. Usage: node tests/oidc/smoke.mjs  (after npm ci --prefix tests/oidc)
// Prints `smoke ok` and exits 0 on success.

import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import * as path from 'node:path';
import * as jose from 'jose';

const here = path.dirname(fileURLToPath(import.meta.url));
const REDIRECT_URI = 'http://127.0.0.1:9/auth/callback';
const SECRETS = {
  guichet: 'guichet-secret',
  'guichet-jwt': 'guichet-jwt-secret',
  'guichet-proconnect': 'guichet-proconnect-secret',
};

function step(message) {
  console.log(`- ${message}`);
}

// ---------------------------------------------------------------------------------------
// Start the provider and wait for its "listening" line.

const child = spawn(process.execPath, [path.join(here, 'provider.mjs')], {
  env: { ...process.env, PORT: '0' },
  stdio: ['pipe', 'pipe', 'pipe'],
});
let stderr = '';
child.stderr.on('data', (chunk) => { stderr += chunk; });
let stdout = '';
const issuer = await new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error('provider did not start within 20s')), 20000);
  child.on('exit', (code) => reject(new Error(`provider exited early with ${code}\n${stderr}`)));
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
    const newline = stdout.indexOf('\n');
    if (newline >= 0) {
      clearTimeout(timer);
      const line = stdout.slice(0, newline);
      const match = /^listening (http:\/\/127\.0\.0\.1:\d+)$/.exec(line);
      if (match) resolve(match[1]); else reject(new Error(`unexpected first line ${JSON.stringify(line)}`));
    }
  });
});
step(`provider listening, issuer ${issuer}`);

function fail(err) {
  console.error(err);
  console.error('--- provider stderr ---\n' + stderr);
  child.kill('SIGTERM');
  process.exit(1);
}
process.on('unhandledRejection', fail);
process.on('exit', () => child.kill('SIGTERM'));

// ---------------------------------------------------------------------------------------
// HTTP helpers: manual redirects and a cookie jar kept by hand.

class Browser {
  constructor() { this.cookies = new Map(); }

  cookieHeader() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  remember(res) {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expires = attrs.map((a) => a.trim()).find((a) => a.toLowerCase().startsWith('expires='));
      const expired = expires && new Date(expires.slice(8)) < new Date();
      if (!value || expired) this.cookies.delete(name); else this.cookies.set(name, value);
    }
  }

  async request(url, { method = 'GET', form, headers = {} } = {}) {
    const init = { method, redirect: 'manual', headers: { ...headers } };
    if (this.cookies.size) init.headers.cookie = this.cookieHeader();
    if (form) {
      init.body = new URLSearchParams(form).toString();
      init.headers['content-type'] = 'application/x-www-form-urlencoded';
    }
    const res = await fetch(new URL(url, issuer), init);
    this.remember(res);
    const body = await res.text();
    return { status: res.status, headers: res.headers, body, location: res.headers.get('location') };
  }
}

async function getJson(url, init) {
  const res = await fetch(new URL(url, issuer), init);
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : undefined, text };
}

async function control(route, body) {
  const res = await getJson(`/__test/${route}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body ?? {}),
  });
  assert.equal(res.status, 200, `${route}: ${res.text}`);
  return res.json;
}

function htmlInput(html, name) {
  const re = new RegExp(`name="${name}" value="([^"]*)"`);
  return re.exec(html)?.[1];
}

function formAction(html) {
  return /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
}

try {
  // ---------------------------------------------------------------------------------------
  // Discovery

  const discovery = await getJson('/.well-known/openid-configuration');
  assert.equal(discovery.status, 200);
  const meta = discovery.json;
  assert.equal(meta.issuer, issuer);
  assert.deepEqual(meta.code_challenge_methods_supported, ['S256']);
  assert.deepEqual(meta.response_types_supported, ['code']);
  assert.deepEqual(meta.acr_values_supported, ['eidas1', 'eidas2']);
  for (const claim of ['given_name', 'usual_name', 'email', 'email_verified', 'uid', 'siret', 'idp_id']) {
    assert.ok(meta.claims_supported.includes(claim), claim);
  }
  for (const scope of ['openid', 'email', 'profile', 'uid', 'siret', 'usual_name', 'given_name']) {
    assert.ok(meta.scopes_supported.includes(scope), scope);
  }
  step('discovery');

  // ---------------------------------------------------------------------------------------
  // The code flow

  function pkce() {
    const verifier = crypto.randomBytes(32).toString('base64url');
    const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
    return { verifier, challenge };
  }

  // GET authorize -> (login form -> POST) -> ... -> redirect to redirect_uri. Returns the
  // callback URL's parameters.
  async function authorize(browser, {
    clientId = 'guichet', login = 'jean.dupont@mairie.example', scope = 'openid email profile',
    redirectUri = REDIRECT_URI, extra = {}, expectLoginForm = true,
  } = {}) {
    const { verifier, challenge } = pkce();
    const state = crypto.randomBytes(8).toString('hex');
    const nonce = crypto.randomBytes(8).toString('hex');
    const params = new URLSearchParams({
      client_id: clientId,
      response_type: 'code',
      scope,
      redirect_uri: redirectUri,
      state,
      nonce,
      code_challenge: challenge,
      code_challenge_method: 'S256',
      ...extra,
    });
    let res = await browser.request(`${meta.authorization_endpoint}?${params}`);
    let sawLoginForm = false;
    for (let hops = 0; hops < 10; hops += 1) {
      if (res.status === 303 || res.status === 302) {
        if (res.location.startsWith(redirectUri)) {
          const url = new URL(res.location);
          assert.equal(url.searchParams.get('state'), state);
          assert.equal(url.searchParams.get('iss'), issuer);
          assert.equal(sawLoginForm, expectLoginForm, 'login form shown as expected');
          return { callback: url.searchParams, verifier, nonce, redirectUri, clientId };
        }
        res = await browser.request(res.location);
      } else if (res.status === 200 && res.body.includes('name="prompt" value="login"')) {
        sawLoginForm = true;
        const action = formAction(res.body);
        assert.match(action, /\/interaction\/[\w-]+$/);
        res = await browser.request(action, {
          method: 'POST', form: { prompt: 'login', login, password: 'anything' },
        });
      } else {
        throw new Error(`unexpected response ${res.status} ${res.location ?? ''}\n${res.body.slice(0, 2000)}`);
      }
    }
    throw new Error('too many redirects');
  }

  async function exchange({ callback, verifier, redirectUri, clientId }) {
    const code = callback.get('code');
    assert.ok(code, `callback has a code: ${callback}`);
    const basic = Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(SECRETS[clientId])}`).toString('base64');
    const res = await getJson(meta.token_endpoint, {
      method: 'POST',
      headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier,
      }).toString(),
    });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.token_type, 'Bearer');
    return res.json;
  }

  async function verifyIdToken(idToken, { clientId = 'guichet', nonce } = {}) {
    const jwks = jose.createRemoteJWKSet(new URL(meta.jwks_uri), { cacheMaxAge: 0, cooldownDuration: 0 });
    const { payload, protectedHeader } = await jose.jwtVerify(idToken, jwks, {
      issuer, audience: clientId, algorithms: ['RS256'],
    });
    if (nonce) assert.equal(payload.nonce, nonce);
    return { payload, header: protectedHeader };
  }

  async function login(options = {}) {
    const browser = options.browser ?? new Browser();
    const flow = await authorize(browser, options);
    const tokens = await exchange(flow);
    return { browser, flow, tokens };
  }

  // Plain login for `guichet`.
  const first = await login();
  const { payload: idClaims, header: idHeader } = await verifyIdToken(first.tokens.id_token, { nonce: first.flow.nonce });
  assert.equal(idClaims.sub, 'sub-jean.dupont@mairie.example');
  assert.equal(idClaims.email, 'jean.dupont@mairie.example');
  assert.equal(idClaims.email_verified, true);
  assert.equal(idClaims.given_name, 'Jean');
  assert.equal(idClaims.family_name, 'Dupont');
  assert.equal(idClaims.acr, 'eidas1');
  assert.equal(idClaims.exp - idClaims.iat, 600);
  assert.equal(idHeader.alg, 'RS256');
  const initialKid = idHeader.kid;
  step(`code flow for guichet (kid ${initialKid})`);

  // A code works once.
  {
    const basic = Buffer.from('guichet:guichet-secret').toString('base64');
    const reuse = await getJson(meta.token_endpoint, {
      method: 'POST',
      headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code', code: first.flow.callback.get('code'), redirect_uri: REDIRECT_URI, code_verifier: first.flow.verifier,
      }).toString(),
    });
    assert.equal(reuse.status, 400);
    assert.equal(reuse.json.error, 'invalid_grant');
    const info = await getJson(meta.userinfo_endpoint, { headers: { authorization: `Bearer ${first.tokens.access_token}` } });
    assert.equal(info.status, 401, 'replaying a code revokes the tokens issued from it');
  }

  // Second authorize in the same browser: SSO, no login form.
  const again = await authorize(first.browser, { expectLoginForm: false });
  await exchange(again);
  step('second authorize reuses the provider session');

  // PKCE is required.
  {
    const params = new URLSearchParams({
      client_id: 'guichet', response_type: 'code', scope: 'openid', redirect_uri: REDIRECT_URI, state: 's',
    });
    const res = await new Browser().request(`${meta.authorization_endpoint}?${params}`);
    assert.equal(res.status, 303);
    const url = new URL(res.location);
    assert.equal(url.searchParams.get('error'), 'invalid_request');
    assert.match(url.searchParams.get('error_description'), /PKCE/);
    step('authorize without PKCE is refused');
  }

  // Wrong verifier at the token endpoint.
  {
    const flow = await authorize(new Browser());
    flow.verifier = pkce().verifier;
    const basic = Buffer.from('guichet:guichet-secret').toString('base64');
    const res = await getJson(meta.token_endpoint, {
      method: 'POST',
      headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code', code: flow.callback.get('code'), redirect_uri: REDIRECT_URI, code_verifier: flow.verifier,
      }).toString(),
    });
    assert.equal(res.status, 400);
    assert.equal(res.json.error, 'invalid_grant');
    step('token exchange with a wrong code_verifier is refused');
  }

  // Any loopback port is accepted as redirect URI; other hosts and paths are not.
  {
    const other = await login({ redirectUri: 'http://127.0.0.1:54321/auth/callback' });
    await verifyIdToken(other.tokens.id_token);
    for (const bad of ['http://evil.example/auth/callback', 'http://127.0.0.1:9/elsewhere']) {
      const params = new URLSearchParams({
        client_id: 'guichet', response_type: 'code', scope: 'openid', redirect_uri: bad, state: 's',
        code_challenge: pkce().challenge, code_challenge_method: 'S256',
      });
      const res = await new Browser().request(`${meta.authorization_endpoint}?${params}`);
      assert.equal(res.status, 400, bad);
      assert.match(res.body, /redirect_uri/);
    }
    step('loopback redirect URIs on any port accepted, others refused');
  }

  // Account variants.
  {
    const check = async (loginName, expected, scope = 'openid email profile uid siret idp_id usual_name given_name') => {
      const { tokens } = await login({ login: loginName, scope });
      const info = await getJson(meta.userinfo_endpoint, { headers: { authorization: `Bearer ${tokens.access_token}` } });
      assert.equal(info.status, 200, info.text);
      for (const [key, value] of Object.entries(expected)) {
        assert.deepEqual(info.json[key], value, `${loginName}: ${key}`);
      }
      return info.json;
    };
    const full = await check('marie.curie@partner.example', {
      sub: 'sub-marie.curie@partner.example',
      email: 'marie.curie@partner.example',
      email_verified: true,
      given_name: 'Marie',
      usual_name: 'Curie',
      family_name: 'Curie',
      name: 'Marie Curie',
      uid: 'marie.curie@partner.example',
      siret: '12345678900011',
      idp_id: 'fia1',
    });
    assert.equal(full.acr, undefined, 'acr is not a userinfo claim');
    await check('unverified@mairie.example', { email_verified: false, siret: '21670482500019' });
    await check('noemail', { email: undefined, email_verified: undefined, uid: 'noemail' });
    await check('x@mairie.example', { email: undefined, uid: undefined, siret: undefined }, 'openid');
    step('userinfo claims for the account variants (JSON, client guichet)');
  }

  // acr
  {
    const acrOf = async (loginName, extra) => {
      const { tokens, flow } = await login({ login: loginName, extra });
      return (await verifyIdToken(tokens.id_token, { nonce: flow.nonce })).payload.acr;
    };
    assert.equal(await acrOf('strong.agent@mairie.example', { acr_values: 'eidas2' }), 'eidas2');
    assert.equal(await acrOf('agent@mairie.example', { acr_values: 'eidas2' }), 'eidas1');
    assert.equal(await acrOf('strong.agent@mairie.example', {}), 'eidas1');
    const essential = JSON.stringify({ id_token: { acr: { essential: true, values: ['eidas2'] } } });
    assert.equal(await acrOf('strong.agent@mairie.example', { claims: essential }), 'eidas2');
    const refused = await authorize(new Browser(), { login: 'agent@mairie.example', extra: { claims: essential } });
    assert.equal(refused.callback.get('error'), 'access_denied');
    assert.equal(refused.callback.get('code'), null);
    step('acr eidas2 for strong* logins when requested, eidas1 otherwise, access_denied for essential eidas2');
  }

  // guichet-jwt: signed userinfo; guichet-proconnect: plain.
  {
    const { tokens } = await login({ clientId: 'guichet-jwt' });
    const res = await fetch(meta.userinfo_endpoint, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /^application\/jwt/);
    const jwt = await res.text();
    const jwks = jose.createRemoteJWKSet(new URL(meta.jwks_uri));
    const { payload } = await jose.jwtVerify(jwt, jwks, { issuer, audience: 'guichet-jwt' });
    assert.equal(payload.email, 'jean.dupont@mairie.example');
    const pc = await login({ clientId: 'guichet-proconnect', scope: 'openid given_name usual_name email uid siret idp_id' });
    const info = await getJson(meta.userinfo_endpoint, { headers: { authorization: `Bearer ${pc.tokens.access_token}` } });
    assert.equal(info.json.siret, '21670482500019');
    assert.equal(info.json.usual_name, 'Dupont');
    assert.equal(info.json.family_name, undefined);
    step('userinfo as application/jwt for guichet-jwt; ProConnect scopes for guichet-proconnect');
  }

  // ---------------------------------------------------------------------------------------
  // /__test/ endpoints

  {
    const health = await getJson('/__test/health');
    assert.equal(health.status, 200);
    assert.equal(health.json.kid, initialKid);
  }

  // Faults, each once.
  {
    const decode = (token) => {
      const [h, p, s] = token.split('.');
      return {
        header: JSON.parse(Buffer.from(h, 'base64url')),
        payload: JSON.parse(Buffer.from(p, 'base64url')),
        signature: s,
      };
    };
    const faulted = async (mode) => {
      assert.deepEqual(await control('fault', { id_token: mode }), { id_token: mode });
      const { tokens, flow } = await login();
      return { token: tokens.id_token, nonce: flow.nonce, ...decode(tokens.id_token) };
    };
    const rejects = async (token, code, options = {}) => {
      const jwks = jose.createRemoteJWKSet(new URL(meta.jwks_uri));
      await assert.rejects(jose.jwtVerify(token, jwks, { issuer, audience: 'guichet', ...options }), (err) => {
        assert.equal(err.code, code, `${err.code}: ${err.message}`);
        return true;
      });
    };
    const now = Math.floor(Date.now() / 1000);

    let f = await faulted('tamper');
    await rejects(f.token, 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED');
    assert.equal(f.payload.nonce, f.nonce);

    f = await faulted('expired');
    await rejects(f.token, 'ERR_JWT_EXPIRED');
    assert.ok(f.payload.exp <= now - 3500 && f.payload.iat < f.payload.exp);
    // Signature is valid: verify with a clock one hour and a half ago.
    await jose.jwtVerify(f.token, jose.createRemoteJWKSet(new URL(meta.jwks_uri)), {
      issuer, audience: 'guichet', currentDate: new Date((f.payload.exp - 60) * 1000),
    });

    f = await faulted('wrong_nonce');
    assert.notEqual((await verifyIdToken(f.token)).payload.nonce, f.nonce);

    f = await faulted('wrong_issuer');
    await rejects(f.token, 'ERR_JWT_CLAIM_VALIDATION_FAILED');
    assert.equal(f.payload.iss, 'http://evil.example');

    f = await faulted('wrong_audience');
    await rejects(f.token, 'ERR_JWT_CLAIM_VALIDATION_FAILED');
    assert.equal(f.payload.aud, 'someone-else');

    f = await faulted('future_iat');
    assert.ok(f.payload.iat >= now + 590, 'iat 10 minutes ahead');
    assert.ok(f.payload.exp >= now + 3590, 'exp 1 hour ahead');
    await verifyIdToken(f.token, { nonce: f.nonce }); // signature, iss, aud all fine

    f = await faulted('unknown_key');
    assert.notEqual(f.header.kid, initialKid);
    await rejects(f.token, 'ERR_JWKS_NO_MATCHING_KEY');

    f = await faulted('alg_none');
    assert.equal(f.header.alg, 'none');
    assert.equal(f.signature, '');
    assert.equal(f.payload.nonce, f.nonce);

    // The fault applied once only.
    const clean = await login();
    await verifyIdToken(clean.tokens.id_token, { nonce: clean.flow.nonce });
    step('every /__test/fault mode, then back to normal');
  }

  // Rotation.
  {
    const { kid } = await control('rotate');
    assert.notEqual(kid, initialKid);
    const jwks = await getJson(meta.jwks_uri);
    assert.deepEqual(jwks.json.keys.map((k) => k.kid), [kid]);
    assert.ok(jwks.json.keys.every((k) => k.d === undefined), 'no private parts published');
    const { tokens, flow } = await login();
    const { header } = await verifyIdToken(tokens.id_token, { nonce: flow.nonce });
    assert.equal(header.kid, kid);
    // Sessions survive a rotation (same store, same cookie keys): no login form.
    const sso = await exchange(await authorize(first.browser, { expectLoginForm: false }));
    assert.equal((await verifyIdToken(sso.id_token)).header.kid, kid);
    // An ID token signed with the dropped key is no longer a valid id_token_hint.
    const stale = await first.browser.request(`${meta.end_session_endpoint}?${new URLSearchParams({
      id_token_hint: first.tokens.id_token,
    })}`);
    assert.equal(stale.status, 400);
    assert.match(stale.body, /could not validate id_token_hint/);

    const kept = await control('rotate', { keep_old: true });
    assert.equal(kept.old_kid, kid);
    const both = await getJson(meta.jwks_uri);
    assert.deepEqual(both.json.keys.map((k) => k.kid), [kept.kid, kid]);
    // ... but one signed with a key kept by keep_old still is.
    const keptHint = await new Browser().request(`${meta.end_session_endpoint}?${new URLSearchParams({
      id_token_hint: tokens.id_token,
    })}`);
    assert.equal(keptHint.status, 200, keptHint.body);
    const after = await login();
    assert.equal((await verifyIdToken(after.tokens.id_token)).header.kid, kept.kid);
    const health = await getJson('/__test/health');
    assert.equal(health.json.kid, kept.kid);
    step(`rotate: ${initialKid} -> ${kid} -> ${kept.kid} (keep_old publishes both, signs with the new one)`);
  }

  // Down.
  {
    await control('down', { seconds: 1 });
    const down = await getJson('/.well-known/openid-configuration');
    assert.equal(down.status, 503);
    assert.equal((await getJson('/__test/health')).status, 200);
    await new Promise((r) => setTimeout(r, 1200));
    assert.equal((await getJson('/.well-known/openid-configuration')).status, 200);
    step('down for 1 s: 503, then back');
  }

  // ---------------------------------------------------------------------------------------
  // Logout

  {
    const { browser, tokens } = await login();
    const postLogout = 'http://127.0.0.1:9/auth/logged-out';
    const params = new URLSearchParams({
      id_token_hint: tokens.id_token, post_logout_redirect_uri: postLogout, state: 'bye',
    });
    const page = await browser.request(`${meta.end_session_endpoint}?${params}`);
    assert.equal(page.status, 200);
    const action = formAction(page.body);
    assert.equal(action, `${issuer}/session/end/confirm`);
    const xsrf = htmlInput(page.body, 'xsrf');
    assert.ok(xsrf);
    assert.match(page.body, /name="logout"/);
    const done = await browser.request(action, { method: 'POST', form: { xsrf, logout: 'yes' } });
    assert.equal(done.status, 303);
    assert.equal(done.location, `${postLogout}?state=bye`);
    // The provider session is gone: the next authorize shows the login form again.
    await exchange(await authorize(browser, { expectLoginForm: true }));

    // Other loopback post-logout URIs are accepted; a foreign one is refused.
    const second = await login();
    const root = await second.browser.request(`${meta.end_session_endpoint}?${new URLSearchParams({
      id_token_hint: second.tokens.id_token, post_logout_redirect_uri: 'http://127.0.0.1:40404/',
    })}`);
    assert.equal(root.status, 200);
    const evil = await second.browser.request(`${meta.end_session_endpoint}?${new URLSearchParams({
      id_token_hint: second.tokens.id_token, post_logout_redirect_uri: 'http://evil.example/',
    })}`);
    assert.equal(evil.status, 400);
    step('end_session with id_token_hint, post_logout_redirect_uri and state');
  }
} catch (err) {
  fail(err);
}

// ---------------------------------------------------------------------------------------
// Closing stdin stops the provider.

const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
child.stdin.end();
const timeout = setTimeout(() => fail(new Error('provider still running 5 s after stdin closed')), 5000);
const { code } = await exited;
clearTimeout(timeout);
assert.equal(code, 0);
step('provider exits when its stdin closes');

console.log('smoke ok');
