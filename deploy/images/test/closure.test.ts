// What the images ship of node_modules (closure.ts), checked against the repository's own
// installed tree: what a service loads is in, build and test tools are out. That the closure is
// enough to run is images.test.ts's part (it starts every image).
import { test } from "node:test";
import assert from "node:assert/strict";
import { repoRoot } from "@taj/devcluster";
import { runtimeClosure, resolvePackageDir } from "../closure.ts";

const names = (workspace: string) => new Set(runtimeClosure(repoRoot, workspace, ["tsx"]).map((e) => e.name));

test("the gateway's closure: its workspace packages (linked as npm links them), tsx, its npm dependencies and theirs", () => {
  const entries = runtimeClosure(repoRoot, "@taj/gateway", ["tsx"]);
  const byPath = new Map(entries.map((e) => [e.path, e]));
  assert.equal(byPath.get("node_modules/@taj/common")?.kind, "link");
  assert.equal(byPath.get("node_modules/@taj/common")?.linkTarget, "../../packages/common");
  assert.equal(byPath.get("packages/common")?.kind, "workspace");
  assert.equal(byPath.get("services/gateway")?.kind, "workspace");
  const all = names("@taj/gateway");
  for (const name of ["tsx", "esbuild", "jose", "@grpc/grpc-js", "@grpc/reflection", "nats", "etcd3", "pino", "zod"]) {
    assert.ok(all.has(name), `${name} is shipped`);
  }
});

test("no build, test or other services' packages: dev dependencies and @types stay out", () => {
  const gateway = names("@taj/gateway");
  // The gateway's devDependencies (devcluster, samples, tajctl) and the root's (typescript, buf).
  for (const name of ["@taj/devcluster", "@taj/samples", "@taj/tajctl", "typescript", "@bufbuild/buf", "@types/node"]) {
    assert.ok(!gateway.has(name), `${name} is not in the gateway's image`);
  }
  assert.ok(!gateway.has("onnxruntime-node") && !gateway.has("sharp"), "the extractor's engines stay in the extractor's image");
  assert.ok(!names("@taj/tajctl").has("@types/cli-progress"), "type packages listed as dependencies are left out");
});

test("the extractor gets its engines and the face model package, not that package's build tools", () => {
  const extractor = names("@taj/extractor");
  for (const name of ["onnxruntime-node", "onnxruntime-common", "sharp", "@img/sharp-linux-x64", "faceplugin-face-recognition-js"]) {
    assert.ok(extractor.has(name), `${name} is shipped`);
  }
  // faceplugin-face-recognition-js lists jest, webpack, babel and eslint as its dependencies.
  for (const name of ["jest", "webpack", "babel-core", "eslint"]) {
    assert.ok(resolvePackageDir(repoRoot, repoRoot, name) !== undefined, `${name} is installed (else this check proves nothing)`);
    assert.ok(!extractor.has(name), `${name} is not in the extractor's image`);
  }
});

test("a dependency that is not installed is an error that says to run npm ci", () => {
  assert.throws(() => runtimeClosure(repoRoot, "@taj/gateway", ["no-such-package-taj"]), /no-such-package-taj.*npm ci/);
});
