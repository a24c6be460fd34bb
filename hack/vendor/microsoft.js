// Runs Microsoft's SCIM reference test collection (Postman v2.1, read from where it is kept)
// with newman against one directory of a running server, and judges the result.
//
//   node microsoft.js COLLECTION SCIM_URL TOKEN EXPECTED_FAILURES MIN_PASSED
//
// The collection's first folder, "Get Token", asks the reference server's demo token issuer for
// a token; this server has none, so that folder is left out (in memory; the file is not changed)
// and the directory's token is given to newman as the environment variable `token`.
// Fails when fewer than MIN_PASSED checks pass or a check fails that EXPECTED_FAILURES (one
// "request name / check name" per line, as the README's client table explains) does not list.
'use strict';
const fs = require('fs');
const newman = require('newman');

const [collectionFile, scimUrl, token, expectedFile, minPassed] = process.argv.slice(2);
const collection = JSON.parse(fs.readFileSync(collectionFile, 'utf8'));
collection.item = collection.item.filter((item) => item.name !== 'Get Token');

const url = new URL(scimUrl);
const environment = {
  name: 'scim-operator',
  values: [
    ['Protocol', url.protocol.replace(':', '')],
    ['Server', url.hostname],
    ['Port', url.port ? `:${url.port}` : ''],
    ['Api', url.pathname.replace(/^\/+|\/+$/g, '')],
    ['token', token],
  ].map(([key, value]) => ({ key, value, enabled: true })),
};
const expected = new Set(
  fs.readFileSync(expectedFile, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#')),
);

newman.run({ collection, environment, reporters: ['cli'] }, (err, summary) => {
  if (err) {
    console.error(`newman failed to run: ${err}`);
    process.exit(1);
  }
  const stats = summary.run.stats.assertions;
  const failed = summary.run.failures
    .filter((f) => f.error && f.error.name === 'AssertionError')
    .map((f) => `${f.source.name} / ${f.error.test}`);
  const errors = summary.run.failures.filter((f) => !f.error || f.error.name !== 'AssertionError');
  const unexpected = failed.filter((f) => !expected.has(f));
  const passed = stats.total - stats.failed;
  console.log(`Microsoft SCIM reference tests: ${passed}/${stats.total} checks passed`);
  failed.forEach((f) => console.log(`  failed${expected.has(f) ? ' (expected, see README)' : ''}: ${f}`));
  errors.forEach((f) => console.log(`  error: ${f.source && f.source.name}: ${f.error && f.error.message}`));
  let ok = true;
  if (passed < Number(minPassed)) {
    console.log(`FAIL: fewer than ${minPassed} checks passed`);
    ok = false;
  }
  if (unexpected.length > 0) {
    console.log(`FAIL: ${unexpected.length} failure(s) not named in ${expectedFile}`);
    ok = false;
  }
  if (errors.length > 0) {
    console.log('FAIL: requests or scripts errored');
    ok = false;
  }
  process.exit(ok ? 0 : 1);
});
