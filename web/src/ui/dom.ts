/**
 * A few DOM helpers in place of a framework: `h` builds elements (text always goes in as
 * text, never as HTML), `reconcile` keeps a keyed list of children in order while reusing
 * the nodes that stay, so scroll position, focus and loaded images survive a redraw.
 */

type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;
export type Child = Node | string | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (typeof value === "function") el.addEventListener(name.replace(/^on/, ""), value);
    else if (name === "class") el.className = String(value);
    else if (value === true) el.setAttribute(name, "");
    else el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

export function append(parent: Node, children: readonly Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    parent.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
  }
}

/** Replaces all children. */
export function setChildren(parent: Node, ...children: Child[]): void {
  while (parent.firstChild !== null) parent.removeChild(parent.firstChild);
  append(parent, children);
}

export type KeyedItem = { readonly key: string; readonly signature: string };

/**
 * Makes `parent`'s children exactly `items`, in order. A child whose key and signature are
 * unchanged is kept as it is; a changed signature rebuilds it. `nodes` is the caller's
 * key -> node memory for this parent.
 */
export function reconcile<T extends KeyedItem>(parent: HTMLElement, nodes: Map<string, { el: HTMLElement; signature: string }>, items: readonly T[], build: (item: T) => HTMLElement): void {
  const wanted = new Set<string>();
  let cursor: ChildNode | null = parent.firstChild;
  for (const item of items) {
    wanted.add(item.key);
    let known = nodes.get(item.key);
    if (known !== undefined && known.signature !== item.signature) {
      const fresh = build(item);
      known.el.replaceWith(fresh);
      if (cursor === known.el) cursor = fresh;
      known = { el: fresh, signature: item.signature };
      nodes.set(item.key, known);
    }
    if (known === undefined) {
      known = { el: build(item), signature: item.signature };
      nodes.set(item.key, known);
    }
    if (cursor === known.el) cursor = cursor.nextSibling;
    else parent.insertBefore(known.el, cursor);
  }
  for (const [key, known] of nodes) {
    if (!wanted.has(key)) {
      known.el.remove();
      nodes.delete(key);
    }
  }
}

/** Text with web links made clickable; everything else stays text. */
export function linkified(text: string): Child[] {
  const out: Child[] = [];
  const pattern = /\bhttps?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]]/g;
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    const at = match.index;
    if (at > last) out.push(text.slice(last, at));
    out.push(h("a", { href: match[0], target: "_blank", rel: "noopener noreferrer" }, match[0]));
    last = at + match[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}
