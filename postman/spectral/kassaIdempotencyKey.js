// kassaIdempotencyKey checks that every POST under /v1/users (the requests
// that create a user, a deposit, a withdrawal or an order) documents the
// Idempotency-Key header. The gateway reads that header on every route whose
// request has a request_id; a client generated from a document without it
// cannot send the key that makes its retries safe.
function hasKeyHeader(params) {
  return Array.isArray(params) && params.some(p => p && p.in === 'header' && typeof p.name === 'string' && p.name.toLowerCase() === 'idempotency-key');
}

export default function kassaIdempotencyKey(paths) {
  const results = [];
  if (!paths || typeof paths !== 'object') return results;
  for (const [path, item] of Object.entries(paths)) {
    if (!path.startsWith('/v1/users') || !item || !item.post) continue;
    if (hasKeyHeader(item.parameters) || hasKeyHeader(item.post.parameters)) continue;
    results.push({
      message: `POST ${path} documents no Idempotency-Key header parameter`,
      path: ['paths', path, 'post', 'parameters'],
    });
  }
  return results;
}
