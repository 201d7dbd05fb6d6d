// `npm start`. Until the node daemon and CLI land (issue 6) there is no
// network to start; say so plainly and point at what does exist.
console.log(`Runnel ${process.env.npm_package_version ?? ''}

The local network (embedded chain, tracker, nodes, storage) is not built yet;
\`npm start\` will start it once the node daemon and CLI land.

What works today:
  npm test        run every package's tests
  npm run bench   benchmarks: protocol (encode, decode, sign, verify), network
                  (formation, latency, throughput, CPU, bytes, memory), chain
                  (permission look-ups with and without the cache)
  packages/protocol  ids, messages, wire codec and signatures (docs/protocol.md)
  packages/network   trackers, nodes and overlays over WebSocket (docs/network.md);
                     README.md shows a tracker and two nodes in one script
  packages/chain     registry contracts, bindings and the embedded dev chain
                     (docs/chain.md); README.md shows a stream with permissions
  packages/client    the SDK: publish and subscribe with validation and ordering;
                     README.md shows two apps sharing a stream
`)
