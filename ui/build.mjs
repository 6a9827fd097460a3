// Bundles the UI into OUT_DIR (argument; default dist/): app.js (src/main.jsx and the npm
// packages it imports, minified), app.css and index.html. Run by `make build` after `npm ci`.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(process.argv[2] || join(here, 'dist'));
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(here, 'src/main.jsx')],
  outfile: join(out, 'app.js'),
  bundle: true,
  format: 'esm',
  minify: true,
  sourcemap: false,
  target: ['chrome110', 'firefox110', 'safari16'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  legalComments: 'eof',
  logLevel: 'warning',
});
copyFileSync(join(here, 'src/app.css'), join(out, 'app.css'));
copyFileSync(join(here, 'index.html'), join(out, 'index.html'));
console.log(`fstore UI built into ${out}`);
