// `npm run build:tattoo-model [out-dir]`: converts the tattoo trunk from nsfwjs to ONNX, writes it
// to .run/models/ (git-ignored; or the directory given) and prints its sha256, which must be the
// one recorded in the trunk's spec (exit 1 otherwise: a different nsfwjs or a converter change).
// No network: everything comes from the installed package.
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { buildTrunk, MOBILENET_V2_BLOCK10 } from "./trunk.ts";

const repoRoot = resolve(import.meta.dirname, "..", "..", "..");
const outDir = resolve(process.argv[2] ?? join(repoRoot, ".run", "models"));
mkdirSync(outDir, { recursive: true });
const built = buildTrunk(MOBILENET_V2_BLOCK10);
const path = join(outDir, MOBILENET_V2_BLOCK10.file);
if (built.sha256 !== MOBILENET_V2_BLOCK10.sha256) {
  console.error(`${path}: sha256 ${built.sha256}, expected ${MOBILENET_V2_BLOCK10.sha256} (update the spec only for an intended change)`);
  process.exit(1);
}
writeFileSync(path, built.bytes);
console.log(`${built.sha256}  ${path} (${built.bytes.byteLength} bytes, ${built.graph.nodes.length} nodes, output ${built.outputName} [${built.outputShape}])`);
