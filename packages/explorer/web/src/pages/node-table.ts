/** The overview's table of nodes, kept by address: a live update changes only the cells whose text changed. */

import type { NodeSummary } from '../../../src/api.js'
import { el } from '../dom.js'
import { formatRate } from '../format.js'
import { nodeHref } from '../routes.js'

const COLUMNS = ['Node', 'Kind', 'Version', 'Region / country', 'Msgs/s', 'Status', 'Problem'] as const
/** Fixed column widths: the browser then lays out thousands of rows without measuring every cell. */
const COLUMN_WIDTHS = ['30%', '6%', '8%', '14%', '8%', '6%', '28%'] as const

interface Row {
  readonly element: HTMLTableRowElement
  readonly cells: readonly HTMLTableCellElement[]
  /** The text each cell shows, so an update compares strings instead of reading the DOM. */
  readonly texts: string[]
  live: boolean | undefined
}

export class NodeTable {
  readonly element: HTMLTableElement
  private readonly body: HTMLTableSectionElement
  private readonly rows = new Map<string, Row>()

  constructor() {
    this.body = el('tbody')
    this.element = el(
      'table',
      { class: 'nodes', 'data-testid': 'node-table' },
      el('colgroup', {}, ...COLUMN_WIDTHS.map((width) => el('col', { style: `width: ${width}` }))),
      el('thead', {}, el('tr', {}, ...COLUMNS.map((column) => el('th', { scope: 'col' }, column)))),
      this.body,
    )
  }

  /**
   * Shows these nodes, by address: a stable order, so a live update moves no rows (moving rows in a table of thousands
   * costs the browser a relayout of each).
   */
  update(nodes: readonly NodeSummary[]): void {
    const ordered = [...nodes].sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0))
    const seen = new Set<string>()
    let previous: HTMLTableRowElement | null = null
    for (const node of ordered) {
      seen.add(node.address)
      const row = this.rows.get(node.address) ?? this.createRow(node.address)
      this.fill(row, node)
      const expected: ChildNode | null = previous === null ? this.body.firstChild : previous.nextSibling
      if (expected !== row.element) this.body.insertBefore(row.element, expected)
      previous = row.element
    }
    for (const [address, row] of this.rows) {
      if (!seen.has(address)) {
        row.element.remove()
        this.rows.delete(address)
      }
    }
  }

  private createRow(address: string): Row {
    const cells = COLUMNS.map(() => el('td'))
    const [addressCell] = cells
    addressCell?.appendChild(el('a', { href: nodeHref(address), class: 'mono' }, address))
    const element = el('tr', { 'data-testid': 'node-row', 'data-address': address }, ...cells)
    const row: Row = { element, cells, texts: COLUMNS.map(() => ''), live: undefined }
    row.texts[0] = address
    this.rows.set(address, row)
    return row
  }

  private fill(row: Row, node: NodeSummary): void {
    const identity = node.report?.node
    const where = [identity?.region, identity?.country].filter((part) => part !== null && part !== undefined)
    this.setCell(row, 1, identity?.kind ?? '—')
    this.setCell(row, 2, identity?.version ?? '—')
    this.setCell(row, 3, where.length === 0 ? '—' : where.join(' / '))
    this.setCell(row, 4, formatRate(node.messagesPerSecond))
    this.setCell(row, 5, node.live ? 'live' : 'stale')
    this.setCell(row, 6, node.problem ?? '')
    if (row.live !== node.live) {
      row.element.className = node.live ? 'live' : 'stale'
      row.live = node.live
    }
  }

  private setCell(row: Row, column: number, text: string): void {
    const cell = row.cells[column]
    if (cell === undefined || row.texts[column] === text) return
    cell.textContent = text
    row.texts[column] = text
  }
}
