// Prepares each image's /app on the host (the Dockerfiles only COPY: RUN cannot run on these
// machines, see deploy/images/README.md). For every image in images.ts it writes
// <out>/<image>/app: the sources of the workspace packages it needs, the repository's tsconfig,
// and node_modules holding only the run-time closure of those packages (closure.ts), laid out
// as in the repository, minus files for other platforms and build-time sources.
//   node --import tsx deploy/images/stage.ts --out .run/images/ctx [--image gateway ...]
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { basename, dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { IMAGES, type ImageSpec } from "./images.ts";
import { runtimeClosure, type ClosureEntry } from "./closure.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/**
 * Paths left out of a package, relative to it, each for a reason: what the image never loads on
 * linux-x64. A service that needed one would fail its start in deploy/images/test/images.test.ts.
 */
const PRUNE: Readonly<Record<string, readonly string[]>> = {
  // Native engines for other platforms (~220 MB); linux/x64 stays.
  "onnxruntime-node": ["bin/napi-v6/darwin", "bin/napi-v6/win32", "bin/napi-v6/linux/arm64"],
  // Prebuilt addons for other platforms, and the C/C++ sources they were built from
  // (node-gyp-build loads prebuilds/linux-x64/usearch.node).
  usearch: ["prebuilds/darwin-arm64+x64", "prebuilds/linux-arm64", "numkong", "c", "cpp", "include", "cmake", "binding.gyp"],
};

/**
 * Packages of which only these files ship. faceplugin-face-recognition-js is where the extractor's
 * built-in face pipeline finds its models (services/extractor/src/pipeline-config.ts resolves the
 * package and reads model/fr_{detect,landmark,feature}.onnx); its other six models and its browser
 * JavaScript are not used.
 */
const KEEP_ONLY: Readonly<Record<string, readonly string[]>> = {
  "faceplugin-face-recognition-js": ["package.json", "LICENSE", "model/fr_detect.onnx", "model/fr_landmark.onnx", "model/fr_feature.onnx"],
};

/** What of a workspace package is run-time: its package.json, sources and generated code, not its tests. */
const WORKSPACE_FILES = ["package.json", "src", "index.ts", "gen"];

/** Type declarations and source maps: never read by node. */
const DROPPED_SUFFIXES = [".d.ts", ".d.mts", ".d.cts", ".map"];

function copyPackage(from: string, to: string, name: string): void {
  const keepOnly = KEEP_ONLY[name];
  if (keepOnly) {
    for (const file of keepOnly) {
      if (!existsSync(join(from, file))) throw new Error(`${name}: ${file} is missing (the image needs it)`);
      mkdirSync(dirname(join(to, file)), { recursive: true });
      cpSync(join(from, file), join(to, file));
    }
    return;
  }
  const pruned = new Set((PRUNE[name] ?? []).map((p) => join(from, p)));
  cpSync(from, to, {
    recursive: true,
    verbatimSymlinks: true,
    filter: (src) => {
      if (pruned.has(src)) return false;
      // Nested node_modules are entries of their own in the closure (or not needed at all).
      if (src !== from && basename(src) === "node_modules") return false;
      return !DROPPED_SUFFIXES.some((s) => src.endsWith(s));
    },
  });
}

function copyWorkspace(from: string, to: string): void {
  mkdirSync(to, { recursive: true });
  for (const item of WORKSPACE_FILES) {
    if (existsSync(join(from, item))) cpSync(join(from, item), join(to, item), { recursive: true });
  }
}

function sizeOf(path: string): number {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) return 0;
  if (!st.isDirectory()) return st.size;
  return readdirSync(path).reduce((sum, name) => sum + sizeOf(join(path, name)), 0);
}

export function stageImage(spec: ImageSpec, outDir: string): { entries: ClosureEntry[]; bytes: number } {
  const app = join(outDir, spec.name, "app");
  rmSync(join(outDir, spec.name), { recursive: true, force: true });
  mkdirSync(app, { recursive: true });
  // tsx: the services run their TypeScript through it (images.ts, entrypointOf).
  const entries = runtimeClosure(root, spec.workspace, ["tsx"]);
  for (const entry of entries) {
    const to = join(app, entry.path);
    mkdirSync(dirname(to), { recursive: true });
    if (entry.kind === "link") symlinkSync(entry.linkTarget!, to);
    else if (entry.kind === "workspace") copyWorkspace(join(root, entry.path), to);
    else copyPackage(join(root, entry.path), to, entry.name);
  }
  if (!existsSync(join(app, spec.entry))) throw new Error(`${spec.name}: ${spec.entry} was not staged`);
  for (const [file, buildWith] of spec.builtFiles ?? []) {
    if (!existsSync(join(root, file))) throw new Error(`${spec.name}: ${file} is missing: run \`${buildWith}\` first`);
    mkdirSync(dirname(join(app, file)), { recursive: true });
    cpSync(join(root, file), join(app, file));
  }
  // tsx reads the compiler options (verbatimModuleSyntax, target) from the nearest tsconfig.
  for (const file of ["tsconfig.json", "tsconfig.base.json"]) cpSync(join(root, file), join(app, file));
  // "type": "module" for the .ts entry points, as in the repository's own package.json.
  writeFileSync(join(app, "package.json"), `${JSON.stringify({ name: `taj-${spec.name}-image`, private: true, type: "module" }, null, 2)}\n`);
  return { entries, bytes: sizeOf(app) };
}

function main(): void {
  const { values } = parseArgs({ options: { out: { type: "string" }, image: { type: "string", multiple: true } } });
  if (!values.out) throw new Error("usage: stage.ts --out DIR [--image NAME ...]");
  const wanted = values.image ?? IMAGES.map((i) => i.name);
  for (const name of wanted) {
    const spec = IMAGES.find((i) => i.name === name);
    if (!spec) throw new Error(`unknown image ${name}; known: ${IMAGES.map((i) => i.name).join(", ")}`);
    const { entries, bytes } = stageImage(spec, values.out);
    const packages = entries.filter((e) => e.kind === "package").length;
    console.log(`staged ${spec.name}: ${packages} npm packages, ${(bytes / 1e6).toFixed(1)} MB in ${relative(process.cwd(), join(values.out, spec.name, "app"))}`);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
