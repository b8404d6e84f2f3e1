import { connect, type NatsConnection } from "nats";
import { natsTls, type TlsFiles } from "@taj/common";

/**
 * One NATS connection for one tajctl command, as the operator (admin user, the only one that may
 * change a stream), closed when `run` ends. Few reconnects: a command fails rather than hangs.
 */
export async function withNats<T>(
  servers: string[], tls: TlsFiles, name: string, run: (nc: NatsConnection) => Promise<T>, timeoutMs = 5_000,
): Promise<T> {
  const nc = await connect({ servers, name: `tajctl-${name}`, timeout: timeoutMs, maxReconnectAttempts: 2, ...natsTls(tls, "admin") });
  try {
    return await run(nc);
  } finally {
    await nc.close();
  }
}
