// What an app gets with `npm install @runnel/client`, read from the workspace's own files: the production dependency
// closure as npm lays it out (package.json of each workspace package, package-lock.json for the rest), and the imports
// of the SDK packages' sources. The embedded dev chain (Hardhat's EDR, ~290 MB with its telemetry client) and the
// Solidity compiler belong to the daemon, the CLI and tests only. scripts/check-sdk-install.mjs checks the same with a
// real `npm pack` + `npm install` in an empty app.
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'

const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url))

/** The packages an app's install (and a browser bundle) reaches through `@runnel/client`. */
const SDK_PACKAGES = ['protocol', 'network', 'chain', 'client'] as const

function isForbidden(name: string): boolean {
  return (
    name === 'hardhat' ||
    name === 'solc' ||
    name === '@runnel/dev-chain' ||
    name.startsWith('@sentry/') ||
    name.startsWith('@nomicfoundation/')
  )
}

interface LockEntry {
  readonly link?: boolean
  readonly resolved?: string
  readonly dependencies?: Record<string, string>
  readonly optionalDependencies?: Record<string, string>
  readonly peerDependencies?: Record<string, string>
  readonly peerDependenciesMeta?: Record<string, { optional?: boolean }>
}

interface PackageJson {
  readonly name: string
  readonly dependencies?: Record<string, string>
  readonly optionalDependencies?: Record<string, string>
  readonly peerDependencies?: Record<string, string>
}

function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(join(repoRoot, path), 'utf8')) as T
}

/** What a package brings into an install: dependencies, optional ones and non-optional peers (npm ≥ 7 installs them). */
function installedDependencies(entry: LockEntry | PackageJson): string[] {
  const optionalPeers = 'peerDependenciesMeta' in entry ? (entry.peerDependenciesMeta ?? {}) : {}
  return [
    ...Object.keys(entry.dependencies ?? {}),
    ...Object.keys(entry.optionalDependencies ?? {}),
    ...Object.keys(entry.peerDependencies ?? {}).filter((name) => optionalPeers[name]?.optional !== true),
  ]
}

/** Node's lookup order in the lockfile: `<location>/node_modules/<name>`, then each enclosing node_modules. */
function resolveLocation(packages: Record<string, LockEntry>, from: string, name: string): string | undefined {
  let location = from
  for (;;) {
    const candidate = location === '' ? `node_modules/${name}` : `${location}/node_modules/${name}`
    if (packages[candidate] !== undefined) return candidate
    if (location === '') return undefined
    const parent = location.lastIndexOf('/node_modules/')
    location = parent === -1 ? '' : location.slice(0, parent)
  }
}

/** Every package in the production closure of `start`, each with the path of names that brought it in. */
function productionClosure(start: string): Map<string, string[]> {
  const packages = readJson<{ packages: Record<string, LockEntry> }>('package-lock.json').packages
  const found = new Map<string, string[]>()
  const visited = new Set<string>()
  const queue: { location: string; path: string[] }[] = [{ location: start, path: [] }]
  for (let item = queue.shift(); item !== undefined; item = queue.shift()) {
    if (visited.has(item.location)) continue
    visited.add(item.location)
    // A workspace package is installed from what it publishes: its package.json (the lockfile mirrors it).
    const entry: LockEntry | PackageJson = /^packages\/[^/]+$/.test(item.location)
      ? readJson<PackageJson>(join(item.location, 'package.json'))
      : packages[item.location]!
    for (const name of installedDependencies(entry)) {
      const path = [...item.path, name]
      if (!found.has(name)) found.set(name, path)
      let location = resolveLocation(packages, item.location, name)
      assert.ok(location !== undefined, `${path.join(' > ')} is not in package-lock.json: run npm install`)
      const resolved = packages[location]!
      if (resolved.link === true && resolved.resolved !== undefined) location = resolved.resolved
      queue.push({ location, path })
    }
  }
  return found
}

function sourceFiles(directory: string): string[] {
  return readdirSync(join(repoRoot, directory), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts'))
    .map((file) => join(directory, file))
}

/** Module specifiers of static imports and re-exports, dynamic imports and `import type`s. */
function importedModules(source: string): string[] {
  const specifiers = [...source.matchAll(/\bfrom\s+['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g)]
  return specifiers.map((match) => (match[1] ?? match[2])!)
}

describe('what an app installs with @runnel/client', () => {
  it('has no Hardhat, EDR, Sentry, solc or dev chain in its production dependency closure', () => {
    const closure = productionClosure('packages/client')
    // The walk must reach the SDK's real dependencies, or an empty closure would pass.
    for (const expected of ['@runnel/chain', '@runnel/network', '@runnel/protocol', 'viem', 'ws']) {
      assert.ok(closure.has(expected), `${expected} missing from the closure: the walk is broken`)
    }
    const forbidden = [...closure].filter(([name]) => isForbidden(name)).map(([, path]) => path.join(' > '))
    assert.deepEqual(forbidden, [], `an app installing @runnel/client would get:\n  ${forbidden.join('\n  ')}`)
  })

  it('shares one @noble/curves and one @noble/hashes with viem', () => {
    // Another version beside viem's would be installed up to four times (nested under viem, ox and @scure/*), about
    // 13 MB, and bundled twice: pin @runnel/protocol to what viem pins when viem moves.
    const packages = readJson<{ packages: Record<string, LockEntry> }>('package-lock.json').packages
    const viemLocation = resolveLocation(packages, 'packages/client', 'viem')
    assert.ok(viemLocation !== undefined, 'viem is not in package-lock.json')
    const viem = packages[viemLocation]!.dependencies ?? {}
    const protocol = readJson<PackageJson>('packages/protocol/package.json').dependencies ?? {}
    for (const name of ['@noble/curves', '@noble/hashes']) {
      assert.ok(viem[name] !== undefined, `viem no longer depends on ${name}`)
      assert.equal(protocol[name], viem[name], `@runnel/protocol's ${name} differs from viem's`)
    }
  })

  it('has no SDK source that imports the dev chain, Hardhat, solc, the daemon or the CLI', () => {
    const offending: string[] = []
    for (const pkg of SDK_PACKAGES) {
      const manifest = readJson<PackageJson>(`packages/${pkg}/package.json`)
      assert.equal(manifest.name, `@runnel/${pkg}`)
      const files = sourceFiles(`packages/${pkg}/src`)
      assert.ok(files.length > 0, `no sources found in packages/${pkg}/src`)
      for (const file of files) {
        for (const specifier of importedModules(readFileSync(join(repoRoot, file), 'utf8'))) {
          const name = specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!
          if (isForbidden(name) || name === '@runnel/node' || name === '@runnel/cli')
            offending.push(`${file} imports ${specifier}`)
        }
      }
    }
    assert.deepEqual(offending, [])
  })
})
