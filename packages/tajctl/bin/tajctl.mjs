#!/usr/bin/env node
// What npm links as node_modules/.bin/tajctl (`npx tajctl status`). The CLI is TypeScript, run
// the way the services are: tsx's loader first, then the entry point.
import { register } from "tsx/esm/api";

register();
await import("../src/main.ts");
