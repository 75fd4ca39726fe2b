// The action kinds this build knows, by the name a rule's `action.kind` gives.
import type { ActionKind } from '../action.ts';
import { republish } from './republish.ts';
import { webhook } from './webhook.ts';

export const actionKinds: ReadonlyMap<string, ActionKind> = new Map<string, ActionKind>(
  ([republish, webhook] as ActionKind[]).map((k) => [k.kind, k]),
);
