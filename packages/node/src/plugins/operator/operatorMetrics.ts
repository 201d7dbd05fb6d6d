import { Counter, Gauge, type Registry } from 'prom-client'

/** The operator plugin's Prometheus metrics (docs: the node README's metrics table). */
export interface OperatorMetrics {
  readonly streamParts: Gauge
  readonly heartbeats: Counter<'result'>
  readonly withdrawals: Counter<'result'>
  readonly votes: Counter<'vote'>
  readonly pollFailures: Counter
  readonly autoInspections: Counter<'verdict'>
  readonly autoFlags: Counter<'result'>
}

export function createOperatorMetrics(registry: Registry): OperatorMetrics {
  const registers = [registry]
  return {
    streamParts: new Gauge({
      name: 'runnel_operator_stream_parts',
      help: 'Stream parts this node relays for its operator',
      registers,
    }),
    heartbeats: new Counter({
      name: 'runnel_operator_heartbeats_total',
      help: 'Heartbeats sent (result: sent, failed)',
      labelNames: ['result'],
      registers,
    }),
    withdrawals: new Counter({
      name: 'runnel_operator_withdrawals_total',
      help: 'Earnings collections (result: sent, failed)',
      labelNames: ['result'],
      registers,
    }),
    votes: new Counter({
      name: 'runnel_operator_votes_total',
      help: 'Votes cast on flags after an inspection (vote: kick, keep)',
      labelNames: ['vote'],
      registers,
    }),
    pollFailures: new Counter({
      name: 'runnel_operator_poll_failures_total',
      help: 'Polls of the chain that failed (retried on the next poll)',
      registers,
    }),
    autoInspections: new Counter({
      name: 'runnel_operator_auto_inspections_total',
      help: 'Inspections of other operators unasked (verdict: kick, keep)',
      labelNames: ['verdict'],
      registers,
    }),
    autoFlags: new Counter({
      name: 'runnel_operator_auto_flags_total',
      help: 'Flags sent after inspections in a row found an operator relaying too little (result: sent, refused, failed)',
      labelNames: ['result'],
      registers,
    }),
  }
}
