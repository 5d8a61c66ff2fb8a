import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { defaultDirectory, type Emulator, startEmulator } from 'kinde-emulator';
import { organizationsOf, userPropertiesOf } from '../src/claims.js';
import fastifyKinde from '../src/index.js';
import { connectKindeTest, type KindeTestKit } from '../src/testing/index.js';

/**
 * Item 3 of "Coming from Kinde's SDKs": the whole user and organization, read from the tokens where
 * the emulator (like Kinde) puts them: `preferred_username`, `phone_number`, `user_properties`,
 * `org_name`, `organization_properties`, and the ID token's `organizations`.
 */

const ORG = 'org_0000000001';
const ACME = 'org_acme';

function directory() {
  const dir = defaultDirectory();
  dir.organizations.push({ code: ACME, name: 'Acme Ltd' });
  const org = dir.organizations[0]!;
  org.properties = { kp_org_city: 'Melbourne', kp_org_industry: 'Software', seats: 12 };
  const ada = dir.users[0]!;
  ada.username = 'ada';
  ada.phoneNumber = '+61400000000';
  ada.properties = { kp_usr_city: 'Sydney', kp_usr_job_title: 'Engineer', tier: 'gold', beta: true };
  ada.organizations.push({ orgCode: ACME, permissions: [], roles: [] });
  return dir;
}

let emulator: Emulator;
let kit: KindeTestKit;
let app: FastifyInstance;
before(async () => {
  emulator = await startEmulator({ port: 0, headlessLogin: true, directory: directory() });
  kit = await connectKindeTest({
    issuerUrl: emulator.issuerUrl,
    clientSecret: emulator.directory.applications[0]!.clientSecret,
  });
  app = Fastify();
  await app.register(fastifyKinde, kit.options());
  app.get('/who', (request) => {
    const k = request.kinde;
    return {
      user: k.getUser(),
      organization: k.getOrganization(),
      organizations: k.getUserOrganizations(),
      access: k.getClaims(),
      id: k.getClaims('id_token'),
      idJsUtils: k.getClaims('idToken'),
    };
  });
  app.get('/mutate', (request) => {
    const claims = request.kinde.getClaims();
    if (claims !== null) (claims as Record<string, unknown>).sub = 'kp_forged';
    return { sub: request.kinde.getClaimValue('sub') };
  });
});
after(async () => {
  await app?.close();
  await emulator?.close();
});

describe('getUser, getOrganization, getUserOrganizations and getClaims in Kinde shapes', () => {
  test('a session: the user with username, phone and properties (Next.js KindeUser)', async () => {
    const cookie = await kit.signIn(app, { email: 'admin@example.test' });
    const body = (await app.inject({ url: '/who', headers: { cookie } })).json();
    assert.deepEqual(body.user, {
      id: 'kp_0123456789abcdef0123456789abcdef',
      email: 'admin@example.test',
      given_name: 'Ada',
      family_name: 'Admin',
      picture: null,
      username: 'ada',
      phone_number: '+61400000000',
      properties: {
        city: 'Sydney',
        job_title: 'Engineer',
        kp_usr_city: 'Sydney',
        kp_usr_job_title: 'Engineer',
        tier: 'gold',
        beta: true,
      },
    });
    assert.deepEqual(body.organization, {
      orgCode: ORG,
      orgName: 'Default Org',
      properties: {
        city: 'Melbourne',
        industry: 'Software',
        kp_org_city: 'Melbourne',
        kp_org_industry: 'Software',
        seats: 12,
      },
    });
    assert.deepEqual(body.organizations, {
      orgCodes: [ORG, ACME],
      orgs: [
        { code: ORG, name: 'Default Org' },
        { code: ACME, name: 'Acme Ltd' },
      ],
    });
    assert.equal(body.access.org_code, ORG);
    assert.equal(body.access.iss, emulator.issuerUrl);
    assert.deepEqual(body.access.ksp, { persistent: true });
    assert.equal(body.id.preferred_username, 'ada');
    assert.deepEqual(body.idJsUtils, body.id);
  });

  test('signed in to another organization: its name, no properties', async () => {
    const cookie = await kit.signIn(app, { email: 'admin@example.test', org: ACME });
    const body = (await app.inject({ url: '/who', headers: { cookie } })).json();
    assert.deepEqual(body.organization, { orgCode: ACME, orgName: 'Acme Ltd', properties: {} });
  });

  test('a user without them: null username and phone, empty properties', async () => {
    const cookie = await kit.signIn(app, { email: 'user@example.test' });
    const { user } = (await app.inject({ url: '/who', headers: { cookie } })).json();
    assert.equal(user.username, null);
    assert.equal(user.phone_number, null);
    assert.deepEqual(user.properties, {});
  });

  test('a bearer token: the user from the access token, properties included', async () => {
    const token = await kit.bearerFor({ email: 'admin@example.test' });
    const body = (await app.inject({ url: '/who', headers: { authorization: `Bearer ${token}` } })).json();
    assert.equal(body.user.id, 'kp_0123456789abcdef0123456789abcdef');
    assert.equal(body.user.properties.city, 'Sydney');
    assert.equal(body.organization.orgName, 'Default Org');
    assert.equal(body.id, null, 'a bearer caller has no ID token');
  });

  test('a machine and an anonymous caller: no user, no claims for nobody', async () => {
    const machine = await kit.machineToken();
    const m = (await app.inject({ url: '/who', headers: { authorization: `Bearer ${machine}` } })).json();
    assert.equal(m.user, null);
    assert.deepEqual(m.access.gty, ['client_credentials']);
    const anonymous = (await app.inject({ url: '/who' })).json();
    assert.equal(anonymous.user, null);
    assert.equal(anonymous.access, null);
    assert.deepEqual(anonymous.organization, { orgCode: null, orgName: null, properties: {} });
    assert.deepEqual(anonymous.organizations, { orgCodes: [], orgs: [] });
  });

  test('getClaims answers a copy: changing it changes nothing the guards read', async () => {
    const cookie = await kit.signIn(app, { email: 'admin@example.test' });
    const body = (await app.inject({ url: '/mutate', headers: { cookie } })).json();
    assert.equal(body.sub, 'kp_0123456789abcdef0123456789abcdef');
  });

  test('malformed property and organization claims are skipped, never thrown', () => {
    assert.deepEqual(
      userPropertiesOf({ user_properties: 'x' }, { user_properties: { a: null, b: { v: 1 } } }),
      {
        b: 1,
      },
    );
    assert.deepEqual(userPropertiesOf({ user_properties: JSON.parse('{"__proto__":{"v":1}}') }, {}), {});
    assert.deepEqual(organizationsOf({ organizations: [null, { id: 5 }, { id: 'org_x' }] }), [
      { code: 'org_x', name: null },
    ]);
  });
});

describe('the emulator refuses malformed user data', () => {
  test('a bad phone number or property key is a directory error', () => {
    assert.throws(
      () =>
        emulator.control.mergeDirectory({ users: [{ email: 'admin@example.test', phoneNumber: '0400' }] }),
      /phoneNumber: must be an E\.164 number/,
    );
    assert.throws(
      () =>
        emulator.control.mergeDirectory({
          users: [{ email: 'admin@example.test', properties: { 'Bad Key': 1 } }],
        }),
      /properties\.Bad Key: must be a lower-case key/,
    );
  });
});
