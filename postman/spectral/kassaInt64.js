// kassaInt64 is given every schema with "format: int64". protojson (and so
// the gateway) writes an int64 as a JSON string and accepts a string or a
// number on input, so the honest schema is oneOf [string, integer], each
// branch with format int64. A branch of such a oneOf passes; a lone
// "type: string" rejects the numbers clients may send, a lone
// "type: integer" rejects every answer the gateway gives.
function branchTypes(branches) {
  return new Set(Object.values(branches).filter(b => b && typeof b === 'object').map(b => b.type));
}

function parentOf(doc, path) {
  let node = doc;
  for (const key of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = node[key];
  }
  return node;
}

export default function kassaInt64(schema, _options, context) {
  if (!schema || typeof schema !== 'object') return [];
  // A property that happens to be named "format" is not a schema keyword.
  if (typeof schema.format !== 'string') return [];
  const path = context.path;
  const n = path.length;
  if (n >= 2 && (path[n - 2] === 'oneOf' || path[n - 2] === 'anyOf')) {
    // The path is one into the resolved document (through $refs).
    const branches = parentOf(context.documentInventory.resolved, path.slice(0, n - 1));
    const types = branches && typeof branches === 'object' ? branchTypes(branches) : new Set();
    if (types.has('string') && types.has('integer')) return [];
    return [{ message: `int64 ${path[n - 2]} needs both a string and an integer branch; it has ${[...types].join(', ') || 'neither'}` }];
  }
  return [{ message: `int64 documented as "type: ${schema.type ?? '(none)'}" alone: the gateway writes strings and reads strings or numbers, document oneOf [string, integer]` }];
}
