import { createHash } from 'node:crypto'

/**
 * Rendezvous (highest-random-weight) hashing: every node of an operator ranks the candidates for a key the same way,
 * with no coordination. Removing a node moves only the keys it held, each to the next node in that key's order; the
 * others stay where they were.
 *
 * @example
 * ```ts
 * rendezvousOrder(['0xaa…', '0xbb…'], 'streamId#0') // ['0xbb…', '0xaa…'] on every node
 * ```
 */
export function rendezvousOrder(nodes: readonly string[], key: string): string[] {
  return nodes
    .map((node) => ({ node, weight: weightOf(node.toLowerCase(), key) }))
    .sort((a, b) => (a.weight === b.weight ? a.node.localeCompare(b.node) : a.weight > b.weight ? -1 : 1))
    .map(({ node }) => node)
}

/** The first `replicas` nodes of the key's rendezvous order: the nodes that hold it. */
export function rendezvousHolders(nodes: readonly string[], key: string, replicas: number): string[] {
  return rendezvousOrder(nodes, key).slice(0, replicas)
}

function weightOf(node: string, key: string): bigint {
  return createHash('sha256').update(node).update('\n').update(key).digest().readBigUInt64BE(0)
}
