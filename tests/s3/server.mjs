// A loopback S3 server for the S3 state backend test: s3rver 3.7.1 (object storage, ETags,
// ListObjectsV2, S3's XML errors) plus what s3rver lacks and the backend relies on, as S3
// documents it:
//  - conditional writes: PUT with If-None-Match: * fails 412 PreconditionFailed when the
//    object exists; PUT with If-Match: ETAG fails 412 when the object's ETag differs and
//    404 NoSuchKey when there is no object
//    (https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html);
//  - atomic requests per key: s3rver stores an object's bytes and metadata as two files,
//    so requests on one key are queued here and a reader never sees half a write (S3 is
//    strongly consistent per object).
// s3rver does not verify SigV4 signatures (it only looks the access key up); gpuform's
// signer is tested against AWS's own suite (tests/unit/test_aws_sigv4.c).
//   node server.mjs DIR BUCKET   prints "listening on http://127.0.0.1:PORT"
import S3rver from 's3rver';

const [dir, bucket] = process.argv.slice(2);
const queues = new Map(); // "bucket/key" -> the promise the next request waits for

function s3error(ctx, status, code, message) {
  ctx.status = status;
  ctx.type = 'application/xml';
  ctx.body =
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Error><Code>${code}</Code><Message>${message}</Message></Error>`;
}

async function perKey(ctx, next) {
  const m = /^\/([^/]+)\/(.+)$/.exec(ctx.path);
  if (!m) return next();
  const id = `${m[1]}/${decodeURIComponent(m[2])}`;
  const prev = queues.get(id) || Promise.resolve();
  let release;
  const mine = new Promise((r) => (release = r));
  const tail = prev.then(() => mine);
  queues.set(id, tail);
  await prev;
  try {
    const ifMatch = ctx.get('if-match');
    const ifNone = ctx.get('if-none-match');
    if (ctx.method === 'PUT' && (ifMatch || ifNone)) {
      let meta = null;
      try {
        meta = await ctx.app.store.getMetadata(m[1], decodeURIComponent(m[2]));
      } catch (err) {
        if (err.code !== 'ENOENT') throw err;
      }
      if (ifNone === '*' && meta)
        return s3error(ctx, 412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold');
      if (ifMatch && !meta)
        return s3error(ctx, 404, 'NoSuchKey', 'The specified key does not exist.');
      if (ifMatch && ifMatch !== meta.etag)
        return s3error(ctx, 412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold');
    }
    await next();
  } finally {
    release();
    if (queues.get(id) === tail) queues.delete(id);
  }
}

const server = new S3rver({
  address: '127.0.0.1',
  port: 0,
  directory: dir,
  silent: true,
  configureBuckets: [{ name: bucket }],
});
// before s3rver's router (the last middleware), after its logging and XML rendering
server.middleware.splice(server.middleware.length - 1, 0, perKey);
const { port } = await server.run();
console.log(`listening on http://127.0.0.1:${port}`);
