import { z } from 'zod'

const address = z
  .string()
  .regex(/^0x[0-9a-fA-F]{40}$/, 'an 0x-prefixed 20-byte hex address')
  .transform((value) => value.toLowerCase() as `0x${string}`)
const timeoutMs = z.number().int().min(100).max(3_600_000)

/** One Data Union the join server serves. */
const dataUnionSection = z.strictObject({
  /**
   * Shared secrets the app hands its users: a join must carry one of them. Absent: any signed join is accepted (unless
   * the embedder's `check` refuses it).
   */
  secrets: z.array(z.string().min(8, 'at least 8 characters').max(256)).min(1).optional(),
  /**
   * Admit any member who signs a request, with no secret and no app check. Off unless said: an open union can be
   * filled with throwaway members that dilute everyone's share, each costing the node's key gas.
   */
  open: z.boolean().default(false),
  /** A stream the node publishes `{ type: 'join' | 'part', member, txHash, metadata }` to (its key needs publish). */
  joinPartStream: z.string().min(1).optional(),
})

/**
 * The join server (docs/node.md, "Data Union join server"): members sign a request, and the node's key (a join agent
 * of the union) adds them on chain.
 */
export const dataUnionJoinPluginSchema = z.strictObject({
  host: z.string().min(1).default('127.0.0.1'),
  port: z.number().int().min(0).max(65535).default(7173),
  /** The unions served, by address. */
  dataUnions: z
    .record(address, dataUnionSection)
    .refine((unions) => Object.keys(unions).length > 0, 'name at least one Data Union'),
  /** How far a request's timestamp may be from the node's clock; a signature is remembered this long (against replays). */
  maxClockSkewMs: z.number().int().min(1_000).max(3_600_000).default(300_000),
  /** Largest request body, in bytes. */
  maxBodyBytes: z.number().int().min(256).max(65_536).default(4_096),
  /** Requests each IP address may make per minute (bursts of a sixth of it, at least 1). */
  requestsPerMinute: z.number().int().min(1).max(1_000_000).default(30),
  /** Signatures remembered at once: beyond it, requests are refused (429) until some expire. */
  maxRemembered: z.number().int().min(100).max(10_000_000).default(100_000),
  headersTimeoutMs: timeoutMs.default(10_000),
  requestTimeoutMs: timeoutMs.default(30_000),
  keepAliveTimeoutMs: timeoutMs.default(5_000),
  maxConnections: z.number().int().min(1).max(1_000_000).default(1_000),
})

export type DataUnionJoinPluginConfig = z.output<typeof dataUnionJoinPluginSchema>
