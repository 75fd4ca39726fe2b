// What one SUBSCRIBE may cost in retained messages: messages and bytes sent, rows examined. A
// store takes from the budget as it looks up and stops when it runs out, so a filter over a large
// retained set neither loads it whole nor reads it whole; what is left out is counted.
import type { BrokerConfig } from './config.ts';

export interface RetainedBudget {
  /** Retained messages still to send. */
  messages: number;
  /** Payload bytes still to send. */
  bytes: number;
  /** Stored messages a look-up may still examine (rows read, on SQLite). */
  rows: number;
  /** Matching messages left out so far; a scan cut short by `rows` counts one. */
  skipped: number;
}

export function retainedBudget(config: BrokerConfig): RetainedBudget {
  return { messages: config.maxRetainedPerSubscribe, bytes: config.maxRetainedBytesPerSubscribe, rows: config.maxRetainedScanPerSubscribe, skipped: 0 };
}

/** Takes a matching message of `bytes` payload bytes; false, and counted as skipped, when it does not fit. */
export function take(budget: RetainedBudget | undefined, bytes: number): boolean {
  if (!budget) return true;
  if (budget.messages < 1 || budget.bytes < bytes) return void budget.skipped++, false;
  budget.messages--;
  budget.bytes -= bytes;
  return true;
}

/** How many more stored messages a look-up may examine (Infinity without a budget). */
export function rowsLeft(budget: RetainedBudget | undefined): number {
  return budget ? Math.max(0, budget.rows) : Infinity;
}
