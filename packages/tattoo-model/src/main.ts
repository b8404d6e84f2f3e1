// `npm run build:tattoo-model [out-dir]`: converts the tattoo trunks from nsfwjs to ONNX, writes
// them to .run/models/ (git-ignored; or the directory given) and prints each one's sha256, which
// must be the one recorded in the trunk's spec (exit 1 otherwise, before writing: a different
// nsfwjs or a converter change). No network: everything comes from the installed package.
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { buildTrunk, TRUNKS } from "./trunk.ts";

const repoRoot = resolve(import.meta.dirname, "..", "..", "..");
const outDir = resolve(process.argv[2] ?? join(repoRoot, ".run", "models"));
mkdirSync(outDir, { recursive: true });
for (const spec of TRUNKS) {
  const built = buildTrunk(spec);
  const path = join(outDir, spec.file);
  if (built.sha256 !== spec.sha256) {
    console.error(`${path}: sha256 ${built.sha256}, expected ${spec.sha256} (update the spec only for an intended change)`);
    process.exit(1);
  }
  writeFileSync(path, built.bytes);
  console.log(`${built.sha256}  ${path} (${built.bytes.byteLength} bytes, ${built.graph.nodes.length} nodes, output ${built.outputName} [${built.outputShape}])`);
}
