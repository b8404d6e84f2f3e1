// The run-time file set of one workspace package: its sources, the sources of the workspace
// packages it depends on, and the installed npm packages it reaches through `dependencies`,
// `optionalDependencies` and `peerDependencies`, found the way Node resolves them (nearest
// node_modules up the tree), so the hoisted layout of the repository is kept as it is.
import { existsSync, lstatSync, readFileSync, realpathSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";

export interface PackageJson {
  name?: string;
  version?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

/** One directory to ship, relative to the repository root. */
export interface ClosureEntry {
  /** e.g. "node_modules/sharp", "node_modules/@taj/common" (a link) or "packages/common". */
  readonly path: string;
  readonly kind: "workspace" | "package" | "link";
  /** For a link: its target as written (relative), e.g. "../../packages/common". */
  readonly linkTarget?: string;
  readonly name: string;
}

/**
 * Packages whose own dependencies are not followed: the extractor ships only the three ONNX
 * models of faceplugin-face-recognition-js; the package's dependencies (jest, webpack, babel,
 * eslint, ...) are its build tools, never loaded by us.
 */
export const LEAF_PACKAGES: ReadonlySet<string> = new Set(["faceplugin-face-recognition-js"]);

export function readPackageJson(dir: string): PackageJson {
  return JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as PackageJson;
}

/** The directory Node would load `name` from when required from `fromDir` (absolute), or undefined. */
export function resolvePackageDir(root: string, fromDir: string, name: string): string | undefined {
  let dir = fromDir;
  for (;;) {
    const candidate = join(dir, "node_modules", name);
    if (existsSync(join(candidate, "package.json"))) return candidate;
    if (dir === root || !dir.startsWith(root + sep)) return undefined;
    dir = dirname(dir);
  }
}

/** Every directory the package `workspace` (e.g. "@taj/gateway") needs at run time, plus `extra` (e.g. tsx). */
export function runtimeClosure(root: string, workspace: string, extra: readonly string[] = []): ClosureEntry[] {
  const entries = new Map<string, ClosureEntry>();
  const queue: Array<{ fromDir: string; name: string; required: boolean; wantedBy: string }> = [
    { fromDir: root, name: workspace, required: true, wantedBy: "(image)" },
    ...extra.map((name) => ({ fromDir: root, name, required: true, wantedBy: "(image)" })),
  ];
  for (let item = queue.shift(); item; item = queue.shift()) {
    // @types/* are compile-time only (tajctl lists one among its dependencies).
    if (item.name.startsWith("@types/")) continue;
    const found = resolvePackageDir(root, item.fromDir, item.name);
    if (!found) {
      if (item.required) throw new Error(`${item.wantedBy} needs ${item.name}, which is not installed: run npm ci`);
      continue;
    }
    const path = relative(root, found);
    if (entries.has(path)) continue;
    let realDir = found;
    if (lstatSync(found).isSymbolicLink()) {
      realDir = realpathSync(found);
      entries.set(path, { path, kind: "link", linkTarget: relative(dirname(found), realDir), name: item.name });
      const realPath = relative(root, realDir);
      if (realPath.startsWith("..")) throw new Error(`${item.name} links outside the repository (${realDir})`);
      if (entries.has(realPath)) continue;
      entries.set(realPath, { path: realPath, kind: "workspace", name: item.name });
    } else {
      entries.set(path, { path, kind: "package", name: item.name });
    }
    if (LEAF_PACKAGES.has(item.name)) continue;
    const pkg = readPackageJson(realDir);
    // Resolution starts at the package's location in node_modules (for a workspace: its real
    // directory, as Node resolves from the file's real path).
    const fromDir = realDir;
    for (const name of Object.keys(pkg.dependencies ?? {})) queue.push({ fromDir, name, required: true, wantedBy: item.name });
    for (const name of Object.keys(pkg.optionalDependencies ?? {})) queue.push({ fromDir, name, required: false, wantedBy: item.name });
    for (const name of Object.keys(pkg.peerDependencies ?? {})) queue.push({ fromDir, name, required: false, wantedBy: item.name });
  }
  return [...entries.values()].sort((a, b) => a.path.localeCompare(b.path));
}
