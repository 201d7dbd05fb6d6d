import { pino, type Logger } from 'pino'
import type { NodeConfig } from './config.js'

export type { Logger }

/**
 * A pino logger writing to stdout, or (`fd` 2) stderr: JSON lines for
 * machines, or pretty lines when that stream is a terminal (or `log.pretty`
 * says so). Log with fields, not interpolation:
 * `logger.info({ streamId, api }, 'subscribed')`.
 */
export function createLogger(config: NodeConfig['log'], name = 'runnel-node', fd: 1 | 2 = 1): Logger {
  const pretty = config.pretty ?? (fd === 1 ? process.stdout : process.stderr).isTTY
  if (!pretty) return pino({ name, level: config.level }, pino.destination({ fd, sync: false }))
  return pino({
    name,
    level: config.level,
    transport: {
      target: 'pino-pretty',
      options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', destination: fd },
    },
  })
}
