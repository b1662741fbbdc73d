import { describe, expect, it } from "vitest";
import { describeDirectoryContract } from "../contract/directory.contract.js";
import { DEVICES_BEFORE_SQL, DirectorySqlite } from "./directory-sqlite.js";
import { tempDatabase } from "./test-support.js";

describeDirectoryContract("DirectorySqlite", async () => {
  const temp = tempDatabase();
  const directory = new DirectorySqlite(temp.database);
  return {
    directory,
    cleanup: async () => {
      await directory.close();
      await temp.cleanup();
    },
  };
});

describe("DirectorySqlite", () => {
  it("pages the expired-device sweep through an index on created_at_ms, not a scan and a sort of every device", async () => {
    const temp = tempDatabase();
    try {
      const plan = temp.database
        .prepare<[number, number], { detail: string }>(`EXPLAIN QUERY PLAN ${DEVICES_BEFORE_SQL}`)
        .all(1, 10)
        .map((row) => row.detail)
        .join("; ");
      // Before migration 7: "SCAN devices; USE TEMP B-TREE FOR ORDER BY".
      expect(plan).toMatch(/SEARCH devices USING (COVERING )?INDEX devices_by_created \(created_at_ms<\?\)/);
      expect(plan).not.toMatch(/TEMP B-TREE/);
    } finally {
      await temp.cleanup();
    }
  });

  it("answers from its cache only what the file says: devices and members read, changed, read again", async () => {
    const temp = tempDatabase();
    try {
      const directory = new DirectorySqlite(temp.database);
      await directory.createUser({ user_id: "u", username: "u", password_hash: "-", created_at_ms: 1 });
      expect(await directory.missingUsers(["u", "nobody"])).toEqual(["nobody"]);
      expect(await directory.missingUsers(["u", "nobody"])).toEqual(["nobody"]);
      await directory.addDevice("u", "d1", 1);
      expect(await directory.devices("u")).toEqual(["d1"]);
      await directory.addDevice("u", "d2", 2);
      expect(await directory.devices("u")).toEqual(["d1", "d2"]);
      // A caller changing the answer it got cannot change the next one.
      (await directory.devices("u")).push("forged");
      expect(await directory.devices("u")).toEqual(["d1", "d2"]);

      await directory.createGroup({ group_id: "g", name: "g", creator_id: "c", created_at_ms: 1 }, ["a"]);
      expect(await directory.members("g")).toEqual(["c", "a"]);
      expect(await directory.isMember("g", "b")).toBe(false);
      expect(await directory.addMembers("g", ["b"], 10)).toBe("ok");
      expect(await directory.isMember("g", "b")).toBe(true);
      expect(await directory.members("g")).toEqual(["c", "a", "b"]);
      expect(await directory.removeMember("g", "a")).toBe(true);
      expect(await directory.isMember("g", "a")).toBe(false);
      expect(await directory.members("g")).toEqual(["c", "b"]);
      await directory.createGroup({ group_id: "g", name: "g", creator_id: "c", created_at_ms: 1 }, ["d"]);
      expect(await directory.members("g")).toEqual(["c", "b", "d"]);
      // The same answers from a fresh adapter, which has only the file.
      const fresh = new DirectorySqlite(temp.database);
      expect(await fresh.devices("u")).toEqual(["d1", "d2"]);
      expect(await fresh.members("g")).toEqual(["c", "b", "d"]);
    } finally {
      await temp.cleanup();
    }
  });

  it("orders devices by created_at_ms even when added out of order, and keeps the first of a repeat", async () => {
    const temp = tempDatabase();
    try {
      const directory = new DirectorySqlite(temp.database);
      await directory.addDevice("u", "late", 300);
      await directory.addDevice("u", "early", 100);
      await directory.addDevice("u", "late", 50);
      expect(await directory.devices("u")).toEqual(["early", "late"]);
    } finally {
      await temp.cleanup();
    }
  });

  it("keeps the stored record when a group is created again, adding the new members", async () => {
    const temp = tempDatabase();
    try {
      const directory = new DirectorySqlite(temp.database);
      const group = { group_id: "g", name: "first", creator_id: "c", created_at_ms: 1 };
      await directory.createGroup(group, ["a"]);
      await directory.createGroup({ ...group, name: "second" }, ["b"]);
      expect((await directory.group("g"))?.name).toBe("first");
      expect(await directory.members("g")).toEqual(["c", "a", "b"]);
    } finally {
      await temp.cleanup();
    }
  });

  it("answers each missing user once, in the order asked, with IDs that look like SQL", async () => {
    const temp = tempDatabase();
    try {
      const directory = new DirectorySqlite(temp.database);
      await directory.createUser({ user_id: "x'); DROP TABLE users; --", username: "robert", password_hash: "h", created_at_ms: 1 });
      expect(await directory.missingUsers(["x", "y", "x", "x'); DROP TABLE users; --", '"quoted"'])).toEqual(["x", "y", '"quoted"']);
      expect((await directory.userByName("robert"))?.user_id).toBe("x'); DROP TABLE users; --");
    } finally {
      await temp.cleanup();
    }
  });

  it("never lets concurrent addMembers take a group past members_max", async () => {
    const temp = tempDatabase();
    try {
      const directory = new DirectorySqlite(temp.database);
      await directory.createGroup({ group_id: "g", name: "g", creator_id: "c", created_at_ms: 1 }, []);
      // Ten calls of three new members each into a group of at most ten: three fit, the rest do not.
      const answers = await Promise.all(
        Array.from({ length: 10 }, (_, i) => directory.addMembers("g", [`u${i}a`, `u${i}b`, `u${i}c`], 10)),
      );
      expect(answers.filter((answer) => answer === "ok")).toHaveLength(3);
      expect(answers.filter((answer) => answer === "too_large")).toHaveLength(7);
      expect(await directory.members("g")).toHaveLength(10);
    } finally {
      await temp.cleanup();
    }
  });

  it("answers username_taken to all but one of concurrent creates with one name", async () => {
    const temp = tempDatabase();
    try {
      const directory = new DirectorySqlite(temp.database);
      const answers = await Promise.all(
        Array.from({ length: 5 }, (_, i) => directory.createUser({ user_id: `u${i}`, username: "same", password_hash: "h", created_at_ms: i })),
      );
      expect(answers.filter((answer) => answer === "ok")).toHaveLength(1);
      expect(answers.filter((answer) => answer === "username_taken")).toHaveLength(4);
    } finally {
      await temp.cleanup();
    }
  });

  it("rejects a repeated user_id as a bug and every call once closed", async () => {
    const temp = tempDatabase();
    try {
      const directory = new DirectorySqlite(temp.database);
      expect(await directory.createUser({ user_id: "u", username: "one", password_hash: "h", created_at_ms: 1 })).toBe("ok");
      await expect(directory.createUser({ user_id: "u", username: "two", password_hash: "h", created_at_ms: 1 })).rejects.toThrow(/UNIQUE/);
      expect(await directory.userByName("two")).toBeNull();
      await directory.close();
      await expect(directory.userById("u")).rejects.toThrow(/closed/);
    } finally {
      await temp.cleanup();
    }
  });
});
