export {
  DataUnionStateClient,
  type Answered,
  type ConsistencyReport,
  type DataUnionStateClientComponents,
  type DataUnionStateClientOptions,
  type DivergedInstance,
  type InstanceStatus,
  type VerifiedMember,
} from './DataUnionStateClient.js'
