import { placementOf, type ChainStateCache } from '@runnel/chain'
import { splitStreamPartId, type PlacementConstraint, type StreamPartId } from '@runnel/protocol'
import { errorMetadata, type ClientLogger } from '../logger.js'

/**
 * A stream part's placement constraint, from its stream's metadata (through the chain-state cache). A stream that
 * can't be read (not on chain, the chain unreachable) has none as far as this node knows: joining still works as
 * it did without placement, and the nodes that did read it refuse this one if it is outside.
 *
 * @throws {@link ChainError} `INVALID_METADATA` when the stored placement is malformed (the owner meant a constraint)
 */
export async function placementOfStreamPart(
  chainState: Pick<ChainStateCache, 'getStream'>,
  streamPartId: StreamPartId,
  logger: ClientLogger,
): Promise<PlacementConstraint | undefined> {
  const { streamId } = splitStreamPartId(streamPartId)
  let metadata
  try {
    metadata = (await chainState.getStream(streamId)).metadata
  } catch (err) {
    logger.debug('joining without a placement constraint: the stream could not be read', {
      streamPartId,
      ...errorMetadata(err),
    })
    return undefined
  }
  return placementOf(metadata)
}
