// Writes a VM's nats-server config (stdout) with the same security blocks as packages/devcluster
// and the Kubernetes ConfigMap (deploy/k8s/infra/nats.yaml): one place decides who may do what.
//   node --import tsx deploy/vm/nats-config.ts --site a --routes host-a,host-b,host-w > /etc/taj/nats/nats.conf
import { parseArgs } from "node:util";
import { natsRouteTls, natsSecurityConfig } from "../../packages/devcluster/src/nats-auth.ts";

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
process.stdout.write(`# written by deploy/vm/nats-config.ts
server_name: ${JSON.stringify(`nats-${site}`)}
server_tags: [${JSON.stringify(`site:${site}`)}]
listen: 0.0.0.0:4222
http: 127.0.0.1:8222
ping_interval: "2s"
ping_max: 2
write_deadline: "10s"
${natsSecurityConfig(tls)}jetstream {
  store_dir: ${JSON.stringify(values["store-dir"])}
  max_memory_store: 256MB
  max_file_store: ${values["max-file-store"]}
  unique_tag: "site:"
}
cluster {
  name: taj
  listen: 0.0.0.0:6222
  routes: [${routes.map((h) => `nats-route://${h}:6222`).join(", ")}]
${natsRouteTls(tls)}}
`);
