export { planBalanced, checkPlan, shardsAfter, shardsForCount, compareShardIds, PlanError, type Plan, type Move, type SiteAssignment } from "./plan.ts";
export { executePlan, MoveError, type MoveReport, type MoveProgress, type ExecuteOptions } from "./move.ts";
export { runChange, planChange, assignedShards, idleShards, type Change, type RunOptions } from "./operations.ts";
export { acquireMoveLock, LockBusyError, MOVE_LOCK_KEY } from "./lock.ts";
export { readLayout, updateAssignment, etcdClient, type Layout } from "./layout.ts";
export { gatherStatus, buildReport, ranges, type StatusReport, type ShardRow, type SiteRow } from "./status.ts";
export { renderStatus, renderPlan, renderMoves } from "./render.ts";
export { buildProgram } from "./cli.ts";
export { verifyStream, readExport, exportLine, renderVerify, streamMessages, type ExportLine, type FileProblem } from "./audit.ts";
