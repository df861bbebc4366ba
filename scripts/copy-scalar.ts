// Copies Scalar's self-contained browser bundle into the client's build, where the server serves
// it from in production (GET /api/docs/scalar.js): the package itself is a development dependency.
import { copyFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(path.join(import.meta.dirname, '../server/package.json'));
const source = path.join(path.dirname(require.resolve('@scalar/api-reference')), 'browser', 'standalone.js');
const target = path.join(import.meta.dirname, '../client/build/scalar-standalone.js');
mkdirSync(path.dirname(target), { recursive: true });
copyFileSync(source, target);
