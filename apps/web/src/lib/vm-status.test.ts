import { describe, expect, it } from "vitest";
import { guestDuringBackup } from "./vm-status";

describe("guestDuringBackup", () => {
  it("says a running VM keeps running, and never that a stopped one does", () => {
    expect(guestDuringBackup("up")).toBe("The VM keeps running.");
    expect(guestDuringBackup("down")).toMatch(/^The VM is down/);
    expect(guestDuringBackup("down")).not.toMatch(/keeps running/);
    expect(guestDuringBackup(null)).not.toMatch(/keeps running/);
  });
});
