import { z } from "zod";
import { tlsEnv } from "./tls.ts";

/**
 * Parses the environment once at start-up. On a bad value the process stops at once with
 * every problem listed, rather than failing later in the middle of a request.
 */
export function loadConfig<T extends z.ZodType>(schema: T, env: NodeJS.ProcessEnv = process.env): z.infer<T> {
  const result = schema.safeParse(env);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `  ${i.path.join(".") || "(env)"}: ${i.message}`);
    process.stderr.write(`invalid configuration:\n${problems.join("\n")}\n`);
    process.exit(78); // EX_CONFIG
  }
  return result.data;
}

/** host:port as a string, e.g. "127.0.0.1:7001". */
export const hostPort = z.string().regex(/^[^\s:]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/, "expected host:port");
export const port = z.coerce.number().int().min(0).max(65535);
/** Comma-separated list in one variable. */
export const csv = z.string().transform((s) => s.split(",").map((x) => x.trim()).filter((x) => x.length > 0));
export const siteName = z.string().regex(/^[a-z][a-z0-9-]{0,30}$/, "site names are lower-case letters, digits, '-'");

/** Settings every service has. */
export const commonEnv = {
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace"]).default("info"),
  METRICS_PORT: port.default(0),
  ...tlsEnv,
};
