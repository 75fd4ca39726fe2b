// A broker with its observers wired in: traffic counters, $SYS and taps. The edge object and the
// Node tests build it the same way.
import { Broker, type BrokerOptions } from '../broker.ts';
import { Metrics, type Counters } from './metrics.ts';
import { SysRetainedStore } from './sys-retained-store.ts';
import { SysTopics } from './sys-topics.ts';
import { Taps } from './taps.ts';

export interface Observed {
  broker: Broker;
  metrics: Metrics;
  sys: SysTopics;
  taps: Taps;
}

/**
 * `saved` are counters from an earlier run of this namespace; `figures` are $SYS topics the host
 * adds, `more` those whose topics change (rules').
 */
export function observedBroker(
  options: BrokerOptions, saved?: Partial<Counters>, figures: ReadonlyArray<readonly [string, () => string | number]> = [],
  more?: () => ReadonlyArray<readonly [string, string | number]>,
): Observed {
  const retained = new SysRetainedStore(options.retained);
  const broker = new Broker({ ...options, retained });
  const metrics = new Metrics(broker, saved);
  const sys = new SysTopics(broker, metrics.counters, figures, more);
  const taps = new Taps(broker);
  retained.sys = (filter) => sys.retained(filter);
  for (const hooks of [sys.hooks, metrics.hooks, taps.hooks]) broker.hooks.add(hooks);
  return { broker, metrics, sys, taps };
}
