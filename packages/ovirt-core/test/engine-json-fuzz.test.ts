// Property test of the engine client's reading of entity JSON (fast-check), over real HTTPS against the scripted
// engine double (the simulator only sends well-formed answers): a disk with fields missing, mistyped or added is
// read, or refused with an EngineError that names a field it changed — never another exception, never a wrong
// id or size passed on. CI runs a fixed seed.
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EngineClient, EngineError } from "../src/engine";
import { diskJson, ids } from "./support/engine-fixtures";
import { makePki, type TestPki } from "./support/pki";
import { ScriptedServer } from "./support/scripted-server";

const seed = process.env.CI ? 20261207 : undefined;

let pki: TestPki;
let server: ScriptedServer;
let client: EngineClient;
let answer: unknown = diskJson();
beforeAll(async () => {
  pki = makePki();
  server = await ScriptedServer.start(pki);
  server.route("GET", `/disks/${ids.disk}`, () => ({ json: answer }));
  client = new EngineClient({
    url: server.url,
    username: server.opts.username,
    password: server.opts.password,
    caPem: pki.caPem,
    retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
  });
});
afterAll(async () => {
  await client?.close();
  await server?.close();
  pki?.cleanup();
});

const KEYS = Object.keys(diskJson());
const wrongValue = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double(),
  fc.constantFrom("", "-1", "1e3", "9007199254740993", "TRUE", "nope", "\u0000", "\ud800"),
  fc.string({ maxLength: 8 }),
  fc.constant({}),
  fc.constant([]),
  fc.constant({ id: 42 }),
);
const change = fc.oneof(
  fc.record({ kind: fc.constant("drop" as const), key: fc.constantFrom(...KEYS) }),
  fc.record({ kind: fc.constant("set" as const), key: fc.constantFrom(...KEYS), value: wrongValue }),
  fc.record({
    kind: fc.constant("add" as const),
    key: fc.string({ minLength: 1, maxLength: 10 }),
    value: wrongValue,
  }),
);

describe("the engine client reading a disk", () => {
  it("reads a well-formed disk", async () => {
    answer = diskJson();
    expect(await client.disks.get(ids.disk)).toMatchObject({ id: ids.disk, provisionedSize: 21474836480n });
  });

  it("reads mangled disks or refuses them naming a changed field, never passing on a wrong id or size", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(change, { minLength: 1, maxLength: 4 }), async (changes) => {
        const json: Record<string, unknown> = diskJson();
        for (const c of changes) {
          if (c.kind === "drop") delete json[c.key];
          else json[c.key] = c.value;
        }
        answer = json;
        let disk: Awaited<ReturnType<typeof client.disks.get>>;
        try {
          disk = await client.disks.get(ids.disk);
        } catch (e) {
          if (!(e instanceof EngineError)) throw new Error(`not a clean refusal: ${String(e)}`, { cause: e });
          expect(e.message).toMatch(/unexpected engine answer to GET \/disks\//);
          const named = changes.some((c) => e.message.includes(c.key));
          if (!named) throw new Error(`the refusal names no changed field: ${e.message}`);
          return;
        }
        // Read: whatever it passes on for the id and the size is what the engine sent.
        expect(disk.id).toBe(json.id);
        if (disk.provisionedSize !== undefined && disk.provisionedSize !== null)
          expect(String(disk.provisionedSize)).toBe(String(json.provisioned_size).trim());
      }),
      { seed, numRuns: 200 },
    );
  });
});
