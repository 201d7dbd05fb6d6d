/** The newest messages of a public stream part, live, with their signature verdicts and the rate. */

import type { TailMessage, TailRate } from '../../../src/api.js'
import { openFeed } from '../client.js'
import { el, problem, replaceChildren, setText } from '../dom.js'
import { formatRate, formatTime, shortId } from '../format.js'
import { checkInBrowser, type BrowserVerdict } from './browser-check.js'

/** Rows kept on the page; older ones drop off the bottom. */
const MAX_ROWS = 200
const CONTENT_PREVIEW = 400
/**
 * Signatures checked in the page per second, at most (a check is ~1 ms of main thread): at a higher rate the newest
 * rows are checked and the others say they weren't.
 */
const CHECKS_PER_SECOND = 100

const BROWSER_VERDICTS: Readonly<Record<BrowserVerdict | 'unchecked', string>> = {
  valid: '✓ signature checked in this browser',
  forged: '✗ forged: the signature does not verify (checked in this browser)',
  mismatch: '✗ the signed message is not the one described (checked in this browser)',
  unreadable: '✗ the signed bytes do not decode (checked in this browser)',
  unchecked: 'not checked in this browser (too many messages)',
}

const VERDICTS: Readonly<Record<TailMessage['signature'], string>> = {
  valid: 'valid',
  forged: 'FORGED',
  'no-publish-permission': 'NO PUBLISH PERMISSION',
  'timestamp-in-future': 'TIMESTAMP IN FUTURE',
}

export class LiveTail {
  readonly element: HTMLElement
  private readonly rows = el('ol', { class: 'tail' })
  private readonly rate = el('span', { 'data-testid': 'tail-rate' }, '0.0')
  private readonly valid = el('span', { 'data-testid': 'tail-valid' }, '0')
  private readonly invalid = el('span', { 'data-testid': 'tail-invalid' }, '0')
  private readonly status = el('p', { class: 'muted' }, 'Connecting…')
  private readonly problemSlot = el('div')
  /** Messages not yet shown: rows are added once per frame, however fast messages come. */
  private pending: TailMessage[] = []
  private frame: number | undefined
  private checkBudget = CHECKS_PER_SECOND
  private budgetAt = performance.now()

  constructor(streamId: string, partition: number, signal: AbortSignal) {
    this.element = el(
      'section',
      { class: 'live-tail' },
      el('h2', {}, 'Live tail'),
      el(
        'p',
        { class: 'tail-figures' },
        this.rate,
        ' msg/s · valid ',
        this.valid,
        ' · invalid ',
        this.invalid,
        el('span', { class: 'muted' }, ' (last 5 s)'),
      ),
      this.status,
      this.problemSlot,
      this.rows,
    )
    openFeed(`/api/streams/${encodeURIComponent(streamId)}/tail?partition=${partition}`, {
      signal,
      events: {
        message: (data) => this.enqueue(data as TailMessage),
        rate: (data) => this.showRate(data as TailRate),
        problem: (data) => this.showProblem(problemMessage(data)),
      },
      onStatus: (status) => {
        if (status === 'open') {
          setText(this.status, 'Listening.')
          this.problemSlot.replaceChildren()
        }
        if (status === 'reconnecting') setText(this.status, 'Tail interrupted; reconnecting…')
        if (status === 'closed') this.showProblem('The live tail could not be opened.')
      },
    })
    signal.addEventListener('abort', () => {
      if (this.frame !== undefined) cancelAnimationFrame(this.frame)
    })
  }

  private enqueue(message: TailMessage): void {
    this.pending.push(message)
    if (this.pending.length > MAX_ROWS) this.pending.splice(0, this.pending.length - MAX_ROWS)
    this.frame ??= requestAnimationFrame(() => this.flush())
  }

  private flush(): void {
    this.frame = undefined
    const batch = document.createDocumentFragment()
    const now = performance.now()
    this.checkBudget = Math.min(
      CHECKS_PER_SECOND,
      this.checkBudget + ((now - this.budgetAt) * CHECKS_PER_SECOND) / 1000,
    )
    this.budgetAt = now
    // Newest first: the last message received goes on top, and is the first checked.
    for (let index = this.pending.length - 1; index >= 0; index--) {
      const message = this.pending[index]
      if (message === undefined) continue
      const verdict = this.checkBudget >= 1 ? checkInBrowser(message) : 'unchecked'
      if (verdict !== 'unchecked') this.checkBudget--
      batch.appendChild(renderMessage(message, verdict))
    }
    this.pending = []
    this.rows.prepend(batch)
    while (this.rows.childElementCount > MAX_ROWS) this.rows.lastElementChild?.remove()
  }

  private showRate(rate: TailRate): void {
    setText(this.rate, formatRate(rate.messagesPerSecond))
    setText(this.valid, String(rate.valid))
    setText(this.invalid, String(rate.invalid))
  }

  private showProblem(message: string): void {
    replaceChildren(this.problemSlot, problem(message))
  }
}

function renderMessage(message: TailMessage, checked: BrowserVerdict | 'unchecked'): HTMLElement {
  // The page's own check overrules the server's word: a row either calls invalid is shown as an alarm.
  const valid = message.signature === 'valid' && (checked === 'valid' || checked === 'unchecked')
  return el(
    'li',
    {
      'data-testid': 'tail-message',
      'data-signature': message.signature,
      'data-browser-check': checked,
      class: valid ? 'tail-message' : 'tail-message alarm',
    },
    el(
      'span',
      { class: valid ? 'verdict' : 'verdict alarm-label', title: BROWSER_VERDICTS[checked] },
      VERDICTS[message.signature],
      checked === 'unchecked' ? '' : checked === 'valid' ? ' ✓' : ' ✗',
    ),
    el('time', { datetime: new Date(message.timestamp).toISOString() }, formatTime(message.timestamp)),
    el('span', { class: 'mono', title: message.publisherId }, shortId(message.publisherId)),
    el('span', { class: 'muted' }, `#${message.sequenceNumber}`),
    el('code', { class: 'content' }, previewContent(message)),
  )
}

function previewContent(message: TailMessage): string {
  const text =
    message.binary && typeof message.content === 'string'
      ? `binary (base64) ${message.content}`
      : (JSON.stringify(message.content) ?? String(message.content))
  return text.length > CONTENT_PREVIEW ? `${text.slice(0, CONTENT_PREVIEW)}…` : text
}

function problemMessage(data: unknown): string {
  if (typeof data === 'object' && data !== null && 'message' in data && typeof data.message === 'string') {
    return data.message
  }
  return 'The tail reported a problem.'
}
