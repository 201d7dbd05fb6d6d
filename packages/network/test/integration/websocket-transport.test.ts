import { WebSocketTransport } from '../../src/node/index.js'
import { describeTransportCompliance } from '../compliance/transportCompliance.js'

describeTransportCompliance('WebSocket (ws, 127.0.0.1)', () =>
  Promise.resolve({
    createTransport: () => new WebSocketTransport({ host: '127.0.0.1', port: 0 }),
    // Port 1 is privileged and never listened on by tests.
    unreachableAddress: 'ws://127.0.0.1:1',
    cleanup: () => Promise.resolve(),
  }),
)
