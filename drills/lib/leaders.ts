import { connect } from "nats";
import { Etcd3 } from "etcd3";
import { TEMPLATE_STREAM, etcdCredentials, natsTls, type TlsFiles } from "@taj/common";

/** Name ("a", "b", "w") of the NATS server leading the template stream's replicas. */
export async function streamLeader(natsUrls: string[], tls: TlsFiles): Promise<string> {
  const nc = await connect({ servers: natsUrls, name: "drill-leader-probe", timeout: 5_000, ...natsTls(tls, "admin") });
  try {
    const info = await (await nc.jetstreamManager()).streams.info(TEMPLATE_STREAM);
    const leader = info.cluster?.leader;
    if (!leader) throw new Error("the template stream has no leader");
    return leader;
  } finally {
    await nc.close();
  }
}

/** Member name of the etcd leader, asked of each member (Maintenance.Status over mutual TLS). */
export async function etcdLeader(members: Array<{ member: string; endpoint: string }>, tls: TlsFiles): Promise<string> {
  for (const m of members) {
    const client = new Etcd3({ hosts: m.endpoint, credentials: etcdCredentials(tls), dialTimeout: 2_000 });
    try {
      const status = await client.maintenance.status();
      if (status.leader && status.leader === status.header.member_id) return m.member;
    } catch {
      // a member that does not answer is not the one we are looking for
    } finally {
      client.close();
    }
  }
  throw new Error("no etcd member says it leads");
}
