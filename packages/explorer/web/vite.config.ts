import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'

/**
 * The explorer's browser app, built into `dist/web` where the server serves it. Relative asset URLs (`base: './'`) so
 * the app works under any path prefix; everything (map data, styles) is bundled: the page makes no outside request.
 */
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  build: {
    outDir: '../dist/web',
    emptyOutDir: true,
    target: 'es2022',
    // Within budget: the map's atlas is ~100 kB of JSON on the overview chunk.
    chunkSizeWarningLimit: 400,
  },
})
