import { fileURLToPath } from 'node:url'
import { defaultClientConditions, defineConfig } from 'vite'

/**
 * The explorer's browser app, built into `dist/web` where the server serves it. Relative asset URLs (`base: './'`) so
 * the app works under any path prefix; everything (map data, styles) is bundled: the page makes no outside request.
 */
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  // The workspace's packages from their sources (as the tests run them), so the page checks signatures with the code
  // of this checkout.
  resolve: { conditions: ['runnel-source', ...defaultClientConditions] },
  build: {
    outDir: '../dist/web',
    emptyOutDir: true,
    target: 'es2022',
    // Within budget: the map's atlas is ~100 kB of JSON on the overview chunk.
    chunkSizeWarningLimit: 400,
  },
})
