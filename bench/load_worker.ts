/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
// Worker entry for the load generator: its own thread and event loop, so the
// orchestrator (child pipes, timers) never delays the client's reads.

import {
  closedLoop,
  type ClosedLoopOptions,
  type ClosedLoopResult,
  type StreamOptions,
  type StreamResult,
  streamSequential,
} from "./load_gen.ts";

export type LoadJob =
  | { id: number; kind: "closed"; options: ClosedLoopOptions }
  | { id: number; kind: "stream"; options: StreamOptions };

export type LoadReply =
  | { id: number; kind: "closed"; result: ClosedLoopResult }
  | { id: number; kind: "stream"; result: StreamResult }
  | { id: number; kind: "error"; message: string };

self.onmessage = async (event: MessageEvent<LoadJob>): Promise<void> => {
  const job = event.data;
  let reply: LoadReply;
  try {
    reply = job.kind === "closed"
      ? { id: job.id, kind: "closed", result: await closedLoop(job.options) }
      : { id: job.id, kind: "stream", result: await streamSequential(job.options) };
  } catch (e) {
    reply = { id: job.id, kind: "error", message: e instanceof Error ? e.message : String(e) };
  }
  self.postMessage(reply);
};
