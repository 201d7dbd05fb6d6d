import { pino, type Logger } from 'pino'
import type { NodeConfig } from './config.js'

export type { Logger }

/**
 * A pino logger: JSON lines for machines, or pretty lines when stdout is a
 * terminal (or `log.pretty` says so). Log with fields, not interpolation:
 * `logger.info({ streamId, api }, 'subscribed')`.
 */
export function createLogger(config: NodeConfig['log'], name = 'runnel-node'): Logger {
  const pretty = config.pretty ?? process.stdout.isTTY
  if (!pretty) return pino({ name, level: config.level })
  return pino({
    name,
    level: config.level,
    transport: {
      target: 'pino-pretty',
      options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' },
    },
  })
}
