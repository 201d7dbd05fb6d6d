/** Small DOM helpers. Text always goes in as text nodes, so data from the network is never parsed as HTML. */

export type Child = Node | string | number | null | undefined | false

type Attributes = Readonly<Record<string, string | number | boolean | null | undefined>>

const SVG_NAMESPACE = 'http://www.w3.org/2000/svg'

/** Creates an HTML element with attributes (null/undefined/false ones left out) and children (strings as text). */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Attributes = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag)
  setAttributes(element, attributes)
  append(element, children)
  return element
}

/** Creates an SVG element, like {@link el}. */
export function svgEl<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attributes: Attributes = {},
  ...children: Child[]
): SVGElementTagNameMap[K] {
  const element = document.createElementNS(SVG_NAMESPACE, tag)
  setAttributes(element, attributes)
  append(element, children)
  return element
}

function setAttributes(element: Element, attributes: Attributes): void {
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue
    element.setAttribute(name, value === true ? '' : String(value))
  }
}

function append(parent: Node, children: readonly Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue
    parent.appendChild(child instanceof Node ? child : document.createTextNode(String(child)))
  }
}

/** Replaces an element's content. */
export function replaceChildren(parent: Element, ...children: Child[]): void {
  parent.replaceChildren()
  append(parent, children)
}

/** Sets text only when it changed, so live updates don't touch the DOM needlessly. */
export function setText(node: Element, text: string): void {
  if (node.textContent !== text) node.textContent = text
}

/** The element that shows what went wrong, for the user. */
export function problem(message: string): HTMLElement {
  return el('p', { class: 'problem', 'data-testid': 'problem', role: 'alert' }, message)
}

/** A link to a page of this app. */
export function link(href: string, text: string, attributes: Attributes = {}): HTMLAnchorElement {
  return el('a', { ...attributes, href }, text)
}

/** A two-column table of labelled values. */
export function facts(rows: readonly (readonly [string, Child])[]): HTMLTableElement {
  return el(
    'table',
    { class: 'facts' },
    el(
      'tbody',
      {},
      ...rows.map(([label, value]) => el('tr', {}, el('th', { scope: 'row' }, label), el('td', {}, value))),
    ),
  )
}

/** A table of rows under column headings. */
export function listTable(headings: readonly string[], rows: readonly HTMLTableRowElement[]): HTMLTableElement {
  return el(
    'table',
    { class: 'list' },
    el('thead', {}, el('tr', {}, ...headings.map((heading) => el('th', { scope: 'col' }, heading)))),
    el('tbody', {}, ...rows),
  )
}
