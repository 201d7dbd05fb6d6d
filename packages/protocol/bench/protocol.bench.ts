// Protocol hot-path throughput: encode, decode, sign and verify with a
// 100-byte JSON payload. Run with `npm run bench`; figures go in docs/benchmarks.md.
import { Bench } from 'tinybench'
import {
  ContentType,
  MessageId,
  MessageRef,
  createPureSigner,
  decodeStreamMessage,
  encodeJsonContent,
  encodeStreamMessage,
  generatePrivateKey,
  pureSignatureVerifier,
  signStreamMessage,
  toStreamId,
  verifyStreamMessage,
  type UnsignedStreamMessageFields,
} from '../src/index.js'
import { createNativeSigner, nativeSignatureVerifier } from '../src/native/index.js'

const TARGETS: Record<string, number> = { decode: 500_000, 'verify (native)': 20_000 }

const key = generatePrivateKey()
const pureSigner = createPureSigner(key)
const nativeSigner = createNativeSigner(key)
const content = encodeJsonContent({ sensor: 'greenhouse-1', celsius: 21.5, humidity: 0.43, note: 'x'.repeat(34) })
if (content.length !== 100) throw new Error(`payload is ${content.length} bytes, expected 100`)
const fields: UnsignedStreamMessageFields = {
  messageId: new MessageId(toStreamId(pureSigner.address, '/sensors/temperature'), 0, Date.now(), 1, pureSigner.address, 'chain-1'),
  prevMsgRef: new MessageRef(Date.now() - 1000, 0),
  contentType: ContentType.Json,
  content,
}
const message = await signStreamMessage(fields, pureSigner)
const bytes = encodeStreamMessage(message)
console.log(`message: ${content.length}-byte JSON payload, ${bytes.length} bytes encoded`)

const bench = new Bench({ time: Number(process.env.BENCH_TIME_MS ?? 1500), warmupTime: 300 })
bench
  .add('encode', () => {
    encodeStreamMessage(message)
  })
  .add('decode', () => {
    decodeStreamMessage(bytes)
  })
  .add('sign (pure-JS)', async () => {
    await signStreamMessage(fields, pureSigner)
  })
  .add('sign (native)', async () => {
    await signStreamMessage(fields, nativeSigner)
  })
  .add('verify (pure-JS)', () => {
    if (!verifyStreamMessage(message, pureSignatureVerifier)) throw new Error('verification failed')
  })
  .add('verify (native)', () => {
    if (!verifyStreamMessage(message, nativeSignatureVerifier)) throw new Error('verification failed')
  })
  .add('decode + verify (native)', () => {
    if (!verifyStreamMessage(decodeStreamMessage(bytes), nativeSignatureVerifier)) throw new Error('verification failed')
  })
await bench.run()

console.table(
  bench.tasks.map((task) => {
    const result = task.result
    if (result.state !== 'completed') throw new Error(`${task.name}: ${result.state}`)
    const opsPerSecond = Math.round(1000 / result.latency.mean)
    const target = TARGETS[task.name]
    return {
      operation: task.name,
      'ops/s': opsPerSecond.toLocaleString('en-US'),
      'mean µs': (result.latency.mean * 1000).toFixed(2),
      'p99 µs': (result.latency.p99 * 1000).toFixed(2),
      target: target === undefined ? '' : `≥ ${target.toLocaleString('en-US')} ${opsPerSecond >= target ? 'met' : 'MISSED'}`,
    }
  }),
)
