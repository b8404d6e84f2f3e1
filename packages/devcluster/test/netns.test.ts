import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { createSitesTopology, netnsSupport, type SitesTopology } from "@taj/devcluster";

const support = netnsSupport();

/** A TCP listener inside a namespace (a tiny node process), so connects can be tried across the router. */
function listenIn(ns: string, host: string, port: number) {
  const child = spawn("ip", ["netns", "exec", ns, process.execPath, "-e",
    `require("net").createServer((s) => { s.on("error", () => {}); s.end("x"); }).listen(${port}, "${host}", () => console.log("up"))`], { stdio: ["ignore", "pipe", "inherit"] });
  const up = new Promise<void>((resolve, reject) => {
    child.stdout.once("data", () => resolve());
    child.once("exit", (code) => reject(new Error(`listener exited ${code}`)));
  });
  return { up, stop: () => child.kill("SIGKILL") };
}

/** Whether a TCP connect from `ns` (or the launcher's namespace) to host:port succeeds within 1 s. */
function reaches(ns: string | undefined, host: string, port: number): boolean {
  if (ns === undefined) {
    return Boolean(execFileSync(process.execPath, ["-e", connectScript(host, port)], { encoding: "utf8" }).includes("ok"));
  }
  return execFileSync("ip", ["netns", "exec", ns, process.execPath, "-e", connectScript(host, port)], { encoding: "utf8" }).includes("ok");
}

const connectScript = (host: string, port: number) =>
  `const s=require("net").createConnection({host:"${host}",port:${port}});s.setTimeout(1000,()=>{console.log("no");process.exit(0)});` +
  `s.on("connect",()=>{console.log("ok");process.exit(0)});s.on("error",()=>{console.log("no");process.exit(0)})`;

test("a cut drops site a <-> b and witness, keeps the launcher's reach, and restore heals it", { skip: support.ok ? false : support.reason }, async () => {
  let topology: SitesTopology | undefined;
  const listeners: Array<{ stop(): void }> = [];
  try {
    topology = createSitesTopology();
    const t = topology;
    for (const m of t.members) {
      const l = listenIn(t.namespaces[m]!, t.hostOf(m), 19999);
      listeners.push(l);
      await l.up;
    }
    const port = 19999;
    assert.ok(reaches(t.namespaces.a, t.hostOf("b"), port), "a reaches b before the cut");
    assert.ok(reaches(undefined, t.hostOf("a"), port), "the launcher reaches a");
    t.cut("a");
    assert.equal(reaches(t.namespaces.a, t.hostOf("b"), port), false, "a -> b cut");
    assert.equal(reaches(t.namespaces.w, t.hostOf("a"), port), false, "w -> a cut");
    assert.ok(reaches(t.namespaces.b, t.hostOf("w"), port), "b still reaches the witness");
    assert.ok(reaches(undefined, t.hostOf("a"), port), "the launcher still reaches a");
    assert.ok(reaches(undefined, t.hostOf("b"), port), "the launcher still reaches b");
    t.restore();
    assert.ok(reaches(t.namespaces.a, t.hostOf("b"), port), "a reaches b after restore");
  } finally {
    for (const l of listeners) l.stop();
    topology?.teardown();
  }
  const left = execFileSync("ip", ["netns", "list"], { encoding: "utf8" });
  assert.ok(!left.includes(`taj-${topology?.tag}-`), "teardown removed the namespaces");
});
