// SDK fidelity: drives `gpuform cloudsim` with the official AWS SDK for JavaScript v3
// (@aws-sdk/client-ec2), so that cloudsim's EC2 dialect is checked by AWS's own client:
// signing, the XML it parses, paginators, error names. Usage:
//   node ec2_fidelity.mjs GPUFORM_BINARY CONFIG.yaml
// Exit status: 0 every check passed, 1 a check failed (each failure is printed).
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import assert from 'node:assert/strict';
import {
  EC2Client,
  RunInstancesCommand,
  DescribeInstancesCommand,
  TerminateInstancesCommand,
  GetConsoleOutputCommand,
  DescribeSpotPriceHistoryCommand,
  DescribeAvailabilityZonesCommand,
  paginateDescribeInstances,
} from '@aws-sdk/client-ec2';

const [binary, config] = process.argv.slice(2);
if (!binary || !config) {
  console.error('usage: node ec2_fidelity.mjs GPUFORM_BINARY CONFIG.yaml');
  process.exit(2);
}

const credentials = { accessKeyId: 'AKIDCLOUDSIMSDKTEST', secretAccessKey: 'cloudsim/sdk+secret' };
const env = {
  ...process.env,
  AWS_ACCESS_KEY_ID: credentials.accessKeyId,
  AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
};
const sim = spawn(binary, ['cloudsim', '--listen', '127.0.0.1:0', '--config', config], {
  env,
  stdio: ['ignore', 'pipe', 'inherit'],
});
const exited = new Promise((resolve) => sim.on('exit', (code, signal) => resolve({ code, signal })));

const endpoint = await new Promise((resolve, reject) => {
  const rl = createInterface({ input: sim.stdout });
  rl.on('line', (line) => {
    const m = /listening on (http:\/\/[0-9.]+:[0-9]+)/.exec(line);
    if (m) resolve(m[1]);
  });
  sim.on('exit', () => reject(new Error('cloudsim exited before listening')));
});

const client = (extra = {}) =>
  new EC2Client({ region: 'us-east-1', endpoint, credentials, maxAttempts: 1, ...extra });
const ec2 = client();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function admin(path, body) {
  const res = await fetch(endpoint + '/_cloudsim/' + path, {
    method: body ? 'POST' : 'GET',
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, json: await res.json() };
}

async function expectError(promise, name, status) {
  try {
    await promise;
  } catch (e) {
    assert.equal(e.name, name, `expected ${name}, got ${e.name}: ${e.message}`);
    if (status) assert.equal(e.$metadata.httpStatusCode, status);
    assert.ok(e.$metadata.requestId, 'the error carries a request id');
    return e;
  }
  assert.fail(`expected the SDK to throw ${name}`);
}

async function describeAll(filters) {
  const ids = [];
  let pages = 0;
  for await (const page of paginateDescribeInstances({ client: ec2, pageSize: 5 }, { Filters: filters })) {
    pages++;
    for (const r of page.Reservations ?? []) for (const i of r.Instances ?? []) ids.push(i);
  }
  return { instances: ids, pages };
}

async function waitFor(filters, predicate, what) {
  for (let i = 0; i < 200; i++) {
    const { instances } = await describeAll(filters);
    if (predicate(instances)) return instances;
    await sleep(25);
  }
  assert.fail(`timed out waiting for ${what}`);
}

const checks = [];
const check = (name, fn) => checks.push({ name, fn });
const stackTag = { Name: 'tag:gpuform:stack', Values: ['sdk-fidelity'] };
let launched = [];

check('DescribeAvailabilityZones lists the region zones', async () => {
  const out = await ec2.send(new DescribeAvailabilityZonesCommand({}));
  const names = out.AvailabilityZones.map((z) => z.ZoneName);
  assert.ok(names.includes('us-east-1a'), names.join(','));
  assert.ok(out.AvailabilityZones.every((z) => z.State === 'available' && z.RegionName === 'us-east-1'));
});

check('RunInstances launches tagged instances with EC2-shaped ids', async () => {
  const out = await ec2.send(new RunInstancesCommand({
    ImageId: 'ami-0123456789abcdef0',
    InstanceType: 'g5.xlarge',
    MinCount: 12,
    MaxCount: 12,
    ClientToken: 'sdk-fidelity-1',
    TagSpecifications: [{
      ResourceType: 'instance',
      Tags: [{ Key: 'gpuform:stack', Value: 'sdk-fidelity' }, { Key: 'gpuform:address', Value: 'a<b>&"c"' }],
    }],
    UserData: Buffer.from('#!/bin/sh\necho hello\n').toString('base64'),
  }));
  assert.equal(out.Instances.length, 12);
  assert.match(out.ReservationId, /^r-0[0-9a-f]{16}$/);
  for (const i of out.Instances) {
    assert.match(i.InstanceId, /^i-0[0-9a-f]{16}$/);
    assert.equal(i.State.Name, 'pending');
    assert.equal(i.State.Code, 0);
    assert.equal(i.InstanceType, 'g5.xlarge');
    assert.ok(i.LaunchTime instanceof Date && !isNaN(i.LaunchTime));
    assert.ok(i.Placement.AvailabilityZone.startsWith('us-east-1'));
    assert.deepEqual(i.Tags.find((t) => t.Key === 'gpuform:address').Value, 'a<b>&"c"');
  }
  launched = out.Instances.map((i) => i.InstanceId);
});

check('RunInstances with the same ClientToken returns the same instances', async () => {
  const out = await ec2.send(new RunInstancesCommand({
    ImageId: 'ami-0123456789abcdef0', InstanceType: 'g5.xlarge', MinCount: 12, MaxCount: 12,
    ClientToken: 'sdk-fidelity-1',
    TagSpecifications: [{
      ResourceType: 'instance',
      Tags: [{ Key: 'gpuform:stack', Value: 'sdk-fidelity' }, { Key: 'gpuform:address', Value: 'a<b>&"c"' }],
    }],
    UserData: Buffer.from('#!/bin/sh\necho hello\n').toString('base64'),
  }));
  assert.deepEqual(out.Instances.map((i) => i.InstanceId), launched);
});

check('the same ClientToken with other parameters is IdempotentParameterMismatch', async () => {
  await expectError(ec2.send(new RunInstancesCommand({
    ImageId: 'ami-0123456789abcdef0', InstanceType: 'g5.2xlarge', MinCount: 1, MaxCount: 1,
    ClientToken: 'sdk-fidelity-1',
  })), 'IdempotentParameterMismatch', 400);
});

check('DescribeInstances pages through a tag filter with the SDK paginator', async () => {
  await ec2.send(new RunInstancesCommand({
    ImageId: 'ami-0123456789abcdef0', InstanceType: 'g5.xlarge', MinCount: 3, MaxCount: 3,
    TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'gpuform:stack', Value: 'other' }] }],
  }));
  const { instances, pages } = await describeAll([stackTag]);
  assert.equal(pages, 3, 'twelve instances at five per page');
  const ids = instances.map((i) => i.InstanceId);
  assert.equal(new Set(ids).size, 12, 'no instance twice');
  assert.deepEqual([...ids].sort(), [...launched].sort());
  const other = await describeAll([{ Name: 'tag:gpuform:stack', Values: ['oth*'] }]);
  assert.equal(other.instances.length, 3, 'wildcards in filter values');
  const keyed = await describeAll([{ Name: 'tag-key', Values: ['gpuform:address'] }]);
  assert.equal(keyed.instances.length, 12);
});

check('instances go pending -> running', async () => {
  await waitFor([stackTag, { Name: 'instance-state-name', Values: ['running'] }],
    (l) => l.length === 12, 'twelve running instances');
});

check('GetConsoleOutput returns base64 text', async () => {
  const out = await ec2.send(new GetConsoleOutputCommand({ InstanceId: launched[0] }));
  assert.equal(out.InstanceId, launched[0]);
  assert.match(Buffer.from(out.Output, 'base64').toString(), new RegExp(launched[0]));
});

check('DescribeSpotPriceHistory reports the catalog prices', async () => {
  const out = await ec2.send(new DescribeSpotPriceHistoryCommand({ InstanceTypes: ['p5.48xlarge'] }));
  assert.ok(out.SpotPriceHistory.length > 0);
  for (const p of out.SpotPriceHistory) {
    assert.equal(p.InstanceType, 'p5.48xlarge');
    assert.ok(Number(p.SpotPrice) > 0);
  }
});

check('a spot instance reclaimed by the admin view carries the spot reason', async () => {
  const out = await ec2.send(new RunInstancesCommand({
    ImageId: 'ami-0123456789abcdef0', InstanceType: 'p5.48xlarge', MinCount: 1, MaxCount: 1,
    InstanceMarketOptions: { MarketType: 'spot' },
  }));
  const id = out.Instances[0].InstanceId;
  assert.equal(out.Instances[0].InstanceLifecycle, 'spot');
  const r = await admin('reclaim', { instance_id: id });
  assert.equal(r.status, 200);
  const d = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
  const inst = d.Reservations[0].Instances[0];
  assert.ok(['shutting-down', 'terminated'].includes(inst.State.Name), inst.State.Name);
  assert.equal(inst.StateReason.Code, 'Server.SpotInstanceTermination');
});

check('TerminateInstances moves instances to shutting-down, then terminated', async () => {
  const out = await ec2.send(new TerminateInstancesCommand({ InstanceIds: launched }));
  assert.equal(out.TerminatingInstances.length, 12);
  for (const t of out.TerminatingInstances) {
    assert.equal(t.PreviousState.Name, 'running');
    assert.equal(t.CurrentState.Name, 'shutting-down');
    assert.equal(t.CurrentState.Code, 32);
  }
  await waitFor([stackTag, { Name: 'instance-state-name', Values: ['terminated'] }],
    (l) => l.length === 12, 'twelve terminated instances');
});

check('an unknown instance id is InvalidInstanceID.NotFound', async () => {
  await expectError(ec2.send(new DescribeInstancesCommand({ InstanceIds: ['i-0123456789abcdef0'] })),
    'InvalidInstanceID.NotFound', 400);
  await expectError(ec2.send(new TerminateInstancesCommand({ InstanceIds: ['i-nothex'] })),
    'InvalidInstanceID.Malformed', 400);
});

check('an injected capacity fault is InsufficientInstanceCapacity', async () => {
  const r = await admin('fault', { kind: 'capacity', count: 1 });
  assert.equal(r.status, 200);
  await expectError(ec2.send(new RunInstancesCommand({
    ImageId: 'ami-0123456789abcdef0', InstanceType: 'g5.xlarge', MinCount: 1, MaxCount: 1,
  })), 'InsufficientInstanceCapacity');
});

check('an unknown instance type is InvalidParameterValue', async () => {
  await expectError(ec2.send(new RunInstancesCommand({
    ImageId: 'ami-0123456789abcdef0', InstanceType: 'x9.nonexistent', MinCount: 1, MaxCount: 1,
  })), 'InvalidParameterValue', 400);
});

check('a wrong secret is refused', async () => {
  const bad = client({ credentials: { ...credentials, secretAccessKey: 'not-the-secret' } });
  await expectError(bad.send(new DescribeInstancesCommand({})), 'SignatureDoesNotMatch', 403);
  const unknown = client({ credentials: { accessKeyId: 'AKIDUNKNOWN', secretAccessKey: 'x' } });
  await expectError(unknown.send(new DescribeInstancesCommand({})), 'AuthFailure', 401);
});

check('an injected throttle is retried by the SDK and then succeeds', async () => {
  const r = await admin('fault', { kind: 'throttle', count: 1 });
  assert.equal(r.status, 200);
  const patient = client({ maxAttempts: 3 });
  const out = await patient.send(new DescribeInstancesCommand({ Filters: [stackTag] }));
  assert.ok(out.$metadata.attempts >= 2, `attempts: ${out.$metadata.attempts}`);
});

let failed = 0;
for (const { name, fn } of checks) {
  try {
    await fn();
    console.log(`ok - ${name}`);
  } catch (e) {
    failed++;
    console.log(`not ok - ${name}\n  ${String(e.stack || e).split('\n').slice(0, 4).join('\n  ')}`);
  }
}
sim.kill('SIGTERM');
const { code, signal } = await exited;
if (code !== 0) {
  failed++;
  console.log(`not ok - cloudsim exits cleanly on SIGTERM (code ${code}, signal ${signal})`);
} else {
  console.log('ok - cloudsim exits cleanly on SIGTERM');
}
console.log(`${checks.length + 1 - failed}/${checks.length + 1} passed`);
process.exit(failed ? 1 : 0);
