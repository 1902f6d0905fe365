import { loadOvfDocument, parseOvfDocument } from "./parse";
import {
  attr,
  attrValueSpans,
  child,
  children,
  childText,
  escapeXml,
  OvfError,
  type XmlElement,
} from "./xml";

export interface OvfRewriteOptions {
  /** New VM name (`Content/Name`). */
  name?: string;
  /** Empty every NIC's `rasd:MACAddress` so the target pool assigns new ones. Default true. */
  clearMacs?: boolean;
  /** Old disk id → new disk id. */
  diskIds?: ReadonlyMap<string, string> | Readonly<Record<string, string>>;
  /** Old image (volume) id → new image id. */
  imageIds?: ReadonlyMap<string, string> | Readonly<Record<string, string>>;
  /** Disk ids to leave out of the VM (their File, Disk and hardware Items are removed). */
  dropDisks?: readonly string[];
  /** New VM id (OperatingSystemSection `ovf:id`). */
  vmId?: string;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function toMap(m: OvfRewriteOptions["diskIds"], what: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of m instanceof Map ? m : Object.entries(m ?? {})) {
    if (!GUID.test(k) || !GUID.test(v)) throw new OvfError(`${what} mapping ${k} → ${v} is not GUID → GUID`);
    out.set(k.toLowerCase(), v);
  }
  return out;
}

interface Edit {
  start: number;
  end: number;
  text: string;
}

/**
 * Rewrites an engine OVF for a restore with string edits on the original text, so the engine's prefixes,
 * attribute order and layout (one line stays one line) are kept. Ids inside snapshot `VmConfiguration`
 * blobs are left alone: the engine ignores those on import.
 */
export function rewriteOvf(xml: string | Buffer, opts: OvfRewriteOptions): string {
  const doc = loadOvfDocument(xml);
  const info = parseOvfDocument(doc);
  const { source } = doc;
  const diskIds = toMap(opts.diskIds, "disk id");
  const imageIds = toMap(opts.imageIds, "image id");
  const knownDisks = new Set(info.disks.map((d) => d.diskId));
  const knownImages = new Set(info.disks.flatMap((d) => d.volumes.map((v) => v.imageId)));
  for (const k of diskIds.keys())
    if (!knownDisks.has(k)) throw new OvfError(`disk ${k} to replace is not in the OVF`);
  for (const k of imageIds.keys())
    if (!knownImages.has(k)) throw new OvfError(`image ${k} to replace is not in the OVF`);
  const dropped = new Set<string>();
  for (const d of opts.dropDisks ?? []) {
    const id = d.toLowerCase();
    if (!knownDisks.has(id)) throw new OvfError(`disk ${d} to drop is not in the OVF`);
    dropped.add(id);
  }
  const droppedIds = new Set<string>(dropped);
  for (const d of info.disks) if (dropped.has(d.diskId)) for (const v of d.volumes) droppedIds.add(v.imageId);

  const mapId = (id: string) => imageIds.get(id.toLowerCase()) ?? diskIds.get(id.toLowerCase()) ?? id;
  const mapHref = (href: string) => href.split("/").map(mapId).join("/");

  const edits: Edit[] = [];
  const remove = (el: XmlElement) => {
    let start = el.start;
    while (start > 0 && /\s/.test(source[start - 1]!)) start--;
    edits.push({ start, end: el.end, text: "" });
  };
  const setAttr = (el: XmlElement, local: string, map: (v: string) => string) => {
    const a = el.attrs.find((x) => x.local === local);
    if (!a) return;
    const next = map(a.value);
    if (next === a.value) return;
    const span = attrValueSpans(source, el).get(a.qname);
    if (!span) throw new OvfError(`cannot locate ${a.qname} in <${el.qname}> at offset ${el.start}`);
    edits.push({ ...span, text: escapeXml(next, true) });
  };
  const setText = (el: XmlElement | undefined, map: (v: string) => string) => {
    if (!el || el.children.length > 0) return;
    const raw = source.slice(el.openEnd, el.closeStart);
    const value = el.text.trim();
    const next = map(value);
    if (next === value) return;
    const lead = raw.length - raw.trimStart().length;
    const trail = raw.length - raw.trimEnd().length;
    edits.push({ start: el.openEnd + lead, end: el.closeStart - trail, text: escapeXml(next, false) });
  };
  const belongsToDropped = (...ids: Array<string | undefined>) =>
    ids.some((id) => id?.split("/").some((p) => droppedIds.has(p.trim().toLowerCase())));

  if (opts.name !== undefined) {
    const nameEl = child(doc.content, "Name");
    if (!nameEl) throw new OvfError("OVF Content has no Name to rewrite");
    const newName = opts.name;
    setText(nameEl, () => newName);
  }
  if (opts.vmId !== undefined) {
    if (!GUID.test(opts.vmId)) throw new OvfError(`new VM id ${opts.vmId} is not a GUID`);
    const vmId = opts.vmId;
    setAttr(doc.osSection, "id", () => vmId);
  }

  for (const f of children(doc.references, "File")) {
    if (belongsToDropped(attr(f, "href"), attr(f, "id"))) remove(f);
    else {
      setAttr(f, "href", mapHref);
      setAttr(f, "id", mapId);
    }
  }
  for (const d of children(doc.diskSection, "Disk")) {
    if (belongsToDropped(attr(d, "diskId"), attr(d, "fileRef"))) remove(d);
    else {
      setAttr(d, "diskId", mapId);
      setAttr(d, "fileRef", mapHref);
      setAttr(d, "parentRef", mapHref);
    }
  }
  for (const item of children(doc.hardware, "Item")) {
    const type = childText(item, "ResourceType");
    if (type === "17") {
      const id = child(item, "InstanceId", "InstanceID");
      if (belongsToDropped(id?.text, childText(item, "HostResource"))) {
        remove(item);
        continue;
      }
      setText(id, mapId);
      setText(child(item, "HostResource"), mapHref);
      setText(child(item, "Parent"), mapId);
      setText(child(item, "Alias"), (a) => (a.startsWith("ua-") ? `ua-${mapId(a.slice(3))}` : a));
    } else if (type === "10" && opts.clearMacs !== false) {
      setText(child(item, "MACAddress"), () => "");
    }
  }

  edits.sort((a, b) => a.start - b.start);
  const parts: string[] = [];
  let at = 0;
  for (const e of edits) {
    if (e.start < at) throw new OvfError("internal error: overlapping OVF edits");
    parts.push(source.slice(at, e.start), e.text);
    at = e.end;
  }
  parts.push(source.slice(at));
  return parts.join("");
}
