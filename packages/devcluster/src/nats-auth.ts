import { AUDIT_STREAM, TEMPLATE_STREAM, natsInboxPrefix, type PeerKind, type TlsFiles } from "@taj/common";
import { kindUri } from "./pki.ts";

interface Permissions {
  publish: { allow: string[]; deny?: string[] };
  subscribe: { allow: string[] };
}

const api = (suffix: string) => `$JS.API.${suffix}`;
const onStream = (stream: string, ...verbs: string[]) => verbs.map((v) => api(`${v}.${stream}`));
const underStream = (stream: string, ...verbs: string[]) => verbs.map((v) => api(`${v}.${stream}.>`));

/**
 * What each kind may do on NATS; a kind not listed (coordinator, extractor: they never connect)
 * has no user and is refused. admin (bootstrap, tajctl, tests, drills, the bench) may do all.
 * The JetStream API subjects are those nats.js 2.29 was seen using (permission violations in the
 * server log while the face-search test, the gateway and the shards ran; see docs/security.md).
 */
export const NATS_PERMISSIONS: Partial<Record<PeerKind, Permissions>> = {
  gateway: {
    publish: {
      allow: [
        "taj.tpl.>", "taj.audit.>", api("INFO"),
        // Info (the start-up verification, StreamWatch) and reads; never create, update, delete or
        // purge: the streams are the cluster bootstrap's (admin: devcluster, `tajctl init`).
        ...[TEMPLATE_STREAM, AUDIT_STREAM].flatMap((s) => [
          ...onStream(s, "STREAM.INFO", "STREAM.MSG.GET", "DIRECT.GET"), ...underStream(s, "DIRECT.GET"),
        ]),
        // A write erases the message it replaces (docs/data-protection.md); only on the template log.
        ...onStream(TEMPLATE_STREAM, "STREAM.MSG.DELETE"),
        // Audit queries read TAJ_AUDIT through (ordered) consumers, and so does a model's drop
        // (DropModelTemplates) read the template log.
        ...[AUDIT_STREAM, TEMPLATE_STREAM].flatMap((s) => [
          ...onStream(s, "CONSUMER.CREATE"), ...underStream(s, "CONSUMER.CREATE", "CONSUMER.INFO", "CONSUMER.DELETE", "CONSUMER.MSG.NEXT"),
        ]),
        `$JS.ACK.${AUDIT_STREAM}.>`,
      ],
    },
    subscribe: { allow: [`${natsInboxPrefix("gateway")}.>`] },
  },
  shard: {
    publish: {
      allow: [
        api("INFO"), ...onStream(TEMPLATE_STREAM, "STREAM.INFO", "CONSUMER.CREATE"),
        ...underStream(TEMPLATE_STREAM, "CONSUMER.CREATE", "CONSUMER.INFO", "CONSUMER.DELETE", "CONSUMER.MSG.NEXT"),
        `$JS.ACK.${TEMPLATE_STREAM}.>`,
      ],
      // Belt and braces: a shard never writes the log, whatever is allowed above.
      deny: ["taj.>"],
    },
    subscribe: { allow: [`${natsInboxPrefix("shard")}.>`] },
  },
};

/** The tls and authorization blocks of a node's config: TLS only, users mapped from the certificate. */
export function natsSecurityConfig(server: TlsFiles): string {
  const tls = `cert_file: ${JSON.stringify(server.certFile)}
  key_file: ${JSON.stringify(server.keyFile)}
  ca_file: ${JSON.stringify(server.caFile)}`;
  const users = [
    `    { user: ${JSON.stringify(kindUri("admin"))} }`,
    ...Object.entries(NATS_PERMISSIONS).map(
      ([kind, p]) => `    { user: ${JSON.stringify(kindUri(kind as PeerKind))}, permissions: ${JSON.stringify(p)} }`,
    ),
  ];
  return `tls {
  ${tls}
  verify_and_map: true
  timeout: 2
}
authorization {
  users: [
${users.join("\n")}
  ]
}
`;
}

/** The tls block of the cluster (routes): mutual TLS between nodes. */
export function natsRouteTls(server: TlsFiles): string {
  return `  tls {
    cert_file: ${JSON.stringify(server.certFile)}
    key_file: ${JSON.stringify(server.keyFile)}
    ca_file: ${JSON.stringify(server.caFile)}
    verify: true
    timeout: 2
  }
`;
}
