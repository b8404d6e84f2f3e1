import { test } from "node:test";
import assert from "node:assert/strict";
import { CoordinatorConfig } from "../src/config.ts";
import { searchDeadline } from "../src/service.ts";

// What services/coordinator/README.md says: the caller's deadline is honoured up to
// MAX_SEARCH_TIMEOUT_MS; SEARCH_TIMEOUT_MS is the budget only of a call that set none.
const limits = { searchTimeoutMs: 3_000, maxSearchTimeoutMs: 30_000 };
const now = 1_000_000;

test("a caller's deadline longer than SEARCH_TIMEOUT_MS is kept, not cut to it", () => {
  assert.equal(searchDeadline(now + 10_000, now, limits), now + 10_000);
});

test("a caller's shorter deadline is kept", () => {
  assert.equal(searchDeadline(now + 500, now, limits), now + 500);
});

test("a caller's deadline beyond MAX_SEARCH_TIMEOUT_MS is cut to it", () => {
  assert.equal(searchDeadline(now + 3_600_000, now, limits), now + 30_000);
});

test("without a deadline (Infinity) the search gets SEARCH_TIMEOUT_MS", () => {
  assert.equal(searchDeadline(Number.POSITIVE_INFINITY, now, limits), now + 3_000);
});

test("config: the documented defaults, and a budget above the cap is refused", () => {
  const base = { SITE: "a", ETCD_ENDPOINTS: "https://127.0.0.1:1", TLS_CA_FILE: "/ca", TLS_CERT_FILE: "/c", TLS_KEY_FILE: "/k" };
  const c = CoordinatorConfig.parse(base);
  assert.deepEqual([c.SEARCH_TIMEOUT_MS, c.MAX_SEARCH_TIMEOUT_MS], [3_000, 30_000]);
  assert.equal(CoordinatorConfig.safeParse({ ...base, SEARCH_TIMEOUT_MS: "40000" }).success, false);
});
