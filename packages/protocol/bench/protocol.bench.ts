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
  whenHashingReady,
  type UnsignedStreamMessageFields,
} from '../src/index.js'
import { createNativeSigner, nativeSignatureVerifier } from '../src/native/index.js'

await whenHashingReady()

const TARGETS: Record<string, number> = { decode: 500_000, 'verify (native)': 20_000 }

const key = generatePrivateKey()
const pureSigner = createPureSigner(key)
const nativeSigner = createNativeSigner(key)
const content = encodeJsonContent({ sensor: 'greenhouse-1', celsius: 21.5, humidity: 0.43, note: 'x'.repeat(34) })
if (content.length !== 100) throw new Error(`payload is ${content.length} bytes, expected 100`)
const fields: UnsignedStreamMessageFields = {
  messageId: new MessageId(
    toStreamId(pureSigner.address, '/sensors/temperature'),
    0,
    Date.now(),
    1,
    pureSigner.address,
    'chain-1',
  ),
  prevMsgRef: new MessageRef(Date.now() - 1000, 0),
  contentType: ContentType.Json,
  content,
}
const message = await signStreamMessage(fields, pureSigner)
const bytes = encodeStreamMessage(message)
console.log(`message: ${content.length}-byte JSON payload, ${bytes.length} bytes encoded`)

// Fast operations run in batches per sample, so the timer's own cost
// (~0.1–0.3 µs a reading) doesn't dominate a 2 µs operation.
const batches: Record<string, number> = {}
const bench = new Bench({ time: Number(process.env.BENCH_TIME_MS ?? 1500), warmupTime: 300 })
function add(name: string, batch: number, operation: () => void): void {
  batches[name] = batch
  bench.add(name, () => {
    for (let i = 0; i < batch; i++) operation()
  })
}
function addAsync(name: string, operation: () => Promise<unknown>): void {
  batches[name] = 1
  bench.add(name, async () => {
    await operation()
  })
}
function check(ok: boolean): void {
  if (!ok) throw new Error('verification failed')
}
add('encode', 100, () => encodeStreamMessage(message))
add('decode', 100, () => decodeStreamMessage(bytes))
addAsync('sign (pure-JS)', () => signStreamMessage(fields, pureSigner))
addAsync('sign (native)', () => signStreamMessage(fields, nativeSigner))
add('verify (pure-JS)', 1, () => check(verifyStreamMessage(message, pureSignatureVerifier)))
add('verify (native)', 10, () => check(verifyStreamMessage(message, nativeSignatureVerifier)))
add('decode + verify (native)', 10, () =>
  check(verifyStreamMessage(decodeStreamMessage(bytes), nativeSignatureVerifier)),
)
await bench.run()

console.table(
  bench.tasks.map((task) => {
    const result = task.result
    if (result.state !== 'completed') throw new Error(`${task.name}: ${result.state}`)
    const batch = batches[task.name]!
    const meanMicros = (result.latency.mean * 1000) / batch
    const opsPerSecond = Math.round(1e6 / meanMicros)
    const target = TARGETS[task.name]
    return {
      operation: task.name,
      'ops/s': opsPerSecond.toLocaleString('en-US'),
      'mean µs': meanMicros.toFixed(2),
      target:
        target === undefined ? '' : `≥ ${target.toLocaleString('en-US')} ${opsPerSecond >= target ? 'met' : 'MISSED'}`,
    }
  }),
)
