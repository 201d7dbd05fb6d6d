export {
  DATA_UNION_EVENT_TYPES,
  compareEventPositions,
  toDataUnionEvent,
  type DataUnionEvent,
  type DataUnionEventBody,
  type DataUnionEventType,
  type DecodedDataUnionLog,
  type EventPosition,
} from './events.js'
export { MemberMerkleTree, hashPair, memberLeafHash, rootFromPath, type MemberRecord } from './merkle.js'
export {
  MAX_FEE_BPS as DATA_UNION_MAX_FEE_BPS,
  PRECISION as DATA_UNION_PRECISION,
  earningsOf,
  stateHashOf,
  totalsHash,
  verifyMemberProof,
  type DataUnionTotals,
  type MemberEarnings,
  type MemberProof,
} from './stateHash.js'
export {
  DataUnionState,
  MEMBER_STATUS,
  type BlockCommit,
  type BlockSnapshot,
  type DataUnionStateOptions,
  type DataUnionStats,
  type MemberView,
  type StateProblem,
} from './DataUnionState.js'
export * from './json.js'
