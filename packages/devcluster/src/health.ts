import * as grpc from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";

// grpc-health-check's definition comes from proto-loader; grpc-js accepts it as a service definition.
const HealthClient = grpc.makeGenericClientConstructor(healthService as unknown as grpc.ServiceDefinition, "Health");

/** grpc.health.v1 Check on a generic client; proto-loader gives the status as its enum name. */
type HealthCheck = (
  request: { service: string },
  options: grpc.CallOptions,
  callback: (err: grpc.ServiceError | null, response?: { status?: string | number }) => void,
) => void;

/** One grpc.health.v1 Check call over TLS (any certificate of the CA may ask); resolves to the status name (e.g. "SERVING"). */
export function checkHealth(address: string, credentials: grpc.ChannelCredentials, service = "", timeoutMs = 1_000): Promise<string> {
  const client = new HealthClient(address, credentials);
  return new Promise<string>((resolve, reject) => {
    const check = (client as unknown as Record<string, HealthCheck>)["Check"]!.bind(client);
    check({ service }, { deadline: Date.now() + timeoutMs }, (err, response) => {
      if (err) reject(new Error(`health check of ${address}: ${err.details || err.message}`));
      else resolve(String(response?.status ?? "UNKNOWN"));
    });
  }).finally(() => client.close());
}
