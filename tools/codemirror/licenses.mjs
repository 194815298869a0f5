// Writes the licence of every npm package that esbuild put into the
// bundle (read from its metafile), sorted by name, for
// static/vendor/codemirror.LICENSE.txt.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const meta = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const pkgs = new Set();
for (const input of Object.keys(meta.inputs)) {
  const m = input.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//);
  if (m) pkgs.add(m[1]);
}
let out = 'CodeMirror 6 as bundled into codemirror.js by tools/codemirror/build.sh.\n' +
  'The licences of the packages it contains follow.\n';
for (const name of [...pkgs].sort()) {
  const dir = join('node_modules', name);
  const pj = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const file = readdirSync(dir).find((f) => /^licen[cs]e/i.test(f));
  if (!file) throw new Error(`${name}: no licence file`);
  out += `\n${'='.repeat(72)}\n${name} ${pj.version} (${pj.license})\n${'='.repeat(72)}\n\n`;
  out += readFileSync(join(dir, file), 'utf8').trim() + '\n';
}
process.stdout.write(out);
