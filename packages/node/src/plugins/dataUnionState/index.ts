export {
  DataUnionStateServer,
  type DataUnionStateServerComponents,
  type DataUnionStateServerEvents,
  type DataUnionStateServerOptions,
  type MemberStreamRecord,
  type Repeat,
  type StateServerLogger,
} from './DataUnionStateServer.js'
export type { DivergenceReport, PeerComparison, PeerHash } from './PeerCheck.js'
export { INSTANCE_HEADER, MAX_MEMBERS_PAGE, type MemberRequest } from './routes.js'
export type { ChainLogSource, EventFilter, SyncResult } from './UnionFollower.js'
