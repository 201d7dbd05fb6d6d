#!/usr/bin/env node
// Checks what the packages' sources import, beyond what typechecking sees:
//   1. every package the sources of packages/X/src import is listed in X's package.json dependencies, so an
//      undeclared import fails CI instead of working by accident through the workspace's shared node_modules;
//   2. no import cycle among the source files (type-only imports count: a cycle of types is still a knot to untie);
//   3. the layer rules in eslint.config.mjs do refuse an upward import: deliberate bad imports, linted with the repo's
//      own config through the ESLint API, must fail, and an allowed one must pass.
// Run by `npm run lint`. `--no-eslint` skips 3 (it loads the type-aware config, a few seconds).
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const packagesDir = join(root, 'packages')

const failures = []

const packages = readdirSync(packagesDir)
  .filter((name) => existsSync(join(packagesDir, name, 'package.json')))
  .map((folder) => {
    const manifest = JSON.parse(readFileSync(join(packagesDir, folder, 'package.json'), 'utf8'))
    return { folder, manifest, dir: join(packagesDir, folder) }
  })
const byName = new Map(packages.map((pkg) => [pkg.manifest.name, pkg]))
const builtins = new Set(builtinModules)

function sourceFiles(dir) {
  if (!existsSync(dir)) return []
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry)
    if (statSync(path).isDirectory()) return sourceFiles(path)
    return /\.(ts|tsx|mts)$/.test(entry) && !entry.endsWith('.d.ts') ? [path] : []
  })
}

/** The package name of a bare specifier: `@scope/name/sub` → `@scope/name`, `name/sub` → `name`. */
function packageOf(specifier) {
  const parts = specifier.split('/')
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]
}

/** The source file a relative specifier names (`./x.js` is `./x.ts`, a folder its index). */
function resolveRelative(from, specifier) {
  const base = resolve(dirname(from), specifier)
  const candidates = [
    base.replace(/\.m?js$/, '.ts'),
    base.replace(/\.m?js$/, '.tsx'),
    base.replace(/\.m?js$/, '.mts'),
    base,
    `${base}.ts`,
    join(base, 'index.ts'),
  ]
  return candidates.find((candidate) => existsSync(candidate) && statSync(candidate).isFile())
}

/** The source file a workspace package's specifier names, through its `runnel-source` export condition. */
function resolveWorkspace(specifier) {
  const pkg = byName.get(packageOf(specifier))
  if (pkg === undefined) return undefined
  const subpath = `.${specifier.slice(pkg.manifest.name.length)}`
  const entry = pkg.manifest.exports?.[subpath === '.' ? '.' : subpath]
  const target = typeof entry === 'string' ? entry : entry?.['runnel-source']
  return typeof target === 'string' ? join(pkg.dir, target) : undefined
}

// 1 and the graph for 2.
const graph = new Map()
for (const pkg of packages) {
  const { dependencies = {}, peerDependencies = {}, optionalDependencies = {} } = pkg.manifest
  const declared = new Set([
    ...Object.keys(dependencies),
    ...Object.keys(peerDependencies),
    ...Object.keys(optionalDependencies),
  ])
  for (const file of sourceFiles(join(pkg.dir, 'src'))) {
    const edges = new Set()
    graph.set(file, edges)
    const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true)
    for (const { fileName: specifier } of importedFiles) {
      if (specifier.startsWith('.')) {
        const target = resolveRelative(file, specifier)
        if (target === undefined) failures.push(`${relative(root, file)}: can't resolve ${specifier}`)
        else edges.add(target)
        continue
      }
      if (specifier.startsWith('node:') || builtins.has(packageOf(specifier))) continue
      const name = packageOf(specifier)
      if (name === pkg.manifest.name) {
        failures.push(`${relative(root, file)}: imports its own package (${specifier}); import the file relatively`)
      } else if (!declared.has(name)) {
        failures.push(`${relative(root, file)}: imports ${name}, which ${pkg.manifest.name}'s dependencies don't list`)
      }
      const target = resolveWorkspace(specifier)
      if (target !== undefined) edges.add(target)
    }
  }
}

// 2: Tarjan's strongly connected components; a component of more than one file (or a file importing itself) is a cycle.
const cycles = []
{
  let counter = 0
  const index = new Map()
  const low = new Map()
  const stack = []
  const onStack = new Set()
  const visit = (file) => {
    index.set(file, counter)
    low.set(file, counter)
    counter++
    stack.push(file)
    onStack.add(file)
    for (const next of graph.get(file) ?? []) {
      if (!graph.has(next)) continue
      if (!index.has(next)) {
        visit(next)
        low.set(file, Math.min(low.get(file), low.get(next)))
      } else if (onStack.has(next)) {
        low.set(file, Math.min(low.get(file), index.get(next)))
      }
    }
    if (low.get(file) !== index.get(file)) return
    const component = []
    let member
    do {
      member = stack.pop()
      onStack.delete(member)
      component.push(relative(root, member))
    } while (member !== file)
    if (component.length > 1 || graph.get(file).has(file)) cycles.push(component.sort())
  }
  for (const file of graph.keys()) if (!index.has(file)) visit(file)
}
const key = (files) => files.join(' ⇄ ')
for (const cycle of cycles) failures.push(`import cycle: ${key(cycle)}`)

// 3.
if (!process.argv.includes('--no-eslint')) {
  const { ESLint } = await import('eslint')
  const eslint = new ESLint({ cwd: root })
  // Linted as the text of an existing file, so the type-aware config knows the file.
  const cases = [
    { file: 'packages/protocol/src/index.ts', code: "import '@runnel/network'\n", refused: true },
    { file: 'packages/network/src/index.ts', code: "import '@runnel/chain'\n", refused: true },
    {
      file: 'packages/network/src/index.ts',
      code: "export type { ChainError } from '@runnel/client'\n",
      refused: true,
    },
    { file: 'packages/chain/src/index.ts', code: "import '@runnel/network'\n", refused: true },
    { file: 'packages/client/src/index.ts', code: "import '@runnel/node'\n", refused: true },
    { file: 'packages/client/src/index.ts', code: "import '@runnel/cli'\n", refused: true },
    { file: 'packages/node/src/index.ts', code: "import '@runnel/cli'\n", refused: true },
    { file: 'packages/node/src/index.ts', code: "import '../../client/src/index.js'\n", refused: true },
    { file: 'packages/network/src/index.ts', code: "import '@runnel/protocol'\n", refused: false },
    { file: 'packages/cli/src/index.ts', code: "import '@runnel/node'\n", refused: false },
  ]
  for (const { file, code, refused } of cases) {
    const [result] = await eslint.lintText(code, { filePath: join(root, file) })
    const layerErrors = result.messages.filter((message) => message.ruleId === 'no-restricted-imports')
    if (refused && layerErrors.length === 0) failures.push(`the layer rules let ${file} say: ${code.trim()}`)
    if (!refused && layerErrors.length > 0) failures.push(`the layer rules refuse ${file}: ${layerErrors[0].message}`)
  }
}

if (failures.length > 0) {
  for (const failure of failures) console.error(`check-imports: ${failure}`)
  process.exit(1)
}
console.log(`check-imports: ${graph.size} source files, dependencies declared, no import cycle, layer rules hold`)
