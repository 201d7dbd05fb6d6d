// @ts-check
import eslint from '@eslint/js'
import globals from 'globals'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  {
    ignores: ['**/node_modules/**', '**/dist/**', '**/src/generated/**'],
  },
  eslint.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: {
          allowDefaultProject: ['*.mjs', 'scripts/*.mjs', 'packages/*/scripts/*.mjs', 'packages/*/bin/*.mjs'],
        },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      // Promise safety: an unawaited or misused promise is a lost error.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/require-await': 'error',
      '@typescript-eslint/return-await': ['error', 'in-try-catch'],
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      eqeqeq: ['error', 'always'],
    },
  },
  {
    files: ['**/test/**/*.ts', '**/bench/**/*.ts'],
    rules: {
      // node:test's describe/it return promises the runner tracks itself.
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'it', 'test'] }] },
      ],
    },
  },
  // Layer rules: packages import only downward (protocol ← network ← client ← node ← cli; chain beside network, under
  // client). An upward or sideways import fails here; scripts/check-imports.mjs proves it with deliberate bad imports,
  // and checks that every package's dependencies list what its sources import.
  ...layerRules({
    protocol: [],
    network: ['protocol'],
    chain: ['protocol'],
    'dev-chain': ['protocol', 'chain'],
    client: ['protocol', 'network', 'chain'],
    node: ['protocol', 'network', 'chain', 'dev-chain', 'client'],
    cli: ['protocol', 'network', 'chain', 'dev-chain', 'client', 'node'],
  }),
  {
    files: ['**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { globals: globals.node },
  },
)

/**
 * One `no-restricted-imports` block per package: its sources may import only the `@runnel/*` packages listed, and never
 * reach into another package's files by a relative path.
 *
 * @param {Record<string, string[]>} allowed package folder → the packages below it
 */
function layerRules(allowed) {
  const packages = ['protocol', 'network', 'chain', 'dev-chain', 'client', 'node', 'cli']
  return Object.entries(allowed).map(([name, below]) => {
    const forbidden = packages.filter((other) => other !== name && !below.includes(other))
    return {
      files: [`packages/${name}/src/**/*.ts`],
      rules: {
        'no-restricted-imports': [
          'error',
          {
            patterns: [
              ...(forbidden.length === 0
                ? []
                : [
                    {
                      regex: `^@runnel/(${forbidden.join('|')})(/.*)?$`,
                      message: `layer rule: @runnel/${name} may import ${below.length === 0 ? 'no other @runnel package' : `only ${below.map((other) => `@runnel/${other}`).join(', ')}`}`,
                    },
                  ]),
              {
                regex: `^(\\.\\./)+(${packages.join('|')})/(src|dist)/`,
                message: 'import another package by its name (@runnel/…), not by a path into its files',
              },
            ],
          },
        ],
      },
    }
  })
}
