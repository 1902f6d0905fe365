import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { openSecret, parseKey32, sealSecret } from "../src/secrets";

describe("sealSecret", () => {
  it("round-trips and never contains the plain text", () => {
    const key = randomBytes(32);
    const sealed = sealSecret("s3cret-p@ss", key);
    expect(sealed).not.toContain("s3cret");
    expect(openSecret(sealed, key)).toBe("s3cret-p@ss");
  });

  it("refuses a wrong key with a clear message", () => {
    const sealed = sealSecret("x", randomBytes(32));
    expect(() => openSecret(sealed, randomBytes(32))).toThrow(/LIFEBOAT_ENCRYPTION_KEY/);
  });

  it("parses hex and base64 keys and rejects other lengths", () => {
    const raw = randomBytes(32);
    expect(parseKey32(raw.toString("hex"), "K").equals(raw)).toBe(true);
    expect(parseKey32(raw.toString("base64"), "K").equals(raw)).toBe(true);
    expect(() => parseKey32("abcd", "K")).toThrow(/K must be 32 bytes/);
  });
});
