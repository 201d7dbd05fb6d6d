export { dataUnionJoinPluginSchema, type DataUnionJoinPluginConfig } from './config.js'
export {
  DataUnionJoinPlugin,
  type DataUnionJoinComponents,
  type JoinCheck,
  type JoinPartRecord,
} from './DataUnionJoinPlugin.js'
export {
  MAX_JOIN_METADATA_LENGTH,
  joinRequestMessage,
  type JoinRequest,
  type JoinRequestFields,
  type MembershipAction,
} from './joinRequest.js'
export { MarketMembership, type DataUnionMembership } from './membership.js'
