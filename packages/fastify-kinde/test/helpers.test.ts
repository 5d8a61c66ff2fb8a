// Through app.inject(): what is checked is the plugin's reading of real tokens, not the network.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import fastifyKinde, { requireFlag, requireKinde, requireOrg, requireRole } from '../src/index.js';
import { startKindeTest } from '../src/testing/index.js';

const ORG = 'org_0000000001';
const kit = await startKindeTest({ after });
/** No cookie: an anonymous caller. */
const ANONYMOUS = undefined;

describe('request.kinde helpers and guards against the emulator', () => {
  let app: FastifyInstance;
  let admin: string;
  let user: string;
  before(async () => {
    app = Fastify();
    await app.register(fastifyKinde, kit.options());
    app.get('/helpers', async (request) => {
      const k = request.kinde;
      const attempt = (f: () => unknown) => {
        try {
          return f();
        } catch (error) {
          return { error: (error as { code?: string }).code, message: (error as Error).message };
        }
      };
      return {
        kind: k.kind,
        via: k.via,
        isAuthenticated: k.isAuthenticated(),
        user: k.getUser(),
        permission: k.getPermission('write:items'),
        permissions: k.getPermissions(),
        organization: k.getOrganization(),
        organizations: k.getUserOrganizations(),
        roles: k.getRoles(),
        darkMode: attempt(() => k.getBooleanFlag('dark_mode')),
        theme: attempt(() => k.getStringFlag('theme')),
        maxItems: attempt(() => k.getIntegerFlag('max_items')),
        flag: attempt(() => k.getFlag('theme')),
        fallback: k.getFlag('not_there', 42),
        missing: attempt(() => k.getFlag('not_there')),
        wrongType: attempt(() => k.getStringFlag('max_items')),
        emailClaim: k.getClaim('email', 'id_token'),
        azp: k.getClaimValue('azp'),
        absent: k.getClaim('nope'),
        hasTokens: k.getAccessToken() !== null && k.getIdToken() !== null,
      };
    });
    app.get('/profile', async (request) => ({
      first: await request.kinde.getUserProfile(),
      second: await request.kinde.getUserProfile(),
    }));
    app.get('/role', { onRequest: requireRole('admin') }, () => ({ ok: true }));
    app.get('/any-role', { onRequest: requireRole(['admin', 'viewer'], { any: true }) }, () => ({
      ok: true,
    }));
    app.get('/flag', { onRequest: requireFlag('dark_mode') }, () => ({ ok: true }));
    app.get('/theme', { onRequest: requireFlag('theme', 'pink') }, () => ({ ok: true }));
    app.get('/org', { onRequest: requireOrg() }, () => ({ ok: true }));
    app.get('/this-org', { onRequest: requireOrg(ORG) }, () => ({ ok: true }));
    app.get('/other-org', { onRequest: requireOrg('org_other') }, () => ({ ok: true }));
    app.get(
      '/combined',
      { onRequest: requireKinde({ roles: ['admin'], permissions: ['write:items'], org: ORG }) },
      () => ({ ok: true }),
    );
    app.get(
      '/declared-any',
      { config: { kinde: { anyPermission: ['write:items', 'delete:items'] } } },
      () => ({ ok: true }),
    );
    admin = await kit.signIn(app, { email: 'admin@example.test' });
    user = await kit.signIn(app, { email: 'user@example.test' });
  });
  after(() => app.close());

  const get = async (cookie: string | undefined, path: string) => {
    const answer = await app.inject({ url: path, headers: cookie === undefined ? {} : { cookie } });
    return { status: answer.statusCode, body: JSON.parse(answer.body) };
  };

  test('claim helpers read the verified claims the way Kinde SDKs do', async () => {
    const { body } = await get(admin, '/helpers');
    assert.equal(body.kind, 'user');
    assert.equal(body.via, 'session');
    assert.equal(body.isAuthenticated, true);
    assert.deepEqual(Object.keys(body.user).sort(), [
      'email',
      'family_name',
      'given_name',
      'id',
      'phone_number',
      'picture',
      'properties',
      'username',
    ]);
    assert.equal(body.user.given_name, 'Ada');
    assert.deepEqual(body.permission, { orgCode: ORG, isGranted: true });
    assert.equal(body.permissions.orgCode, ORG);
    assert.deepEqual([...body.permissions.permissions].sort(), ['delete:items', 'read:items', 'write:items']);
    assert.deepEqual(body.organization, { orgCode: ORG, orgName: 'Default Org', properties: {} });
    assert.ok(body.organizations.orgCodes.includes(ORG));
    assert.deepEqual(
      body.roles.map((r: { key: string }) => r.key),
      ['admin'],
    );
    assert.equal(body.darkMode, true);
    assert.equal(body.theme, 'pink');
    assert.equal(body.maxItems, 5);
    assert.deepEqual(body.flag, { code: 'theme', type: 'string', value: 'pink', is_default: false });
    assert.deepEqual(body.fallback, {
      code: 'not_there',
      type: 'integer',
      value: 42,
      is_default: true,
      defaultValue: 42,
    });
    assert.equal(body.missing.error, 'ERR_FLAG');
    assert.match(body.wrongType.message, /Flag "max_items" is of type integer, not string/);
    assert.deepEqual(body.emailClaim, { name: 'email', value: 'admin@example.test' });
    assert.ok(typeof body.azp === 'string');
    assert.equal(body.absent, null);
    assert.equal(body.hasTokens, true);
  });

  test('a plain user sees its own grants', async () => {
    const { body } = await get(user, '/helpers');
    assert.deepEqual(body.permission, { orgCode: ORG, isGranted: false });
    assert.deepEqual(body.permissions.permissions, ['read:items']);
    assert.deepEqual(body.roles, []);
    assert.equal(body.darkMode, false);
  });

  test('an anonymous caller gets empty answers, never an error', async () => {
    const { body } = await get(ANONYMOUS, '/helpers');
    assert.equal(body.kind, 'anonymous');
    assert.equal(body.user, null);
    assert.deepEqual(body.permissions, { orgCode: null, permissions: [] });
    assert.deepEqual(body.fallback.value, 42);
  });

  test('the user profile comes from /oauth2/v2/user_profile once per session', async () => {
    const client = await kit.signIn(app, { email: 'admin@example.test' });
    const count = async () =>
      (await kit.requests()).filter((r) => r.path === '/oauth2/v2/user_profile').length;
    const before = await count();
    const { body } = await get(client, '/profile');
    assert.equal(body.first.email, 'admin@example.test');
    assert.deepEqual(body.second, body.first);
    await get(client, '/profile');
    assert.equal(await count(), before + 1);
  });

  test('role, flag and organization guards answer 403 naming what is missing', async () => {
    const cases: [string, number, number, string?][] = [
      ['/role', 200, 403, 'Missing role: admin'],
      ['/any-role', 200, 403, 'Missing role: one of admin, viewer'],
      ['/flag', 200, 403, 'Missing feature flag: dark_mode'],
      ['/theme', 200, 403, 'Missing feature flag: theme'],
      ['/org', 200, 200],
      ['/this-org', 200, 200],
      ['/other-org', 403, 403, 'Missing organization: org_other'],
      ['/combined', 200, 403, 'Missing permission: write:items'],
      ['/declared-any', 200, 403, 'Missing permission: one of write:items, delete:items'],
    ];
    for (const [path, adminStatus, userStatus, detail] of cases) {
      assert.equal((await get(admin, path)).status, adminStatus, `admin ${path}`);
      const answer = await get(user, path);
      assert.equal(answer.status, userStatus, `user ${path}`);
      if (userStatus === 403) assert.deepEqual(answer.body, { detail }, path);
      const anonymous = await get(ANONYMOUS, path);
      assert.deepEqual(
        anonymous,
        { status: 401, body: { detail: 'Not authenticated' } },
        `anonymous ${path}`,
      );
    }
  });
});
