import { createServer } from "node:net";

/** gRPC and Prometheus ports of one service process. */
export interface ServicePorts {
  grpc: number;
  metrics: number;
}

export interface PortLayout {
  basePort: number;
  /** Keyed by member name: each site's name, plus the witness "w". */
  etcd: Record<string, { client: number; peer: number }>;
  nats: Record<string, { client: number; cluster: number; monitor: number }>;
  /** Site a's gateway (the first site's), kept for callers that know one gateway. */
  gateway: ServicePorts;
  /** One gateway per site; the first site's is `gateway`. */
  gateways: Record<string, ServicePorts>;
  coordinators: Record<string, ServicePorts>;
  extractors: ServicePorts[];
  shards: Record<string, ServicePorts>;
}

export const WITNESS = "w";
/** Every port of a cluster lies in [basePort, basePort + PORT_SPAN). */
export const PORT_SPAN = 200;
export const MAX_SITES = 4;
export const MAX_EXTRACTORS = 10;
export const MAX_SHARDS = 50;

/** Shard ids: site letter + 1-based number, e.g. "a1", "a2", "b1". */
export function shardIds(sites: readonly string[], shardsPerSite: number): string[] {
  return sites.flatMap((site) => Array.from({ length: shardsPerSite }, (_, i) => `${site}${i + 1}`));
}

/**
 * The port plan, all from basePort (offsets below), so clusters with different base ports
 * (tests at 20000+, the demo at 30000) never collide:
 *
 * | offset          | what                                                    |
 * |-----------------|---------------------------------------------------------|
 * | +0 .. +9        | etcd member i (sites in order, then witness): client +2i, peer +2i+1 |
 * | +10 / +20 / +30 | NATS node i: client +10+i, cluster route +20+i, monitor http +30+i |
 * | +40 .. +47      | gateway of site i: gRPC +40+2i, metrics +41+2i           |
 * | +50 .. +59      | coordinator of site i: gRPC +50+2i, metrics +51+2i      |
 * | +60 .. +79      | extractor i: gRPC +60+2i, metrics +61+2i                |
 * | +100 .. +199    | shard k (all sites, in id order): gRPC +100+2k, metrics +101+2k |
 */
export function portLayout(basePort: number, sites: readonly string[], shardsPerSite: number, extractors: number): PortLayout {
  if (!Number.isInteger(basePort) || basePort < 1024 || basePort + PORT_SPAN > 65535) {
    throw new Error(`basePort must be an integer in [1024, ${65535 - PORT_SPAN}]`);
  }
  if (sites.length < 1 || sites.length > MAX_SITES) throw new Error(`between 1 and ${MAX_SITES} sites`);
  if (sites.includes(WITNESS)) throw new Error(`"${WITNESS}" is the witness, not a site name`);
  if (extractors < 1 || extractors > MAX_EXTRACTORS) throw new Error(`between 1 and ${MAX_EXTRACTORS} extractors`);
  const ids = shardIds(sites, shardsPerSite);
  if (shardsPerSite < 1 || ids.length > MAX_SHARDS) throw new Error(`between 1 and ${MAX_SHARDS} shards in all`);
  const b = basePort;
  const members = [...sites, WITNESS];
  return {
    basePort,
    etcd: Object.fromEntries(members.map((m, i) => [m, { client: b + 2 * i, peer: b + 2 * i + 1 }])),
    nats: Object.fromEntries(members.map((m, i) => [m, { client: b + 10 + i, cluster: b + 20 + i, monitor: b + 30 + i }])),
    gateway: { grpc: b + 40, metrics: b + 41 },
    gateways: Object.fromEntries(sites.map((s, i) => [s, { grpc: b + 40 + 2 * i, metrics: b + 41 + 2 * i }])),
    coordinators: Object.fromEntries(sites.map((s, i) => [s, { grpc: b + 50 + 2 * i, metrics: b + 51 + 2 * i }])),
    extractors: Array.from({ length: extractors }, (_, i) => ({ grpc: b + 60 + 2 * i, metrics: b + 61 + 2 * i })),
    shards: Object.fromEntries(ids.map((id, k) => [id, { grpc: b + 100 + 2 * k, metrics: b + 101 + 2 * k }])),
  };
}

/** Every port of the layout with a label, for error messages. */
export function labelledPorts(layout: PortLayout): Array<{ port: number; label: string }> {
  const out: Array<{ port: number; label: string }> = [];
  for (const [m, p] of Object.entries(layout.etcd)) out.push({ port: p.client, label: `etcd-${m} client` }, { port: p.peer, label: `etcd-${m} peer` });
  for (const [n, p] of Object.entries(layout.nats)) {
    out.push({ port: p.client, label: `nats-${n} client` }, { port: p.cluster, label: `nats-${n} cluster` }, { port: p.monitor, label: `nats-${n} monitor` });
  }
  const svc = (name: string, p: ServicePorts) => out.push({ port: p.grpc, label: `${name} grpc` }, { port: p.metrics, label: `${name} metrics` });
  for (const [s, p] of Object.entries(layout.gateways)) svc(`gateway-${s}`, p);
  for (const [s, p] of Object.entries(layout.coordinators)) svc(`coordinator-${s}`, p);
  layout.extractors.forEach((p, i) => svc(`extractor-${i + 1}`, p));
  for (const [id, p] of Object.entries(layout.shards)) svc(`shard-${id}`, p);
  return out;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen({ port, host: "127.0.0.1", exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** Fails with the list of busy ports, rather than letting some process die on EADDRINUSE later. */
export async function assertPortsFree(ports: Array<{ port: number; label: string }>): Promise<void> {
  const busy: string[] = [];
  for (const { port, label } of ports) if (!(await portFree(port))) busy.push(`${port} (${label})`);
  if (busy.length > 0) {
    throw new Error(`ports in use on 127.0.0.1: ${busy.join(", ")}; is another cluster running with the same basePort?`);
  }
}
