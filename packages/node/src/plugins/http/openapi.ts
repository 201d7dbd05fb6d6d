import { API_ERROR_CODES } from '../../errors.js'
import type { NodeInfo } from '../../NodeInfo.js'

const errorResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
})

/** The OpenAPI 3.1 description of the node's HTTP API, served at `/openapi.json`. */
export function openApiDocument(info: NodeInfo): Record<string, unknown> {
  const security = info.apiKeysRequired ? [{ bearer: [] }, { queryKey: [] }] : []
  return {
    openapi: '3.1.0',
    info: {
      title: 'Runnel node HTTP API',
      version: info.version,
      description:
        "Publish to Runnel streams over HTTP. The node signs each message with its own key, so the node's address needs publish permission on the stream. Subscribe over WebSocket (`/streams/{streamId}/subscribe`) or MQTT.",
    },
    servers: info.endpoints.http === undefined ? [] : [{ url: info.endpoints.http }],
    security,
    paths: {
      '/streams/{streamId}': {
        post: {
          summary: 'Publish a message, or a batch of them',
          description:
            'The body is the message: JSON unless Content-Type is application/octet-stream, which publishes the bytes as binary content. ' +
            'With Content-Type application/x-ndjson (or application/ndjson, application/jsonl) each non-blank line is one JSON message, ' +
            'published in order; every line is checked first, so a bad one refuses the whole batch. If a publish fails midway, ' +
            'the error response says how many were published before it.',
          parameters: [
            {
              name: 'streamId',
              in: 'path',
              required: true,
              description: 'The stream id, URL-encoded (e.g. 0xabc…%2Fsensors)',
              schema: { type: 'string' },
            },
            { name: 'partition', in: 'query', schema: { type: 'integer', minimum: 0, maximum: 99 } },
            {
              name: 'partitionKey',
              in: 'query',
              description: 'Messages with one key go to one partition',
              schema: { type: 'string' },
            },
            {
              name: 'partitionKeyField',
              in: 'query',
              description: 'Take the partition key from this field of the JSON body',
              schema: { type: 'string' },
            },
            {
              name: 'timestamp',
              in: 'query',
              description: 'Milliseconds since 1970 or ISO-8601; default now',
              schema: { type: 'string' },
            },
            {
              name: 'msgChainId',
              in: 'query',
              description: 'Publish on a named message chain',
              schema: { type: 'string' },
            },
            {
              name: 'payloadMetadata',
              in: 'query',
              description:
                'Each JSON message is { "content": …, "metadata": { "timestamp", "partitionKey", "msgChainId" } }; metadata overrides the query',
              schema: { type: 'boolean', default: false },
            },
            {
              name: 'ack',
              in: 'query',
              description:
                'stored: answer once a storage node of the stream committed the message (a batch: all of it); 504 NOT_STORED if none confirmed in time',
              schema: { type: 'string', enum: ['accepted', 'stored'], default: 'accepted' },
            },
            {
              name: 'Runnel-Ack',
              in: 'header',
              description: 'The same as the ack query parameter',
              schema: { type: 'string', enum: ['accepted', 'stored'] },
            },
            {
              name: 'minStorageNodes',
              in: 'query',
              description: 'With ack=stored: how many storage nodes must confirm',
              schema: { type: 'integer', minimum: 1, maximum: 100, default: 1 },
            },
            {
              name: 'ackTimeoutMs',
              in: 'query',
              description: "With ack=stored: how long to wait; default the node's storedAckTimeoutMs",
              schema: { type: 'integer', minimum: 1, maximum: 600_000 },
            },
          ],
          requestBody: {
            required: true,
            content: {
              'application/json': { schema: {} },
              'application/octet-stream': { schema: { type: 'string', format: 'binary' } },
              'application/x-ndjson': { schema: { type: 'string', description: 'One JSON message per line' } },
            },
          },
          responses: {
            '200': {
              description: 'Published: the message, or for a batch { count, messages } in the order sent',
              content: {
                'application/json': {
                  schema: {
                    oneOf: [
                      { $ref: '#/components/schemas/PublishedMessage' },
                      {
                        type: 'object',
                        required: ['count', 'messages'],
                        properties: {
                          count: { type: 'integer' },
                          messages: { type: 'array', items: { $ref: '#/components/schemas/PublishedMessage' } },
                        },
                      },
                    ],
                  },
                },
              },
            },
            '400': errorResponse('Bad JSON, a bad query parameter, or a partition the stream does not have'),
            '401': errorResponse('API key missing or wrong'),
            '403': errorResponse("The node's address may not publish to the stream"),
            '404': errorResponse('No such stream'),
            '413': errorResponse(
              'The body, a message of a batch, or the number of messages in a batch is larger than the node accepts',
            ),
            '503': errorResponse('ack=stored on a stream no storage node stores'),
            '504': errorResponse(
              'ack=stored and no storage node confirmed in time (NOT_STORED): published, and may still be stored',
            ),
          },
        },
      },
      '/streams/{streamId}/data/partitions/{partition}/{kind}': {
        get: {
          summary: 'Read stored history (storage nodes)',
          description:
            'last: the last `count` messages; from: everything from fromTimestamp/fromSequenceNumber; range: from … to, both included; digests: JSON `{ bucketMs, buckets: [[start, count, digest], …] }` per bucketMs bucket from fromTimestamp (included) to toTimestamp (excluded), what storage nodes compare to repair each other. Messages are streamed as NDJSON (one message per line, with the whole signed message in `message`, base64) or, with format=binary or Accept: application/vnd.runnel.messages, as 4-byte big-endian length-prefixed encoded messages. No API key needed.',
          security: [],
          parameters: [
            { name: 'streamId', in: 'path', required: true, schema: { type: 'string' } },
            { name: 'partition', in: 'path', required: true, schema: { type: 'integer', minimum: 0, maximum: 99 } },
            {
              name: 'kind',
              in: 'path',
              required: true,
              schema: { type: 'string', enum: ['last', 'from', 'range', 'digests'] },
            },
            { name: 'count', in: 'query', schema: { type: 'integer', minimum: 0, maximum: 1_000_000, default: 100 } },
            { name: 'fromTimestamp', in: 'query', schema: { type: 'string' } },
            { name: 'fromSequenceNumber', in: 'query', schema: { type: 'integer', default: 0 } },
            { name: 'toTimestamp', in: 'query', schema: { type: 'string' } },
            { name: 'toSequenceNumber', in: 'query', schema: { type: 'integer' } },
            { name: 'publisherId', in: 'query', schema: { type: 'string' } },
            { name: 'msgChainId', in: 'query', schema: { type: 'string' } },
            { name: 'format', in: 'query', schema: { type: 'string', enum: ['ndjson', 'binary'], default: 'ndjson' } },
            { name: 'bucketMs', in: 'query', schema: { type: 'integer', minimum: 1, default: 60_000 } },
          ],
          responses: {
            '200': {
              description: 'The messages, oldest first',
              content: {
                'application/x-ndjson': { schema: { type: 'string' } },
                'application/vnd.runnel.messages': { schema: { type: 'string', format: 'binary' } },
                'application/json': { schema: { type: 'object' } },
              },
            },
            '400': errorResponse('A bad parameter'),
            '404': errorResponse("This node doesn't store the stream"),
            '503': errorResponse('Storage is unavailable'),
          },
        },
      },
      '/custody/node': {
        get: {
          summary: "Key custody (storage nodes): this node's secp256k1 public key, which publishers seal key shares to",
          description:
            'Check it against the address: keccak256 of the key must end in it. docs/protocol.md, "Key custody".',
          security: [],
          responses: { '200': { description: '{ address, publicKey }' }, '503': errorResponse('Custody is off') },
        },
      },
      '/custody/shares': {
        post: {
          summary:
            'Key custody: a publisher deposits its share of one group key (signed manifest, share sealed to this node)',
          security: [],
          responses: {
            '200': { description: '{ stored }: false when a share of that key was already held (it is kept)' },
            '400': errorResponse("Malformed, a manifest not signed by its publisher, or a share that doesn't open"),
            '403': errorResponse('The publisher may not publish to the stream'),
            '404': errorResponse("This node doesn't store the stream"),
            '413': errorResponse('Over 16 KiB'),
            '429': errorResponse('Too many shares from this publisher in a minute'),
          },
        },
      },
      '/custody/keys': {
        post: {
          summary: "Key custody: a subscriber's signed request for this node's shares, resealed to its one-off key",
          security: [],
          responses: {
            '200': { description: '{ shares: [{ manifest, signature, share }] }' },
            '400': errorResponse('Malformed, stale (over 60 s), or a public key that is not a P-256 point'),
            '401': errorResponse('Not signed by the requester it names'),
            '403': errorResponse('The requester may not subscribe to the stream'),
            '413': errorResponse('Over 16 KiB'),
            '429': errorResponse('Too many requests from this requester in a minute'),
          },
        },
      },
      '/health': {
        get: { summary: 'Liveness', security: [], responses: { '200': { description: 'The node is up' } } },
      },
      '/info': {
        get: {
          summary: "The node's address, version, endpoints and stream parts",
          responses: { '200': { description: 'Node info' } },
        },
      },
      '/metrics': {
        get: { summary: 'Prometheus metrics', responses: { '200': { description: 'Prometheus text format' } } },
      },
      '/openapi.json': {
        get: { summary: 'This document', security: [], responses: { '200': { description: 'OpenAPI 3.1' } } },
      },
    },
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer' },
        queryKey: { type: 'apiKey', in: 'query', name: 'apiKey' },
      },
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          properties: {
            error: {
              type: 'object',
              required: ['code', 'message'],
              properties: {
                code: {
                  type: 'string',
                  enum: [...API_ERROR_CODES],
                },
                message: { type: 'string' },
              },
            },
            published: {
              type: 'integer',
              description: 'Batches only: how many messages were published before the one that failed',
            },
          },
        },
        PublishedMessage: {
          type: 'object',
          properties: {
            streamId: { type: 'string' },
            partition: { type: 'integer' },
            timestamp: { type: 'integer' },
            sequenceNumber: { type: 'integer' },
            publisherId: { type: 'string' },
            msgChainId: { type: 'string' },
          },
        },
      },
    },
  }
}
