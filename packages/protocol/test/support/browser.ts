// Shared by the browser tests of every package: bundle an entry point for the
// browser and drive Debian's Chromium with the flags this machine needs.
import { existsSync } from 'node:fs'
import { build } from 'esbuild'
import { chromium, type Browser } from 'playwright-core'

export const CHROMIUM = '/usr/bin/chromium'

/** CI installs Chromium and must run browser tests; a developer without it sees a skip that says why. */
export const chromiumSkip: string | false =
  !existsSync(CHROMIUM) && process.env.CI === undefined ? 'Chromium not installed (apt-get install chromium)' : false

/**
 * Bundles `entryPoint` as an ES module for the browser. Platform 'browser'
 * makes esbuild fail on any Node-only import (node:*, fs, …) reachable from it.
 */
export async function bundleForBrowser(entryPoint: string, conditions: string[] = []): Promise<string> {
  const result = await build({
    entryPoints: [entryPoint],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    conditions,
    write: false,
    logLevel: 'silent',
  })
  return result.outputFiles[0]!.text
}

/**
 * Headless Chromium; without the background-networking flags it keeps dialling hosts this machine can't reach.
 * `extraArgs` are added to those flags.
 */
export function launchChromium(extraArgs: readonly string[] = []): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      ...extraArgs,
    ],
  })
}
