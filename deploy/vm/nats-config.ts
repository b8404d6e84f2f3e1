// Writes a VM's nats-server config (stdout) from the same function as the local cluster's
// (packages/devcluster/src/nats-config.ts), with the security blocks of the Kubernetes ConfigMap
// (deploy/k8s/infra/nats.yaml): one place decides who may do what.
//   node --import tsx deploy/vm/nats-config.ts --site a --routes host-a,host-b,host-w > /etc/taj/nats/nats.conf
import { parseArgs } from "node:util";
import { natsServerConfig } from "@taj/devcluster";

const { values } = parseArgs({
  options: {
    site: { type: "string" },
    routes: { type: "string" },
    "tls-dir": { type: "string", default: "/etc/taj/tls/nats" },
    "store-dir": { type: "string", default: "/var/lib/taj/nats" },
    "max-file-store": { type: "string", default: "60GB" },
  },
});
const site = values.site ?? "";
const routes = (values.routes ?? "").split(",").filter(Boolean);
if (!/^[a-z0-9-]+$/.test(site) || routes.length < 3) {
  process.stderr.write("usage: nats-config.ts --site <a|b|w> --routes <host>,<host>,<host> [--tls-dir DIR] [--store-dir DIR]\n");
  process.exit(2);
}
const dir = values["tls-dir"];
const tls = { caFile: `${dir}/ca.crt`, certFile: `${dir}/tls.crt`, keyFile: `${dir}/tls.key` };
process.stdout.write(
  natsServerConfig({
    serverName: `nats-${site}`,
    site,
    clientListen: "0.0.0.0:4222",
    monitorListen: "127.0.0.1:8222",
    clusterListen: "0.0.0.0:6222",
    routes: routes.map((h) => `${h}:6222`),
    storeDir: values["store-dir"],
    maxFileStore: values["max-file-store"],
    pingIntervalSec: 2,
    writeDeadlineSec: 10,
    tls,
  }, "deploy/vm/nats-config.ts"),
);
