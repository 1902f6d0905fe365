// Property tests of the OVF parser and rewriter (fast-check): mutations of the engine-shaped fixtures give a
// clear OvfError or a faithful reading, never another exception, an invented id or an unfaithful rewrite. A
// failure prints its seed and path; CI runs a fixed seed.
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { OvfError, type OvfInfo, parseOvf, rewriteOvf } from "../src";

const seed = process.env.CI ? 20261207 : undefined;
const fixtures = [
  "engine-4.5-pretty.ovf",
  "engine-4.5-oneline.ovf",
  "engine-4.2-slashless.ovf",
  "engine-3.6-pretty.ovf",
  "engine-4.4-lun-template.ovf",
].map((name) => ({ name, xml: readFileSync(path.join(import.meta.dirname, "fixtures/ovf", name), "utf8") }));

/** Where elements start in the text: mutations aim there, so they hit structure more than character data. */
const tagStarts = (xml: string) => [...xml.matchAll(/</g)].map((m) => m.index ?? 0);

type Mutation =
  | { kind: "delete"; from: number; to: number }
  | { kind: "duplicate"; from: number; to: number; at: number }
  | { kind: "insert"; at: number; text: string }
  | { kind: "replace"; at: number; text: string };

const hostileText = fc.oneof(
  fc.constantFrom(
    "&",
    "&amp;",
    "&#0;",
    "&#xD800;",
    "<",
    "]]>",
    "<![CDATA[x]]>",
    "<?pi x?>",
    "<!-- c -->",
    ' xmlns:ovf="urn:other"',
    ' ovf:id="00000000-0000-0000-0000-000000000000"',
    "99999999999999999999999",
    "-1",
    "NaN",
    "\u0000",
    "\ud800",
    '<x:Foreign xmlns:x="urn:f">y</x:Foreign>',
  ),
  fc.string({ maxLength: 12 }),
);

function mutation(xml: string): fc.Arbitrary<Mutation> {
  const starts = tagStarts(xml);
  const tag = fc.constantFrom(...starts);
  const anywhere = fc.integer({ min: 0, max: xml.length });
  const span = fc.tuple(tag, tag).map(([a, b]): [number, number] => (a <= b ? [a, b] : [b, a]));
  return fc.oneof(
    span.map(([from, to]) => ({ kind: "delete" as const, from, to })),
    fc.tuple(span, tag).map(([[from, to], at]) => ({ kind: "duplicate" as const, from, to, at })),
    fc
      .tuple(fc.oneof(tag, anywhere), hostileText)
      .map(([at, text]) => ({ kind: "insert" as const, at, text })),
    fc.tuple(anywhere, hostileText).map(([at, text]) => ({ kind: "replace" as const, at, text })),
  );
}

function apply(xml: string, m: Mutation): string {
  switch (m.kind) {
    case "delete":
      return xml.slice(0, m.from) + xml.slice(m.to);
    case "duplicate":
      return xml.slice(0, m.at) + xml.slice(m.from, m.to) + xml.slice(m.at);
    case "insert":
      return xml.slice(0, m.at) + m.text + xml.slice(m.at);
    case "replace":
      return xml.slice(0, m.at) + m.text + xml.slice(m.at + m.text.length);
  }
}

/** Parses, or the OvfError it refuses with; anything else thrown is a bug and fails the property. */
function parseOrRefuse(xml: string): OvfInfo | OvfError {
  try {
    return parseOvf(xml);
  } catch (e) {
    if (e instanceof OvfError) return e;
    throw new Error(`not a clean refusal: ${String(e)}`, { cause: e });
  }
}

const ids = (info: OvfInfo) => ({
  disks: info.disks.map((d) => d.diskId),
  images: info.disks.flatMap((d) => d.volumes.map((v) => v.imageId)),
});

describe("parseOvf and rewriteOvf on mutated engine OVFs", () => {
  it.each(fixtures.map((f) => f.name))("%s: a clear error or a faithful reading and rewrite", (name) => {
    const { xml } = fixtures.find((f) => f.name === name) ?? { xml: "" };
    fc.assert(
      fc.property(fc.array(mutation(xml), { minLength: 1, maxLength: 4 }), (ms) => {
        const mutated = ms.reduce(apply, xml);
        const parsed = parseOrRefuse(mutated);
        if (parsed instanceof OvfError) {
          expect(parsed.message.length).toBeGreaterThan(0);
          return;
        }
        // Never an invented id: every disk and image id read is in the document.
        const lower = mutated.toLowerCase();
        const found = ids(parsed);
        for (const id of [...found.disks, ...found.images, parsed.vm.id])
          expect(lower).toContain(id.toLowerCase());
        // A rewrite with fresh ids is read back with exactly those ids, and nothing else moved.
        const diskIds = new Map(found.disks.map((d) => [d, randomUUID()]));
        const imageIds = new Map(found.images.map((i) => [i, randomUUID()]));
        const vmId = randomUUID();
        let rewritten: string;
        try {
          rewritten = rewriteOvf(mutated, { diskIds, imageIds, vmId, name: "restored" });
        } catch (e) {
          if (e instanceof OvfError) return;
          throw new Error(`rewrite: not a clean refusal: ${String(e)}`, { cause: e });
        }
        const again = parseOrRefuse(rewritten);
        if (again instanceof OvfError)
          throw new Error(`the rewrite of a readable OVF is unreadable: ${again.message}`);
        const back = ids(again);
        expect(back.disks).toEqual(found.disks.map((d) => diskIds.get(d)));
        expect(back.images).toEqual(found.images.map((i) => imageIds.get(i)));
        expect(again.vm.id).toBe(vmId);
        expect(again.vm.name).toBe("restored");
        expect(again.disks.map((d) => d.volumes.length)).toEqual(parsed.disks.map((d) => d.volumes.length));
      }),
      {
        seed,
        numRuns: 300,
        // Found by this test: an entity that turns a LUN disk's id into "&000-…" was read as that id.
        examples:
          name === "engine-4.4-lun-template.ovf" ? [[[{ kind: "replace", at: 1626, text: "&amp;" }]]] : [],
      },
    );
  });
});
