// Starts Prism as a validating proxy in front of the gateway and reads what
// it reports. Shared by the Postman run through Prism (e2e-prism.mjs) and the
// contract test (contract.mjs).
//
// Prism 5 in proxy mode with --errors validates every request and response
// against the document: a request that breaks it is answered by Prism itself
// (401 for a missing credential, 415 or 422 otherwise, as problem+json)
// without reaching the gateway; a response that breaks it is replaced by a
// 500 problem+json. Without --errors it would forward and only log, so a
// client would never notice; the checks here use --errors and also read
// the log, because Prism logs violations it does not turn into errors
// (warnings, and the details of response violations).
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const prismBin = join(here, 'node_modules', '.bin', 'prism');

// The problem types Prism answers with itself; any answer of one of these
// types did not come from the gateway.
export const PRISM_ERROR_TYPE = 'https://stoplight.io/prism/errors#';

const ansi = /\x1b\[[0-9;]*m/g;

// startPrism runs `prism proxy <document> <upstream> --errors` on a port
// the system picks and resolves once Prism says where it listens. Every
// line Prism prints goes to logFile and is kept for report().
export function startPrism({ document, upstream, logFile, startTimeoutMs = 30000 }) {
  const args = ['proxy', document, upstream, '--errors', '--host', '127.0.0.1', '--port', '0'];
  const child = spawn(prismBin, args, {
    cwd: here,
    env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = createWriteStream(logFile);
  const lines = [];
  let pending = '';
  let exited = null;

  const take = chunk => {
    log.write(chunk);
    pending += chunk.toString('utf8');
    const parts = pending.split('\n');
    pending = parts.pop();
    for (const part of parts) lines.push(part.replace(ansi, ''));
  };
  child.stdout.on('data', take);
  child.stderr.on('data', take);

  const ready = new Promise((resolve, reject) => {
    const deadline = setTimeout(() => {
      child.kill('SIGTERM');
      reject(new Error(`Prism did not start listening within ${startTimeoutMs} ms; its output is in ${logFile}`));
    }, startTimeoutMs);
    const poll = setInterval(() => {
      const line = lines.find(l => l.includes('Prism is listening on'));
      if (line) {
        clearInterval(poll);
        clearTimeout(deadline);
        resolve(line.match(/listening on (http:\/\/\S+)/)[1]);
      }
    }, 50);
    child.on('exit', code => {
      exited = code;
      clearInterval(poll);
      clearTimeout(deadline);
      reject(new Error(`Prism exited with status ${code} before it listened:\n${lines.slice(-20).join('\n')}`));
    });
  });

  return ready.then(url => ({
    url,
    lines,
    // stop ends Prism and waits for it, so the log is complete.
    stop: () => new Promise(resolve => {
      if (exited !== null) return resolve();
      child.once('exit', () => {
        if (pending) lines.push(pending.replace(ansi, ''));
        log.end(resolve);
      });
      child.kill('SIGTERM');
    }),
  }));
}

// violations returns the lines of Prism's log that report a request or
// response that breaks the document: "Violation: ..." (logged for every
// violation of a forwarded exchange, as error, warning or info) and
// "Request terminated with error: ..." (a request Prism refused itself,
// or a response it replaced with its own 500).
export function violations(lines) {
  return lines.filter(l => / Violation: /.test(l) || /Request terminated with error/.test(l));
}

// The routes Prism lists on start, one per operation it found.
export function operationCount(lines) {
  return lines.filter(l => /\[CLI\] .*(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS|TRACE)\s+http:\/\//.test(l)).length;
}
