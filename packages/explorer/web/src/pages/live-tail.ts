/** The newest messages of a public stream part, live, with their signature verdicts and the rate. */

import type { TailMessage, TailRate } from '../../../src/api.js'
import { openFeed } from '../client.js'
import { el, problem, replaceChildren, setText } from '../dom.js'
import { formatRate, formatTime, shortId } from '../format.js'

/** Rows kept on the page; older ones drop off the bottom. */
const MAX_ROWS = 200
const CONTENT_PREVIEW = 400

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
    // Newest first: the last message received goes on top.
    for (let index = this.pending.length - 1; index >= 0; index--) {
      const message = this.pending[index]
      if (message !== undefined) batch.appendChild(renderMessage(message))
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

function renderMessage(message: TailMessage): HTMLElement {
  const valid = message.signature === 'valid'
  return el(
    'li',
    {
      'data-testid': 'tail-message',
      'data-signature': message.signature,
      class: valid ? 'tail-message' : 'tail-message alarm',
    },
    el('span', { class: valid ? 'verdict' : 'verdict alarm-label' }, VERDICTS[message.signature]),
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
