// No cluster and no kustomize binary here: this reads deploy/k8s the way kustomize would (base
// resources, overlay JSON patches) and checks what the platform rules require of every workload.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { repoRoot } from "@taj/devcluster";

type Obj = Record<string, unknown>;
const k8s = join(repoRoot, "deploy", "k8s");

function docs(file: string): Obj[] {
  return parseAllDocuments(readFileSync(file, "utf8")).map((d) => {
    assert.deepEqual(d.errors, [], `${file} parses`);
    return d.toJS() as Obj;
  });
}

function at(o: unknown, path: string): unknown {
  return path.split(".").reduce<unknown>((v, key) => (v !== null && typeof v === "object" ? (v as Obj)[key] : undefined), o);
}

function list(o: unknown, path: string): Obj[] {
  const v = at(o, path);
  return Array.isArray(v) ? (v as Obj[]) : [];
}

const kustomization = docs(join(k8s, "base", "kustomization.yaml"))[0]!;
const resources = list(kustomization, "resources") as unknown as string[];
const objects = resources.flatMap((r) => docs(join(k8s, "base", r)));
const find = (kind: string, name: string) => objects.find((o) => o.kind === kind && at(o, "metadata.name") === name);
const workloads = objects.filter((o) => o.kind === "Deployment" || o.kind === "StatefulSet");
const configMap = find("ConfigMap", "taj-config");

describe("deploy/k8s base", () => {
  test("gateway, extractor and coordinator are Deployments, shards a StatefulSet, config one ConfigMap", () => {
    for (const svc of ["gateway", "extractor", "coordinator"]) assert.ok(find("Deployment", `taj-${svc}`), `Deployment taj-${svc}`);
    assert.ok(find("StatefulSet", "taj-shard"));
    assert.equal(objects.filter((o) => o.kind === "ConfigMap").length, 1);
    assert.equal(at(configMap, "data.GRPC_HOST"), "0.0.0.0", "pods listen beyond loopback");
    assert.equal(at(configMap, "data.METRICS_HOST"), "0.0.0.0", "Prometheus can scrape the pods");
  });

  for (const w of workloads) {
    const name = String(at(w, "metadata.name"));
    test(`${name}: runnable, probed by grpc health, non-root, bounded`, () => {
      const podLabels = at(w, "spec.template.metadata.labels") as Obj;
      for (const [k, v] of Object.entries(at(w, "spec.selector.matchLabels") as Obj)) assert.equal(podLabels[k], v, "selector matches the pods");
      assert.equal(at(w, "spec.template.spec.securityContext.runAsNonRoot"), true);
      const containers = list(w, "spec.template.spec.containers");
      assert.equal(containers.length, 1);
      const c = containers[0]!;
      const command = at(c, "command") as string[];
      const entry = command[command.length - 1]!;
      assert.ok(existsSync(join(repoRoot, entry)), `entry point ${entry} exists`);
      assert.deepEqual(list(c, "envFrom").map((e) => at(e, "configMapRef.name")), ["taj-config"]);
      const grpcPort = list(c, "ports").find((p) => p.name === "grpc")?.containerPort;
      assert.equal(String(grpcPort), at(configMap, "data.GRPC_PORT"), "the grpc port is the one GRPC_PORT sets");
      assert.ok(list(c, "ports").some((p) => String(p.containerPort) === at(configMap, "data.METRICS_PORT")), "metrics port exposed");
      // kubelet's grpc probe has no TLS and every gRPC port is mutual TLS: the metrics port reports
      // the gRPC server's own health (/readyz) and the process's liveness (/healthz).
      for (const probe of ["startupProbe", "readinessProbe"]) {
        assert.equal(at(c, `${probe}.httpGet.path`), "/readyz", `${probe} follows the gRPC health`);
        assert.equal(at(c, `${probe}.httpGet.port`), "metrics");
      }
      assert.equal(at(c, "livenessProbe.httpGet.path"), "/healthz");
      // The pod's certificate: a secret mounted as a directory (no subPath), so a renewal is reloaded.
      const tls = list(c, "volumeMounts").find((m) => m.name === "tls");
      assert.equal(tls?.mountPath, "/etc/taj/tls");
      assert.equal(tls?.subPath, undefined);
      const tlsVolume = list(w, "spec.template.spec.volumes").find((v) => v.name === "tls");
      assert.match(String(at(tlsVolume ?? {}, "secret.secretName")), /^taj-[a-z]+-tls$/);
      for (const key of ["TLS_CA_FILE", "TLS_CERT_FILE", "TLS_KEY_FILE"]) assert.match(String(at(configMap, `data.${key}`)), /^\/etc\/taj\/tls\//, key);
      assert.match(String(at(configMap, "data.ETCD_ENDPOINTS")), /^https:\/\//, "etcd over TLS");
      assert.equal(at(c, "securityContext.allowPrivilegeEscalation"), false);
      assert.equal(at(c, "securityContext.readOnlyRootFilesystem"), true);
      assert.deepEqual(at(c, "securityContext.capabilities.drop"), ["ALL"]);
      for (const r of ["requests.cpu", "requests.memory", "limits.cpu", "limits.memory"]) assert.ok(at(c, `resources.${r}`), r);
      const volumes = new Set([
        ...list(w, "spec.template.spec.volumes").map((v) => v.name),
        ...list(w, "spec.volumeClaimTemplates").map((v) => at(v, "metadata.name")),
      ]);
      for (const m of list(c, "volumeMounts")) assert.ok(volumes.has(m.name), `volume ${String(m.name)} defined`);
      const service = find("Service", name);
      assert.ok(service, `Service ${name}`);
      for (const [k, v] of Object.entries(at(service, "spec.selector") as Obj)) assert.equal(podLabels[k], v, "Service selects the pods");
      const portNames = new Set(list(c, "ports").map((p) => p.name));
      for (const p of list(service, "spec.ports")) assert.ok(portNames.has(p.targetPort), `targetPort ${String(p.targetPort)}`);
    });
  }

  test("shards: headless governing Service, stable id and address from the pod name, a data volume", () => {
    const sts = find("StatefulSet", "taj-shard")!;
    assert.equal(at(find("Service", String(at(sts, "spec.serviceName"))), "spec.clusterIP"), "None");
    const env = Object.fromEntries(list(sts, "spec.template.spec.containers.0.env").map((e) => [e.name, e]));
    assert.equal(at(env.SHARD_ID, "value"), "$(POD_NAME)");
    assert.match(String(at(env.ADVERTISE_ADDRESS, "value")), /^\$\(POD_NAME\)\.taj-shard\..+:7000$/);
    assert.equal(at(env.DATA_DIR, "value"), "/data");
  });
});

describe("deploy/k8s overlays", () => {
  for (const site of ["a", "b"]) {
    test(`site-${site}: own namespace, SITE=${site}, patches only existing ConfigMap keys, own site first`, () => {
      const overlay = docs(join(k8s, "overlays", `site-${site}`, "kustomization.yaml"))[0]!;
      assert.equal(overlay.namespace, `taj-site-${site}`);
      for (const r of list(overlay, "resources") as unknown as string[]) assert.ok(existsSync(join(k8s, "overlays", `site-${site}`, r)));
      const data = { ...(at(configMap, "data") as Record<string, string>) };
      for (const p of list(overlay, "patches")) {
        assert.equal(at(p, "target.kind"), "ConfigMap");
        for (const op of patchOps(String(p.patch))) {
          assert.equal(op.op, "replace");
          const key = String(op.path).replace(/^\/data\//, "");
          assert.ok(key in data, `patched key ${key} exists in the base`);
          data[key] = String(op.value);
        }
      }
      assert.equal(data.SITE, site);
      assert.match(data.NATS_URLS!, new RegExp(`^nats://nats-${site}\\.`));
      assert.match(data.ETCD_ENDPOINTS!, new RegExp(`^https://etcd-${site}\\.`));
      assert.equal(data.COORDINATOR_ADDRESSES!.split(",").length, 2, "local coordinator, then the other site's");
    });
  }
});

function patchOps(text: string): Obj[] {
  const value = parseAllDocuments(text)[0]?.toJS() as unknown;
  assert.ok(Array.isArray(value), "a JSON patch is a list of operations");
  return value as Obj[];
}
