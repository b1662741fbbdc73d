import { describe, expect, it } from "vitest";
import { describeDirectoryContract } from "../contract/directory.contract.js";
import { DirectoryMemory } from "./directory-memory.js";

describeDirectoryContract("DirectoryMemory", async () => {
  const directory = new DirectoryMemory();
  return { directory, cleanup: () => directory.close() };
});

describe("DirectoryMemory", () => {
  it("orders devices by created_at_ms even when added out of order, and keeps the first of a repeat", async () => {
    const directory = new DirectoryMemory();
    await directory.addDevice("u", "late", 300);
    await directory.addDevice("u", "early", 100);
    await directory.addDevice("u", "late", 50);
    expect(await directory.devices("u")).toEqual(["early", "late"]);
  });

  it("keeps the stored record when a group is created again, adding the new members", async () => {
    const directory = new DirectoryMemory();
    const group = { group_id: "g", name: "first", creator_id: "c", created_at_ms: 1 };
    await directory.createGroup(group, ["a"]);
    await directory.createGroup({ ...group, name: "second" }, ["b"]);
    expect((await directory.group("g"))?.name).toBe("first");
    expect(await directory.members("g")).toEqual(["c", "a", "b"]);
  });

  it("answers each missing user once, in the order asked", async () => {
    const directory = new DirectoryMemory();
    expect(await directory.missingUsers(["x", "y", "x"])).toEqual(["x", "y"]);
  });
});
