// Starts the whole two-site cluster on loopback (real etcd, nats-server and services), prints
// where everything runs, runs the demo, then keeps the cluster up until Ctrl-C.
//   node --import tsx scripts/cluster.ts [--exit-after-demo] [--base-port 30000] [--dir .run/cluster]
import { existsSync } from "node:fs";
import { join, relative } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { repoRoot, startLocalCluster, type LocalCluster } from "@taj/devcluster";
import type { ChannelCredentials } from "@grpc/grpc-js";

const { values: args } = parseArgs({
  options: {
    "exit-after-demo": { type: "boolean", default: false },
    "base-port": { type: "string", default: process.env.TAJ_BASE_PORT ?? "30000" },
    dir: { type: "string", default: join(repoRoot, ".run", "cluster") },
    "log-level": { type: "string", default: "info" },
  },
});

function shortPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel.startsWith("..") ? path : rel;
}

function table(cluster: LocalCluster): string {
  const rows: string[][] = [["process", "pid", "address", "log"]];
  const metrics = (name: string): string => {
    const svc = cluster.services[name];
    return svc?.env.METRICS_PORT ? ` (metrics :${svc.env.METRICS_PORT})` : "";
  };
  for (const m of cluster.etcd.members) rows.push([m.name, String(m.pid), m.endpoint, m.process.spec.logFile]);
  for (const n of cluster.nats.nodes) rows.push([n.name, String(n.pid), `${n.url} (monitor ${n.monitorUrl})`, n.process.spec.logFile]);
  for (const s of Object.values(cluster.services)) {
    rows.push([s.name, String(s.pid), `${s.address}${metrics(s.name)}`, s.process.spec.logFile]);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows
    .map((r) => r.map((cell, c) => (c === 3 ? shortPath(cell) : cell.padEnd(widths[c]!))).join("  "))
    .join("\n");
}

/** scripts/demo.ts exports runDemo(gatewayAddress, credentials); it returns false (or throws) when the demo failed. */
async function runDemoIfPresent(gateway: string, credentials: ChannelCredentials): Promise<boolean> {
  const file = join(repoRoot, "scripts", "demo.ts");
  if (!existsSync(file)) {
    console.log("(scripts/demo.ts not present: no demo to run)");
    return true;
  }
  const mod: unknown = await import(pathToFileURL(file).href);
  const runDemo = typeof mod === "object" && mod !== null ? (mod as Record<string, unknown>).runDemo : undefined;
  if (typeof runDemo !== "function") throw new Error("scripts/demo.ts does not export runDemo(gatewayAddress, credentials)");
  const result: unknown = await (runDemo as (gatewayAddress: string, credentials: ChannelCredentials) => unknown)(gateway, credentials);
  return result !== false;
}

async function main(): Promise<number> {
  const basePort = Number(args["base-port"]);
  console.log(`starting the local cluster in ${args.dir} (ports ${basePort}..${basePort + 199}) ...`);
  const started = performance.now();
  const cluster = await startLocalCluster({ dir: args.dir, basePort, logLevel: args["log-level"] });
  let stopping = false;
  const stop = async (why: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${why}: stopping the ${cluster.pids().length} processes this script started ...`);
    const t0 = performance.now();
    await cluster.stop();
    console.log(`stopped in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  };
  for (const [name, handle] of Object.entries(cluster.processes)) {
    handle.process.onExit((status) => {
      if (!stopping) console.error(`!! ${name} exited (code ${status.code}, signal ${status.signal}); see ${handle.process.spec.logFile}`);
    });
  }
  console.log(`ready in ${((performance.now() - started) / 1000).toFixed(1)} s\n\n${table(cluster)}\n`);
  console.log(`public API (grpc, taj.v1.MatchingService): ${cluster.addresses.gateway}`);
  console.log(`callers: demo tokens per role in ${relative(process.cwd(), cluster.issuer.dir)}/<search|enroll|admin|audit>.token (metadata "authorization: Bearer <token>")\n`);

  let demoOk: boolean;
  try {
    demoOk = await runDemoIfPresent(cluster.addresses.gateway, cluster.credentials("client"));
  } catch (err) {
    console.error("demo failed:", err instanceof Error ? (err.stack ?? err.message) : err);
    demoOk = false;
  }
  if (args["exit-after-demo"]) {
    await stop(demoOk ? "demo done" : "demo FAILED");
    return demoOk ? 0 : 1;
  }
  const pki = cluster.pki;
  console.log(
    `\ncluster running (mutual TLS everywhere; certificates in ${pki.dir}); try:\n` +
      `  grpcurl -cacert ${pki.caFile} -cert ${pki.client.certFile} -key ${pki.client.keyFile} ${cluster.addresses.gateway} list\n` +
      `(Ctrl-C stops it)`,
  );
  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => void stop(signal).then(resolve);
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
  });
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
