import { z } from 'zod'

const address = z
  .string()
  .regex(/^0x[0-9a-fA-F]{40}$/, 'an 0x-prefixed 20-byte hex address')
  .transform((value) => value.toLowerCase() as `0x${string}`)
const httpUrl = z.string().regex(/^https?:\/\/\S+$/, 'an http:// or https:// URL')

/** One Data Union the state server follows. */
const dataUnionSection = z.strictObject({
  /**
   * The union's join/part stream (what a join server publishes to). Its records only wake the server up and are
   * shown beside members: the state and its hash come from chain events alone.
   */
  joinPartStream: z.string().min(1).optional(),
})

/**
 * A replicated Data Union state server (docs/marketplace.md, "Replicated state servers"): builds each union's state
 * from chain events, hashes it after every block, answers queries and compares its hashes with its peers'.
 */
export const dataUnionStatePluginSchema = z.strictObject({
  host: z.string().min(1).default('127.0.0.1'),
  port: z.number().int().min(0).max(65535).default(7174),
  /** The unions followed, by address. */
  dataUnions: z
    .record(address, dataUnionSection)
    .refine((unions) => Object.keys(unions).length > 0, 'name at least one Data Union'),
  /** Sent in each answer's `x-runnel-instance` header. Default: a random id. */
  instanceId: z.string().min(1).max(64).optional(),
  /** The other instances' base URLs: hashes are compared with theirs to find one that diverged. */
  peers: z.array(httpUrl).max(32).default([]),
  /** First block read: at or before the unions' creation. Default 0. */
  fromBlock: z.number().int().min(0).optional(),
  /** Blocks left unread below the chain's head (against reorgs). Default 0. */
  confirmations: z.number().int().min(0).max(1_000).default(0),
  /** Blocks whose state hash is kept. */
  historyBlocks: z.number().int().min(10).max(1_000_000).default(10_000),
  pollIntervalMs: z.number().int().min(50).max(600_000).default(1_000),
  peerCheckIntervalMs: z.number().int().min(100).max(3_600_000).default(5_000),
})

export type DataUnionStatePluginConfig = z.output<typeof dataUnionStatePluginSchema>
