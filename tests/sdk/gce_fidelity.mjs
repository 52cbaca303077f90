// SDK fidelity: drives `gpuform cloudsim` with Google's official Node.js clients
// (@google-cloud/compute over its REST fallback, google-auth-library for the service
// account), so that cloudsim's Compute Engine dialect and token endpoint are checked by
// Google's own code: the JWTs it signs, the JSON it decodes (uint64 ids, enums, operations),
// paging, error replies. Usage:
//   node gce_fidelity.mjs GPUFORM_BINARY CONFIG.yaml
// Exit status: 0 every check passed, 1 a check failed (each failure is printed).
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import compute from '@google-cloud/compute';
import { JWT } from 'google-auth-library';
import { Gaxios } from 'gaxios';

const [binary, config] = process.argv.slice(2);
if (!binary || !config) {
  console.error('usage: node gce_fidelity.mjs GPUFORM_BINARY CONFIG.yaml');
  process.exit(2);
}

// cloudsim makes the service account up and writes its key file where we ask
const dir = mkdtempSync(join(tmpdir(), 'gce-fidelity-'));
const keyPath = join(dir, 'key.json');
const env = { ...process.env };
delete env.GOOGLE_APPLICATION_CREDENTIALS;
env.AWS_ACCESS_KEY_ID = 'AKIDGCEFIDELITY'; // EC2 is not under test; its warning would be noise
env.AWS_SECRET_ACCESS_KEY = 'gce-fidelity-unused';
const sim = spawn(binary, ['cloudsim', '--listen', '127.0.0.1:0', '--config', config, '--gcp-key', keyPath], {
  env,
  stdio: ['ignore', 'pipe', 'inherit'],
});
const exited = new Promise((resolve) => sim.on('exit', (code, signal) => resolve({ code, signal })));
const { endpoint, keyFile } = await new Promise((resolve, reject) => {
  const rl = createInterface({ input: sim.stdout });
  let endpoint = null;
  rl.on('line', (line) => {
    const m = /listening on (http:\/\/[0-9.]+:[0-9]+)/.exec(line);
    if (m) endpoint = m[1];
    const k = /gcp service account \S+, key file (\S+)/.exec(line);
    if (k && endpoint) resolve({ endpoint, keyFile: k[1] });
  });
  sim.on('exit', () => reject(new Error('cloudsim exited before listening')));
});

const key = JSON.parse(readFileSync(keyFile, 'utf8'));
const port = Number(new URL(endpoint).port);
const project = key.project_id;
const zone = 'us-central1-a';
const P = { project, zone };
const scopes = ['https://www.googleapis.com/auth/compute'];

// google-auth-library ignores a key file's token_uri (it always asks oauth2.googleapis.com):
// its transport is pointed at the token_uri the key file names, which is cloudsim's
let tokenRequests = 0;
const transporter = new Gaxios();
transporter.interceptors.request.add({
  resolved: async (cfg) => {
    if (String(cfg.url).startsWith('https://oauth2.googleapis.com/token')) {
      cfg.url = new URL(key.token_uri);
      tokenRequests++;
    }
    return cfg;
  },
});
const oauth = new JWT({ email: key.client_email, key: key.private_key, keyId: key.private_key_id, scopes, transporter });
// ... and the way the library authenticates by default with a key: a self-signed JWT
const selfSigned = new JWT({ email: key.client_email, key: key.private_key, keyId: key.private_key_id, scopes });
selfSigned.useJWTAccessWithScope = true;

const clientOpts = (authClient) => ({ fallback: true, protocol: 'http', apiEndpoint: '127.0.0.1', port, authClient });
const instances = new compute.InstancesClient(clientOpts(oauth));
const operations = new compute.ZoneOperationsClient(clientOpts(oauth));
const instances2 = new compute.InstancesClient(clientOpts(selfSigned));

async function admin(path, body) {
  const res = await fetch(endpoint + '/_cloudsim/' + path, {
    method: body ? 'POST' : 'GET',
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, json: await res.json() };
}

async function done(op) {
  let o = op.latestResponse ?? op;
  while (o.status !== 'DONE') [o] = await operations.wait({ ...P, operation: o.name });
  return o;
}

const body = (name, extra = {}) => ({
  name,
  machineType: `zones/${zone}/machineTypes/g2-standard-4`,
  disks: [{ boot: true, autoDelete: true, initializeParams: { sourceImage: 'projects/debian-cloud/global/images/family/debian-12' } }],
  scheduling: { onHostMaintenance: 'TERMINATE' },
  labels: { fidelity: 'gce' },
  metadata: { items: [{ key: 'startup-script', value: '#!/bin/sh\necho hello\n' }] },
  ...extra,
});

async function expectHttpError(promise, code, reason) {
  try {
    await promise;
  } catch (e) {
    assert.equal(e.code, code, `expected HTTP ${code}, got ${e.code}: ${e.message}`);
    const data = e.response?.data ?? JSON.parse(e.message);
    assert.equal(data.error.errors[0].reason, reason);
    assert.equal(data.error.code, code);
    return e;
  }
  assert.fail(`expected the client to fail with ${code} ${reason}`);
}

let failures = 0;
async function check(name, fn) {
  try {
    await fn();
    console.log(`ok - ${name}`);
  } catch (e) {
    failures++;
    console.log(`not ok - ${name}: ${e.stack ?? e}`);
  }
}

await check('the key file cloudsim wrote is private and points at its token endpoint', async () => {
  assert.equal(statSync(keyFile).mode & 0o777, 0o600);
  assert.equal(key.type, 'service_account');
  assert.equal(key.token_uri, endpoint + '/token');
});

await check('the OAuth2 jwt-bearer grant gives an access token', async () => {
  const { token } = await oauth.getAccessToken();
  assert.match(token, /^ya29\./);
  assert.equal(tokenRequests, 1);
});

await check('insert waits on its zone operation and get shows the instance', async () => {
  const [op] = await instances.insert({ ...P, requestId: '0b8f2e4c-1f2a-4b3c-8d4e-5f6a7b8c9d01', instanceResource: body('fid-1') });
  assert.equal(op.latestResponse.operationType, 'insert');
  const o = await done(op);
  assert.equal(o.status, 'DONE');
  assert.ok(!o.error, 'no operation error');
  const [inst] = await instances.get({ ...P, instance: 'fid-1' });
  assert.equal(inst.status, 'RUNNING');
  assert.equal(inst.labels.fidelity, 'gce');
  assert.match(String(inst.id), /^[0-9]+$/);
  assert.match(inst.machineType, /\/zones\/us-central1-a\/machineTypes\/g2-standard-4$/);
  assert.equal(inst.metadata.items.find((i) => i.key === 'startup-script').value, '#!/bin/sh\necho hello\n');
});

await check('the same requestId returns the same operation and makes nothing twice', async () => {
  const request = { ...P, requestId: '0b8f2e4c-1f2a-4b3c-8d4e-5f6a7b8c9d02', instanceResource: body('fid-2') };
  const [a] = await instances.insert(request);
  const [b] = await instances.insert(request);
  assert.equal(a.latestResponse.name, b.latestResponse.name);
  await done(a);
  const { json } = await admin('instances');
  assert.equal(json.filter((i) => i.cloud === 'gcp' && i.name === 'fid-2').length, 1);
});

await check('spot as provisioningModel, with a self-signed JWT (the library\'s default)', async () => {
  const [op] = await instances2.insert({
    ...P,
    instanceResource: body('fid-3', { scheduling: { onHostMaintenance: 'TERMINATE', provisioningModel: 'SPOT', instanceTerminationAction: 'DELETE' } }),
  });
  await done(op);
  const [inst] = await instances2.get({ ...P, instance: 'fid-3' });
  assert.equal(inst.scheduling.provisioningModel, 'SPOT');
});

await check('aggregatedList filters by label and pages with pageToken', async () => {
  const before = (await admin('health')).json.requests;
  const names = [];
  for await (const [scope, list] of instances.aggregatedListAsync({ project, filter: 'labels.fidelity = "gce"', maxResults: 1 })) {
    for (const i of list.instances ?? []) {
      assert.equal(scope, `zones/${zone}`);
      names.push(i.name);
    }
  }
  const pages = (await admin('health')).json.requests - before;
  assert.deepEqual(names.sort(), ['fid-1', 'fid-2', 'fid-3']);
  assert.ok(pages >= 3, `three instances at one a page take three pages, not ${pages}`);
  const none = [];
  for await (const [, list] of instances.aggregatedListAsync({ project, filter: 'labels.fidelity = "other"' }))
    none.push(...(list.instances ?? []));
  assert.equal(none.length, 0);
});

await check('list in a zone with a filter and a page size', async () => {
  const [page, next] = await instances.list({ ...P, maxResults: 2, filter: 'name eq fid-.*' }, { autoPaginate: false });
  assert.equal(page.length, 2);
  assert.ok(next && next.pageToken, 'a next page token');
  const [rest] = await instances.list({ ...P, maxResults: 2, filter: 'name eq fid-.*', pageToken: next.pageToken }, { autoPaginate: false });
  assert.equal(rest.length, 1);
  const [spot] = await instances.list({ ...P, filter: 'scheduling.provisioningModel = SPOT' }, { autoPaginate: false });
  assert.deepEqual(spot.map((i) => i.name), ['fid-3']);
});

await check('getSerialPortOutput names the instance', async () => {
  const [out] = await instances.getSerialPortOutput({ ...P, instance: 'fid-1' });
  assert.match(out.contents, /fid-1/);
});

await check('no capacity arrives in the operation as ZONE_RESOURCE_POOL_EXHAUSTED', async () => {
  assert.equal((await admin('fault', { kind: 'capacity', count: 1 })).status, 200);
  const [op] = await instances.insert({ ...P, instanceResource: body('fid-4') });
  const o = await done(op);
  assert.equal(o.error.errors[0].code, 'ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS');
  assert.equal(o.httpErrorStatusCode, 503);
  await expectHttpError(instances.get({ ...P, instance: 'fid-4' }), 404, 'notFound');
});

await check('errors as GCE sends them: 409 alreadyExists, 400 invalid, 404 notFound', async () => {
  await expectHttpError(instances.insert({ ...P, instanceResource: body('fid-1') }), 409, 'alreadyExists');
  await expectHttpError(instances.insert({ ...P, instanceResource: body('Not_A_Name') }), 400, 'invalid');
  await expectHttpError(instances.get({ ...P, instance: 'never-made' }), 404, 'notFound');
});

await check('a key cloudsim does not know is refused with 401', async () => {
  const { privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const stranger = new JWT({ email: key.client_email, key: privateKey, scopes });
  stranger.useJWTAccessWithScope = true;
  const client = new compute.InstancesClient(clientOpts(stranger));
  await expectHttpError(client.get({ ...P, instance: 'fid-1' }), 401, 'authError');
  const viaToken = new JWT({ email: key.client_email, key: privateKey, scopes, transporter });
  await assert.rejects(viaToken.getAccessToken(), /invalid_grant|Invalid JWT Signature/);
});

await check('delete: the instance stops, then is gone', async () => {
  for (const name of ['fid-1', 'fid-2', 'fid-3']) {
    const [op] = await instances.delete({ ...P, instance: name });
    assert.equal(op.latestResponse.operationType, 'delete');
    await done(op);
  }
  await expectHttpError(instances.get({ ...P, instance: 'fid-1' }), 404, 'notFound');
  const left = [];
  for await (const [, list] of instances.aggregatedListAsync({ project, filter: 'labels.fidelity = "gce"' }))
    left.push(...(list.instances ?? []));
  assert.equal(left.length, 0);
});

sim.kill('SIGTERM');
const { code } = await exited;
rmSync(dir, { recursive: true, force: true });
if (code !== 0) {
  console.log(`not ok - cloudsim exited with ${code}`);
  failures++;
}
console.log(failures ? `${failures} check(s) failed` : 'all checks passed');
process.exit(failures ? 1 : 0);
