// Trackerless, 250 nodes starting at the same instant (a cold start: no node holds an entry-point record yet, so
// they must find each other as seekers of the stream part's key) while node 0 publishes every 100 ms. The same checks
// as simulator-dht.test.ts; ~20 s.
import { describe, it } from 'node:test'
import { formsAndDelivers } from './trackerlessRun.js'

describe("250 trackerless nodes starting at once on the simulator's virtual time", () => {
  it('find each other before any holds a record, form (every node 3+ neighbours) and get every message', () =>
    formsAndDelivers({ nodes: 250 }))
})
