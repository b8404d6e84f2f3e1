import { connect } from "nats";
import { TEMPLATE_STREAM } from "@taj/common";

/** Name ("a", "b", "w") of the NATS server leading the template stream's replicas. */
export async function streamLeader(natsUrls: string[]): Promise<string> {
  const nc = await connect({ servers: natsUrls, name: "drill-leader-probe", timeout: 5_000 });
  try {
    const info = await (await nc.jetstreamManager()).streams.info(TEMPLATE_STREAM);
    const leader = info.cluster?.leader;
    if (!leader) throw new Error("the template stream has no leader");
    return leader;
  } finally {
    await nc.close();
  }
}

/** Member name of the etcd leader, asked of each member over etcd's JSON gateway. */
export async function etcdLeader(members: Array<{ member: string; endpoint: string }>): Promise<string> {
  for (const m of members) {
    try {
      const res = await fetch(`${m.endpoint}/v3/maintenance/status`, { method: "POST", body: "{}", signal: AbortSignal.timeout(2_000) });
      const status = (await res.json()) as { leader?: string; header?: { member_id?: string } };
      if (status.leader && status.leader === status.header?.member_id) return m.member;
    } catch {
      // a member that does not answer is not the one we are looking for
    }
  }
  throw new Error("no etcd member says it leads");
}
