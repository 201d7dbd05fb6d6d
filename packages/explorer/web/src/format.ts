/** How figures read on the page. */

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 })
const oneDecimal = new Intl.NumberFormat('en-US', { minimumFractionDigits: 1, maximumFractionDigits: 1 })
// Rates are read by people and scripts alike: no digit grouping, so `1234.5` parses back.
const rate = new Intl.NumberFormat('en-US', { minimumFractionDigits: 1, maximumFractionDigits: 1, useGrouping: false })

export function formatInteger(value: number): string {
  return integer.format(value)
}

/** A rate with one decimal, e.g. `1234.5`. */
export function formatRate(value: number): string {
  return rate.format(value)
}

export function formatMs(value: number): string {
  return `${value < 10 ? oneDecimal.format(value) : integer.format(value)} ms`
}

export function formatBytes(value: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB']
  let scaled = value
  let unit = 0
  while (Math.abs(scaled) >= 1000 && unit < units.length - 1) {
    scaled /= 1000
    unit++
  }
  return `${unit === 0 ? integer.format(scaled) : oneDecimal.format(scaled)} ${units[unit]}`
}

export function formatDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000)
  const days = Math.floor(seconds / 86_400)
  const hours = Math.floor((seconds % 86_400) / 3600)
  const minutes = Math.floor((seconds % 3600) / 60)
  if (days > 0) return `${days} d ${hours} h`
  if (hours > 0) return `${hours} h ${minutes} min`
  if (minutes > 0) return `${minutes} min ${seconds % 60} s`
  return `${seconds} s`
}

export function formatTime(unixMs: number): string {
  return new Date(unixMs).toISOString().replace('T', ' ').replace('Z', ' UTC')
}

/** A long hex id shortened for tables: `0x1234…abcd`. */
export function shortId(id: string): string {
  return id.length > 16 ? `${id.slice(0, 8)}…${id.slice(-6)}` : id
}
