// The mesh's development authorization server: oidc-provider (a certified OpenID
// Provider; it does all of the OAuth) configured for MCP resource servers.
//
//   node server.js [serve] --state-dir DIR --port N [--issuer URL] [--resources JSON] ...
//   node server.js rotate-keys --state-dir DIR     (then restart `serve`)
//
// Every option also reads MCPMESH_AUTHSERVER_<NAME> (e.g. --state-dir ↔
// MCPMESH_AUTHSERVER_STATE_DIR); README.md beside this file lists them.
//
// What it gives: authorization code + PKCE (S256, required for every client), dynamic
// client registration, resource indicators (RFC 8707) with JWT access tokens whose `aud`
// is the resource and whose `scope` is limited to that resource's scopes, DPoP (RFC 9449,
// `cnf.jkt` in the token), token introspection (RFC 7662), client_credentials for a dev
// client (tokens for scripts), no refresh tokens (`offline_access` is not offered).
// Signing keys and cookie keys live in the state dir (0600) so tokens survive restarts;
// `rotate-keys` puts a new signing key first and keeps the previous one published.

import { generateKeyPair, exportJWK, calculateJwkThumbprint } from 'jose';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Provider, { errors } from 'oidc-provider';
// Deep import, pinned by the exact version in package.json: the provider's own in-memory
// store, kept for everything but client registrations.
import MemoryAdapter from 'oidc-provider/lib/adapters/memory_adapter.js';

const OPTIONS = {
  'state-dir': { type: 'string', help: 'directory of keys.json, cookies.json, dev-client.json (required)' },
  host: { type: 'string', help: 'address to listen on', default: '127.0.0.1' },
  port: { type: 'string', help: 'port to listen on', default: '9400' },
  issuer: { type: 'string', help: 'issuer URL (default http://HOST:PORT)' },
  resources: {
    type: 'string',
    help: 'JSON object: resource (a service\'s canonical URL) -> list of its scopes',
    default: '{}',
  },
  'opaque-resources': {
    type: 'string',
    help: 'comma-separated resources that get opaque tokens (checked by introspection) instead of JWTs',
    default: '',
  },
  'dev-users': { type: 'string', help: 'comma-separated accounts the login page accepts', default: 'dev' },
  'dev-client-id': { type: 'string', help: 'client_credentials client for scripts', default: 'mcpmesh-dev' },
  'token-ttl': { type: 'string', help: 'access token lifetime, seconds', default: '3600' },
  'signing-alg': { type: 'string', help: 'access token signature algorithm (RS256 or ES256)', default: 'RS256' },
  'keep-keys': { type: 'string', help: 'rotate-keys: keys kept published (newest first)', default: '2' },
};

function settings() {
  const { values, positionals } = parseArgs({
    options: Object.fromEntries(Object.entries(OPTIONS).map(([k, v]) => [k, { type: v.type }])),
    allowPositionals: true,
  });
  const read = (name) => {
    const env = process.env[`MCPMESH_AUTHSERVER_${name.toUpperCase().replaceAll('-', '_')}`];
    return values[name] ?? (env !== undefined && env !== '' ? env : OPTIONS[name].default);
  };
  const out = Object.fromEntries(Object.keys(OPTIONS).map((name) => [name, read(name)]));
  out.command = positionals[0] ?? 'serve';
  if (!out['state-dir']) fail('--state-dir (or MCPMESH_AUTHSERVER_STATE_DIR) is required');
  return out;
}

function fail(message) {
  process.stderr.write(`authserver: ${message}\n`);
  process.exit(2);
}

// --- state files (0600 in a 0700 directory) ------------------------------------------

function writePrivate(path, value) {
  const partial = `${path}.partial`;
  writeFileSync(partial, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
  chmodSync(partial, 0o600);
  renameSync(partial, path); // readers never see half a file
}

function readJson(path) {
  return existsSync(path) ? JSON.parse(readFileSync(path, 'utf8')) : undefined;
}

async function newSigningKey(alg) {
  const { privateKey } = await generateKeyPair(alg, { extractable: true, modulusLength: 2048 });
  const jwk = await exportJWK(privateKey);
  return { ...jwk, alg, use: 'sig', kid: await calculateJwkThumbprint(jwk) };
}

async function signingKeys(dir, alg) {
  const path = join(dir, 'keys.json');
  const stored = readJson(path);
  if (stored?.keys?.length) return stored;
  const fresh = { keys: [await newSigningKey(alg)] };
  writePrivate(path, fresh);
  return fresh;
}

async function rotateKeys(dir, alg, keep) {
  const path = join(dir, 'keys.json');
  const old = readJson(path)?.keys ?? [];
  const keys = [await newSigningKey(alg), ...old].slice(0, Math.max(1, keep));
  writePrivate(path, { keys });
  process.stdout.write(`${JSON.stringify({ kid: keys[0].kid, published: keys.map((k) => k.kid) })}\n`);
}

function persisted(dir, name, make) {
  const path = join(dir, name);
  const stored = readJson(path);
  if (stored !== undefined) return stored;
  const value = make();
  writePrivate(path, value);
  return value;
}

// Registered clients persist in clients.json (0600), so an MCP client that registered
// once keeps its client_id across restarts; grants, codes and sessions stay in memory.
class RegisteredClients {
  constructor(dir) {
    this.path = join(dir, 'clients.json');
    this.clients = new Map(Object.entries(readJson(this.path) ?? {}));
  }

  save() {
    writePrivate(this.path, Object.fromEntries(this.clients));
  }

  async upsert(id, payload) {
    this.clients.set(id, payload);
    this.save();
  }

  async find(id) {
    return this.clients.get(id);
  }

  async destroy(id) {
    if (this.clients.delete(id)) this.save();
  }

  async consume() {}

  async findByUid() { return undefined; }

  async findByUserCode() { return undefined; }

  async revokeByGrantId() {}
}

function adapterFactory(dir) {
  const clients = new RegisteredClients(dir);
  return (name) => (name === 'Client' ? clients : new MemoryAdapter(name));
}

// --- the provider -----------------------------------------------------------------------

function resourceServers(opts) {
  let scopes;
  try {
    scopes = JSON.parse(opts.resources);
  } catch (error) {
    fail(`--resources is not JSON: ${error.message}`);
  }
  // One variable per resource as well (docker compose: one line per service, with its
  // published port): MCPMESH_AUTHSERVER_RESOURCE_<NAME>="<canonical URL> <scope> <scope>…".
  for (const [name, value] of Object.entries(process.env)) {
    if (!/^MCPMESH_AUTHSERVER_RESOURCE_[A-Z0-9_]+$/.test(name) || !value.trim()) continue;
    const [resource, ...list] = value.trim().split(/\s+/);
    if (!list.length) fail(`${name}: "<canonical URL> <scope> …" expected, got ${JSON.stringify(value)}`);
    scopes[resource] = list;
  }
  const opaque = new Set(opts['opaque-resources'].split(',').map((s) => s.trim()).filter(Boolean));
  const servers = new Map();
  for (const [resource, list] of Object.entries(scopes)) {
    if (!Array.isArray(list) || !list.every((s) => typeof s === 'string' && !s.includes(' '))) {
      fail(`--resources: the scopes of ${resource} must be a list of scope names`);
    }
    servers.set(resource, { scopes: list, opaque: opaque.has(resource) });
  }
  for (const resource of opaque) {
    if (!servers.has(resource)) fail(`--opaque-resources names an unknown resource: ${resource}`);
  }
  return servers;
}

function configuration(opts, jwks, cookieKeys, devClient, servers, adapter) {
  const ttl = Number.parseInt(opts['token-ttl'], 10);
  const users = new Set(opts['dev-users'].split(',').map((s) => s.trim()).filter(Boolean));
  const allScopes = [...new Set([...servers.values()].flatMap((s) => s.scopes))];
  return {
    adapter,
    jwks,
    cookies: { keys: cookieKeys },
    // Only the OIDC scope; resource scopes come from each resource server below. No
    // `offline_access`: no refresh tokens are issued (the spec asks servers not to
    // advertise it; a lost token expires).
    scopes: ['openid', ...allScopes],
    claims: { openid: ['sub'] },
    clients: [
      {
        client_id: devClient.client_id,
        client_secret: devClient.client_secret,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    responseTypes: ['code'], // OAuth 2.1: no implicit flow
    pkce: { required: () => true },
    ttl: { AccessToken: ttl, ClientCredentials: ttl, Session: 8 * 3600, Grant: 8 * 3600 },
    // A login accepts only the configured dev accounts (any password: a dev server).
    async findAccount(_ctx, sub) {
      if (!users.has(sub)) return undefined;
      return { accountId: sub, async claims() { return { sub }; } };
    },
    features: {
      devInteractions: { enabled: true },
      registration: { enabled: true },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      dPoP: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: (_ctx, _client, oneOf) => oneOf,
        useGrantedResource: () => true,
        getResourceServerInfo(_ctx, resource) {
          const server = servers.get(resource);
          if (!server) throw new errors.InvalidTarget(`unknown resource: ${resource}`);
          return {
            audience: resource,
            scope: server.scopes.join(' '),
            accessTokenTTL: ttl,
            accessTokenFormat: server.opaque ? 'opaque' : 'jwt',
            ...(server.opaque ? {} : { jwt: { sign: { alg: opts['signing-alg'] } } }),
          };
        },
      },
    },
    issueRefreshToken: () => false,
  };
}

async function serve(opts) {
  const dir = opts['state-dir'];
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const alg = opts['signing-alg'];
  const jwks = await signingKeys(dir, alg);
  const cookieKeys = persisted(dir, 'cookies.json', () => [randomBytes(32).toString('base64url')]);
  const devClient = persisted(dir, 'dev-client.json', () => ({
    client_id: opts['dev-client-id'],
    client_secret: randomBytes(32).toString('base64url'),
  }));
  const servers = resourceServers(opts);
  const issuer = opts.issuer ?? `http://${opts.host}:${opts.port}`;
  const config = configuration(opts, jwks, cookieKeys, devClient, servers, adapterFactory(dir));
  const provider = new Provider(issuer, config);
  provider.proxy = process.env.MCPMESH_AUTHSERVER_BEHIND_PROXY === 'true';
  const server = provider.listen(Number.parseInt(opts.port, 10), opts.host, () => {
    process.stdout.write(`${JSON.stringify({ issuer, kid: jwks.keys[0].kid, resources: [...servers.keys()] })}\n`);
  });
  const stop = () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

const opts = settings();
if (opts.command === 'rotate-keys') {
  const dir = opts['state-dir'];
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  await rotateKeys(dir, opts['signing-alg'], Number.parseInt(opts['keep-keys'], 10));
} else if (opts.command === 'serve') {
  await serve(opts);
} else {
  fail(`unknown command ${opts.command} (serve, rotate-keys)`);
}
