import { readFileSync } from "node:fs";
import { Metadata } from "@grpc/grpc-js";
import { Option, type Command } from "commander";
import { channelCredentials, createClient, tokenCallerCredentials, type TlsFiles } from "@taj/common";
import { MatchingService } from "@taj/proto";

export interface GatewayFlags {
  gateway: string;
  token?: string;
  tokenFile?: string;
}

/** The gateway's address and the caller's token, for the commands that call the public API. */
export function gatewayOptions(cmd: Command, role: string): Command {
  return cmd
    .addOption(new Option("--gateway <host:port>", "the gateway's public API").env("TAJ_GATEWAY").makeOptionMandatory())
    .addOption(new Option("--token <jwt>", `OIDC bearer token with the ${role} role (else the --tls-cert identity is the caller)`).env("TAJ_TOKEN").conflicts("tokenFile"))
    .addOption(new Option("--token-file <path>", "file holding the bearer token").env("TAJ_TOKEN_FILE"));
}

/**
 * The gateway client and call metadata of a person (bearer token, over TLS without a client
 * certificate: the gateway refuses a call carrying both) or else of the operator's certificate.
 */
export function gatewayCaller(flags: GatewayFlags, tls: TlsFiles) {
  const token = flags.token ?? (flags.tokenFile ? readFileSync(flags.tokenFile, "utf8").trim() : undefined);
  const metadata = new Metadata();
  if (token) metadata.set("authorization", `Bearer ${token}`);
  const credentials = token ? tokenCallerCredentials(tls.caFile) : channelCredentials(tls);
  return { client: createClient(MatchingService, flags.gateway, credentials), metadata };
}
