import { SaxesParser } from "saxes";

/** Anything wrong with an OVF document: malformed, hostile, or missing what a restore needs. */
export class OvfError extends Error {
  override name = "OvfError";
}

/** OVFs of VMs with many disks and snapshot configurations stay far below this. */
export const MAX_OVF_BYTES = 32 * 1024 * 1024;
const MAX_DEPTH = 64;

export interface XmlAttr {
  qname: string;
  local: string;
  value: string;
}

/** An element with the source offsets a string-level rewrite needs (JS string indices). */
export interface XmlElement {
  qname: string;
  local: string;
  attrs: XmlAttr[];
  children: XmlElement[];
  /** Direct text content (entities decoded). */
  text: string;
  /** Index of `<` of the start tag. */
  start: number;
  /** Index just after the start tag's `>`. */
  openEnd: number;
  /** Index of `<` of the end tag (= openEnd for `<X/>`). */
  closeStart: number;
  /** Index just after the element. */
  end: number;
}

const localName = (q: string) => q.slice(q.indexOf(":") + 1);

/**
 * Parses `source` into elements with positions. Refuses any DOCTYPE (so no entity declarations, no
 * expansion bombs, no external entities), documents over MAX_OVF_BYTES and nesting deeper than 64.
 */
export function parseXml(source: string): XmlElement {
  if (source.length > MAX_OVF_BYTES || Buffer.byteLength(source, "utf8") > MAX_OVF_BYTES)
    throw new OvfError(`OVF document is larger than ${MAX_OVF_BYTES} bytes`);
  const parser = new SaxesParser({ xmlns: false, position: true });
  const stack: XmlElement[] = [];
  let root: XmlElement | null = null;
  const where = () => `line ${parser.line}, column ${parser.column}`;
  parser.on("doctype", () => {
    throw new OvfError(`OVF must not contain a DOCTYPE (${where()})`);
  });
  parser.on("opentag", (tag) => {
    if (stack.length >= MAX_DEPTH) throw new OvfError(`OVF nesting is deeper than ${MAX_DEPTH} (${where()})`);
    const openEnd = parser.position;
    const start = source.lastIndexOf("<", openEnd - 1);
    const attrs: XmlAttr[] = Object.entries(tag.attributes).map(([qname, value]) => ({
      qname,
      local: localName(qname),
      value: String(value),
    }));
    const el: XmlElement = {
      qname: tag.name,
      local: localName(tag.name),
      attrs,
      children: [],
      text: "",
      start,
      openEnd,
      closeStart: openEnd,
      end: openEnd,
    };
    const parent = stack[stack.length - 1];
    if (parent) parent.children.push(el);
    else root = el;
    stack.push(el);
  });
  parser.on("closetag", (tag) => {
    const el = stack.pop();
    if (!el) return;
    el.end = parser.position;
    el.closeStart = tag.isSelfClosing ? el.end : source.lastIndexOf("<", el.end - 1);
  });
  const addText = (t: string) => {
    const top = stack[stack.length - 1];
    if (top) top.text += t;
  };
  parser.on("text", addText);
  parser.on("cdata", addText);
  try {
    parser.write(source).close();
  } catch (e) {
    if (e instanceof OvfError) throw e;
    throw new OvfError(`OVF is not well-formed XML: ${e instanceof Error ? e.message : e}`);
  }
  if (!root) throw new OvfError("OVF document has no root element");
  return root;
}

export function attr(el: XmlElement | undefined, local: string): string | undefined {
  return el?.attrs.find((a) => a.local === local)?.value;
}

export function children(el: XmlElement | undefined, local: string): XmlElement[] {
  return el ? el.children.filter((c) => c.local === local) : [];
}

/** First child with one of the local names (`InstanceId` / `InstanceID`). */
export function child(el: XmlElement | undefined, ...locals: string[]): XmlElement | undefined {
  return el?.children.find((c) => locals.includes(c.local));
}

export function childText(el: XmlElement | undefined, ...locals: string[]): string | undefined {
  const c = child(el, ...locals);
  return c ? c.text.trim() : undefined;
}

/** The `xsi:type` of a Section without its prefix (`DiskSection_Type`). */
export function sectionType(el: XmlElement): string | undefined {
  const t = attr(el, "type");
  return t === undefined ? undefined : localName(t);
}

/**
 * Source spans of the raw attribute values of `el`'s start tag, by qualified name. The tag was checked by
 * the parser, so quotes delimit values and `<` cannot occur inside.
 */
export function attrValueSpans(source: string, el: XmlElement): Map<string, { start: number; end: number }> {
  const spans = new Map<string, { start: number; end: number }>();
  const tag = source.slice(el.start, el.openEnd);
  const re = /\s([^\s=/>]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g;
  for (let m = re.exec(tag); m; m = re.exec(tag)) {
    const value = m[2] ?? m[3] ?? "";
    const valueStart = el.start + m.index + m[0].length - 1 - value.length;
    spans.set(m[1]!, { start: valueStart, end: valueStart + value.length });
  }
  return spans;
}

export function escapeXml(s: string, forAttribute: boolean): string {
  const t = s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  return forAttribute ? t.replace(/"/g, "&quot;") : t;
}
