// kassaSecurity checks every operation of the document: it has a security
// requirement of its own or inherits the document's, or it says
// `security: []` to be public on purpose; and when the requirement it ends
// up with names a scheme, it documents the 401 the gateway answers without a
// valid token. A public route that is public by accident is the failure this
// catches: nothing else in the document would show it.
const methods = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

function secured(requirements) {
  return requirements.some(r => r && Object.keys(r).length > 0);
}

export default function kassaSecurity(doc) {
  const results = [];
  if (!doc || typeof doc.paths !== 'object' || doc.paths === null) return results;
  const root = Array.isArray(doc.security) ? doc.security : undefined;
  for (const [path, item] of Object.entries(doc.paths)) {
    if (!item || typeof item !== 'object') continue;
    for (const method of methods) {
      const op = item[method];
      if (!op || typeof op !== 'object') continue;
      const own = Array.isArray(op.security) ? op.security : undefined;
      const effective = own ?? root;
      if (effective === undefined) {
        results.push({
          message: `${method.toUpperCase()} ${path} has no security requirement: name the scheme, or say "security: []" if it is public`,
          path: ['paths', path, method],
        });
        continue;
      }
      if (secured(effective) && !(op.responses && op.responses['401'])) {
        results.push({
          message: `${method.toUpperCase()} ${path} needs a token but documents no 401 response`,
          path: ['paths', path, method, 'responses'],
        });
      }
    }
  }
  return results;
}
