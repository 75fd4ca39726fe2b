// The action kinds this build knows, by the name a rule's `action.kind` gives.
import type { ActionKind } from '../action.ts';
import { analyticsEngineAction } from './analytics-engine.ts';
import { d1Action } from './d1.ts';
import { queueAction } from './queue.ts';
import { r2Action } from './r2.ts';
import { republish } from './republish.ts';
import { webhook } from './webhook.ts';

export const actionKinds: ReadonlyMap<string, ActionKind> = new Map<string, ActionKind>(
  ([republish, webhook, queueAction, r2Action, d1Action, analyticsEngineAction] as ActionKind[]).map((k) => [k.kind, k]),
);
