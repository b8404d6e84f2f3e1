import { test } from "node:test";
import assert from "node:assert/strict";
import { auditSubject } from "@taj/common";
import { GatewayConfig } from "../src/config.ts";
import { TLS_ENV_PLACEHOLDERS } from "./fixtures/tls.ts";

const base = { ...TLS_ENV_PLACEHOLDERS, SITE: "b", EXTRACTOR_ADDRESSES: "h:1", COORDINATOR_ADDRESSES: "h:2", NATS_URLS: "nats://h:3", ETCD_ENDPOINTS: "http://h:4", OIDC_JWKS_FILE: "/x", OIDC_ISSUER: "i", OIDC_AUDIENCE: "a" };

test("GATEWAY_ID defaults to gateway-<SITE>; the audit settings have their documented defaults", () => {
  const c = GatewayConfig.parse(base);
  assert.deepEqual(
    [c.GATEWAY_ID, c.AUDIT_APPEND_TIMEOUT_MS, c.AUDIT_QUERY_SCAN_LIMIT, c.AUDIT_FEEDBACK_SCAN_LIMIT, c.AUDIT_SUMMARY_SCAN_LIMIT],
    ["gateway-b", 2000, 10_000, 200_000, 2_000_000],
  );
  assert.equal(auditSubject(c.GATEWAY_ID), "taj.audit.gateway-b");
  assert.equal(GatewayConfig.parse({ ...base, GATEWAY_ID: "gw_b-2" }).GATEWAY_ID, "gw_b-2");
});

test("a GATEWAY_ID that is not one safe subject token is refused at start", () => {
  for (const bad of ["a.b", "gw*", "gw>", "gw 1", "", "x".repeat(65), "gw\n"]) {
    assert.equal(GatewayConfig.safeParse({ ...base, GATEWAY_ID: bad }).success, false, JSON.stringify(bad));
    assert.throws(() => auditSubject(bad));
  }
});
