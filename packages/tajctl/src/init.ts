import { bootstrapStreams, clusterStreams, type BootstrapResult, type ClusterStreamsOptions, type TlsFiles } from "@taj/common";
import { withNats } from "./nats.ts";

/**
 * `tajctl init`: the cluster bootstrap's NATS part, with the operator's (admin) credentials — the
 * only NATS user allowed to create or change a stream. The same function devcluster runs
 * (bootstrapStreams in packages/common); the services only verify and wait NOT_SERVING until it ran.
 */
export async function initStreams(urls: string[], tls: TlsFiles, options: ClusterStreamsOptions): Promise<BootstrapResult[]> {
  return withNats(urls, tls, "init", async (nc) => bootstrapStreams(await nc.jetstreamManager({ timeout: 5_000 }), clusterStreams(options)));
}

export function renderInit(results: BootstrapResult[]): string {
  return results
    .map((r) => `${r.stream}: ${r.action}${r.changes.length > 0 ? `\n  ${r.changes.join("\n  ")}` : ""}`)
    .join("\n");
}
