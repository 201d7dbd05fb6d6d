export { ProtocolError, type ProtocolErrorCode } from './ProtocolError.js'
export {
  ERROR_CATEGORIES,
  RunnelError,
  errorCategoryOf,
  shortMessageOf,
  walkCauses,
  type ErrorCategory,
  type ErrorCategoryInfo,
  type RunnelErrorOptions,
} from './RunnelError.js'
export { describeValue, escapeControlCharacters } from './text.js'
