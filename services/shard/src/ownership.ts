import { Etcd3 } from "etcd3";
import { Assignment, assignmentKey, etcdCredentials, parsePartitionCount, PARTITION_COUNT_KEY, type Logger, type TlsFiles } from "@taj/common";

export function etcdClient(endpoints: string[], tls: TlsFiles): Etcd3 {
  // A bounded deadline on unary calls: an unreachable etcd must fail calls, not hang them.
  return new Etcd3({
    hosts: endpoints,
    credentials: etcdCredentials(tls),
    dialTimeout: 3_000,
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + 5_000 }),
  });
}

export async function readPartitionCount(etcd: Etcd3): Promise<number> {
  const raw = await etcd.get(PARTITION_COUNT_KEY).string();
  const n = parsePartitionCount(raw);
  if (n === undefined) throw new Error(`bad partition count in etcd: ${raw}`);
  return n;
}

/** The assignment as JSON, partitions out of range dropped; [] when absent or unreadable (logged). */
export function parseAssignment(raw: string | null, partitionCount: number, logger: Logger): number[] {
  if (raw === null) return [];
  let parsed;
  try {
    parsed = Assignment.parse(JSON.parse(raw));
  } catch (err) {
    logger.error({ err }, "assignment in etcd is not valid JSON {partitions:number[]}; serving nothing");
    return [];
  }
  const ok = [...new Set(parsed.partitions.filter((p) => p < partitionCount))].sort((a, b) => a - b);
  if (ok.length !== parsed.partitions.length) logger.warn({ partitionCount }, "assignment lists duplicate or out-of-range partitions; ignored");
  return ok;
}

/** Reads this shard's assignment and calls `onChange` whenever it is rewritten or deleted. */
export async function watchAssignment(
  etcd: Etcd3, site: string, shardId: string, partitionCount: number, logger: Logger,
  onChange: (partitions: number[]) => void,
): Promise<{ initial: number[]; cancel(): Promise<void> }> {
  const key = assignmentKey(site, shardId);
  const initial = parseAssignment(await etcd.get(key).string(), partitionCount, logger);
  const watcher = await etcd.watch().key(key).create();
  watcher.on("put", (kv) => onChange(parseAssignment(kv.value.toString(), partitionCount, logger)));
  watcher.on("delete", () => onChange([]));
  watcher.on("error", (err) => logger.warn({ err }, "assignment watch error; etcd3 reconnects"));
  return { initial, cancel: () => watcher.cancel() };
}
