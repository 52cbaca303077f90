// SDK fidelity for Azure: drives `gpuform cloudsim`'s ARM dialect with Microsoft's own
// clients, @azure/identity (ClientSecretCredential, through MSAL) and @azure/arm-compute
// (ComputeManagementClient): the token endpoint and OpenID metadata, VM create-or-update
// followed through its long-running operation, get with the instance view, list across
// pages, boot diagnostics, delete, and error replies the SDK must surface with the right
// code. MSAL refuses an authority that is not https, so the SDKs reach cloudsim through a
// TLS-terminating proxy started here (X-Forwarded-Proto tells cloudsim its links are https);
// the proxy's certificate is trusted through NODE_EXTRA_CA_CERTS (run_arm.sh makes it).
//   node arm_fidelity.mjs GPUFORM_BINARY CERT.pem KEY.pem
// Exit status: 0 every check passed, 1 a check failed (each failure is printed).
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import https from 'node:https';
import assert from 'node:assert/strict';
import { ClientSecretCredential } from '@azure/identity';
import { ComputeManagementClient } from '@azure/arm-compute';

const [binary, certFile, keyFile] = process.argv.slice(2);
if (!binary || !certFile || !keyFile) {
  console.error('usage: node arm_fidelity.mjs GPUFORM_BINARY CERT.pem KEY.pem');
  process.exit(2);
}

const tenant = 'gpuform-sdk-tenant';
const clientId = '00000000-0000-4000-8000-0000000005dc';
const secret = 'cloudsim~sdk.secret-42';
const sub = '00000000-0000-4000-8000-00000000005d';
const rg = 'sdk-rg';
const region = 'eastus';
const size = 'Standard_NC4as_T4_v3';

const dir = mkdtempSync(join(tmpdir(), 'arm-fidelity-'));
const config = join(dir, 'world.yaml');
writeFileSync(
  config,
  `seed: 3
time_scale: 0.001
lifecycle: { pending_seconds: [5, 30], shutting_down_seconds: [5, 15], terminated_visible_seconds: 60000 }
throttle: off
clouds:
  azure:
    regions: [eastus, westus2, westus3]
    capacity:
      westus2/${size}: 0
    quotas:
      westus3: { on_demand_vcpus: 2 }
`,
);
const sim = spawn(binary, ['cloudsim', '--listen', '127.0.0.1:0', '--config', config], {
  env: {
    ...process.env,
    AWS_ACCESS_KEY_ID: 'AKIDARMSDKTEST', // cloudsim wants some credentials for EC2 too
    AWS_SECRET_ACCESS_KEY: 'unused-by-this-test',
    AZURE_TENANT_ID: tenant,
    AZURE_CLIENT_ID: clientId,
    AZURE_CLIENT_SECRET: secret,
  },
  stdio: ['ignore', 'pipe', 'inherit'],
});
const exited = new Promise((resolve) => sim.on('exit', (code, signal) => resolve({ code, signal })));
const simUrl = await new Promise((resolve, reject) => {
  const rl = createInterface({ input: sim.stdout });
  rl.on('line', (line) => {
    const m = /listening on (http:\/\/[0-9.]+:[0-9]+)/.exec(line);
    if (m) resolve(new URL(m[1]));
  });
  sim.on('exit', () => reject(new Error('cloudsim exited before listening')));
});

// The TLS-terminating proxy: https://127.0.0.1:PORT -> cloudsim, the Host kept.
const proxy = https.createServer(
  { cert: readFileSync(certFile), key: readFileSync(keyFile) },
  (req, res) => {
    const up = http.request(
      {
        host: simUrl.hostname,
        port: simUrl.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, 'x-forwarded-proto': 'https' },
      },
      (r) => {
        res.writeHead(r.statusCode, r.headers);
        r.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  },
);
await new Promise((r) => proxy.listen(0, '127.0.0.1', r));
const endpoint = `https://127.0.0.1:${proxy.address().port}`;

const credential = new ClientSecretCredential(tenant, clientId, secret, {
  authorityHost: endpoint,
  disableInstanceDiscovery: true,
});
const compute = new ComputeManagementClient(credential, sub, { endpoint });
// cloudsim's fast world says Retry-After: 0, which the SDK's poller reads as "none" (its
// default is 2 s): poll quickly instead
const fast = { updateIntervalInMs: 20 };

async function admin(path, body) {
  const res = await fetch(simUrl.origin + '/_cloudsim/' + path, {
    method: body ? 'POST' : 'GET',
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, json: await res.json() };
}

/* A raw ARM call with the SDK credential's token (what the compute SDK does not cover). */
async function arm(method, path, body) {
  const { token } = await credential.getToken('https://management.azure.com/.default');
  const res = await fetch(endpoint + path, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, json: res.status === 204 ? null : await res.json(), headers: res.headers };
}

async function nic(name, location = region) {
  const r = await arm(
    'PUT',
    `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Network/networkInterfaces/${name}?api-version=2024-05-01`,
    {
      location,
      properties: {
        ipConfigurations: [
          {
            name: 'ipconfig1',
            properties: {
              privateIPAllocationMethod: 'Dynamic',
              subnet: {
                id: `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Network/virtualNetworks/v/subnets/default`,
              },
            },
          },
        ],
      },
    },
  );
  assert.ok(r.status === 200 || r.status === 201, `NIC PUT: ${r.status} ${JSON.stringify(r.json)}`);
  return r.json.id;
}

function vm(nicId, location = region, vmSize = size, extra = {}) {
  return {
    location,
    tags: { 'gpuform-stack': 'sdk' },
    hardwareProfile: { vmSize },
    storageProfile: {
      imageReference: { publisher: 'microsoft-dsvm', offer: 'ubuntu-hpc', sku: '2204', version: 'latest' },
      osDisk: { createOption: 'FromImage', deleteOption: 'Delete', managedDisk: { storageAccountType: 'Premium_LRS' } },
    },
    osProfile: {
      adminUsername: 'gpuform',
      customData: Buffer.from('#!/bin/sh\necho sdk\n').toString('base64'),
      linuxConfiguration: {
        disablePasswordAuthentication: true,
        ssh: { publicKeys: [{ path: '/home/gpuform/.ssh/authorized_keys', keyData: 'ssh-ed25519 AAAAC3Nza sdk' }] },
      },
    },
    networkProfile: { networkInterfaces: [{ id: nicId, primary: true, deleteOption: 'Delete' }] },
    diagnosticsProfile: { bootDiagnostics: { enabled: true } },
    ...extra,
  };
}

async function expectRestError(promise, code, status) {
  try {
    await promise;
  } catch (e) {
    // a RestError carries the code; a failed long-running operation names it in its
    // message ("The long-running operation has failed. AllocationFailed. ..."), as with Azure
    const got = e.code ?? e.details?.error?.code ?? /has failed\. ([A-Za-z]+)\./.exec(e.message)?.[1];
    assert.equal(got, code, `expected ${code}, got ${got}: ${e.message}`);
    if (status) assert.equal(e.statusCode, status, `status of ${code}`);
    return e;
  }
  assert.fail(`expected the SDK to throw ${code}`);
}

const failures = [];
async function check(name, fn) {
  try {
    await fn();
    console.log(`ok - ${name}`);
  } catch (e) {
    failures.push(name);
    console.log(`not ok - ${name}: ${e.stack ?? e}`);
  }
}

await check('ClientSecretCredential gets a token through MSAL from cloudsim', async () => {
  const t = await credential.getToken('https://management.azure.com/.default');
  assert.ok(t.token.split('.').length === 3, 'a JWT');
  assert.ok(t.expiresOnTimestamp > Date.now() + 3000 * 1000, 'an hour of life');
  const bad = new ClientSecretCredential(tenant, clientId, 'not-the-secret', {
    authorityHost: endpoint,
    disableInstanceDiscovery: true,
  });
  // identity hands MSAL's server errors on as AuthenticationRequiredError, as with Azure
  await assert.rejects(bad.getToken('https://management.azure.com/.default'), (e) => {
    assert.match(e.message, /invalid_client|AADSTS7000215/);
    assert.match(e.message, /AADSTS7000215/);
    return true;
  });
  const nobody = new ClientSecretCredential('no-such-tenant', clientId, secret, {
    authorityHost: endpoint,
    disableInstanceDiscovery: true,
  });
  // MSAL reads the tenant's OpenID metadata first; Entra ID answers an unknown tenant with
  // AADSTS90002 there, which MSAL reports as endpoints_resolution_error
  await assert.rejects(nobody.getToken('https://management.azure.com/.default'), (e) => {
    assert.equal(e.name, 'CredentialUnavailableError');
    assert.match(e.message, /endpoints_resolution_error/);
    return true;
  });
  const meta = await fetch(`${endpoint}/no-such-tenant/v2.0/.well-known/openid-configuration`);
  assert.equal(meta.status, 400);
  assert.deepEqual((await meta.json()).error_codes, [90002]);
});

let first;
await check('beginCreateOrUpdateAndWait follows the operation to a Succeeded VM', async () => {
  const nicId = await nic('sdk-vm-0-nic');
  first = await compute.virtualMachines.beginCreateOrUpdateAndWait(rg, 'sdk-vm-0', vm(nicId), fast);
  assert.equal(first.name, 'sdk-vm-0');
  assert.equal(first.location, region);
  assert.equal(first.provisioningState, 'Succeeded');
  assert.match(first.vmId, /^[0-9a-f-]{36}$/);
  assert.equal(first.hardwareProfile.vmSize, size);
  assert.equal(first.tags['gpuform-stack'], 'sdk');
  assert.equal(first.osProfile.customData, undefined, 'customData is never returned');
  const again = await compute.virtualMachines.beginCreateOrUpdateAndWait(rg, 'sdk-vm-0', vm(nicId), fast);
  assert.equal(again.vmId, first.vmId, 'the same body is the same VM');
  const live = (await admin('instances')).json.filter((i) => i.cloud === 'azure');
  assert.equal(live.length, 1);
});

await check('get and instanceView show the power state', async () => {
  const got = await compute.virtualMachines.get(rg, 'sdk-vm-0', { expand: 'instanceView' });
  assert.equal(got.vmId, first.vmId);
  const codes = got.instanceView.statuses.map((s) => s.code);
  assert.ok(codes.includes('PowerState/running'), codes.join(', '));
  assert.ok(codes.includes('ProvisioningState/succeeded'), codes.join(', '));
  const view = await compute.virtualMachines.instanceView(rg, 'sdk-vm-0');
  assert.ok(view.statuses.some((s) => s.code === 'PowerState/running'));
});

await check('list pages through nextLink', async () => {
  for (let i = 1; i <= 6; i++) {
    const nicId = await nic(`sdk-vm-${i}-nic`);
    await compute.virtualMachines.beginCreateOrUpdateAndWait(rg, `sdk-vm-${i}`, vm(nicId), fast);
  }
  const names = [];
  let pages = 0;
  for await (const page of compute.virtualMachines.list(rg).byPage()) {
    pages++;
    for (const v of page) names.push(v.name);
  }
  assert.equal(names.length, 7);
  assert.ok(pages >= 2, `${pages} page(s)`);
  assert.deepEqual([...names].sort(), [0, 1, 2, 3, 4, 5, 6].map((i) => `sdk-vm-${i}`).sort());
});

await check('retrieveBootDiagnosticsData links to the serial log', async () => {
  const d = await compute.virtualMachines.retrieveBootDiagnosticsData(rg, 'sdk-vm-0', {
    sasUriExpirationTimeInMinutes: 30,
  });
  assert.match(d.serialConsoleLogBlobUri, /^https:\/\/127\.0\.0\.1:[0-9]+\/_blob\//);
  const log = await fetch(d.serialConsoleLogBlobUri);
  assert.equal(log.status, 200);
  assert.match(await log.text(), /Linux version/);
  const forged = await fetch(d.serialConsoleLogBlobUri.replace(/sig=[0-9a-f]{4}/, 'sig=0000'));
  assert.equal(forged.status, 403);
});

await check('errors reach the SDK with ARM codes', async () => {
  await expectRestError(compute.virtualMachines.get(rg, 'no-such-vm'), 'ResourceNotFound', 404);
  const w3 = await nic('sdk-sku-nic', 'westus3');
  await expectRestError(
    compute.virtualMachines.beginCreateOrUpdateAndWait(rg, 'sdk-sku', vm(w3, 'westus3', 'Standard_ND96asr_v4'), fast),
    'SkuNotAvailable',
    409,
  );
  await expectRestError(
    compute.virtualMachines.beginCreateOrUpdateAndWait(rg, 'sdk-quota', vm(w3, 'westus3'), fast),
    'OperationNotAllowed',
    409,
  );
  const w2 = await nic('sdk-alloc-nic', 'westus2');
  await expectRestError(
    compute.virtualMachines.beginCreateOrUpdateAndWait(rg, 'sdk-alloc', vm(w2, 'westus2'), fast),
    'AllocationFailed',
  );
  const bad = vm(await nic('sdk-bad-nic'));
  bad.osProfile.linuxConfiguration.ssh.publicKeys = [];
  await expectRestError(compute.virtualMachines.beginCreateOrUpdateAndWait(rg, 'sdk-bad', bad, fast), 'InvalidParameter', 400);
  const raw = await fetch(`${endpoint}/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Compute/virtualMachines?api-version=2024-07-01`, {
    headers: { authorization: 'Bearer forged.token.here' },
  });
  assert.equal(raw.status, 401);
  assert.equal((await raw.json()).error.code, 'InvalidAuthenticationToken');
});

await check('a throttled call is retried by the SDK after Retry-After', async () => {
  const armed = await admin('fault', { kind: 'throttle', count: 1 });
  assert.equal(armed.status, 200);
  const got = await compute.virtualMachines.get(rg, 'sdk-vm-0');
  assert.equal(got.vmId, first.vmId);
  assert.equal((await admin('fault', { kind: 'throttle', rate: 0 })).json.count, 0);
});

await check('beginDeleteAndWait deletes the VM and its NIC', async () => {
  await compute.virtualMachines.beginDeleteAndWait(rg, 'sdk-vm-0', fast);
  await expectRestError(compute.virtualMachines.get(rg, 'sdk-vm-0'), 'ResourceNotFound', 404);
  const n = await arm('GET', `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Network/networkInterfaces/sdk-vm-0-nic?api-version=2024-05-01`);
  assert.equal(n.status, 404, 'the NIC went with its VM (deleteOption Delete)');
  const names = [];
  for await (const v of compute.virtualMachines.list(rg)) names.push(v.name);
  assert.equal(names.length, 6);
});

proxy.close();
sim.kill('SIGTERM');
const { code } = await exited;
rmSync(dir, { recursive: true, force: true });
if (code !== 0) failures.push(`cloudsim exited with ${code}`);
if (failures.length) {
  console.log(`${failures.length} check(s) failed: ${failures.join('; ')}`);
  process.exit(1);
}
console.log('all ARM fidelity checks passed');
