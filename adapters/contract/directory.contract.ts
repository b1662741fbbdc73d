/**
 * The Directory contract (core/ports/directory.ts), as vitest tests that every Directory
 * must pass: memory, simulated, SQLite, and PostgreSQL for real.
 *
 * Rules of this suite: it speaks only the port and the harness; every test creates its own
 * users (unique IDs and usernames), devices and groups, so data left by other tests or runs
 * cannot change an answer. Where the port promises no order (members, groups of a user,
 * push targets, missing users) the suite compares sorted lists.
 */
import { randomUUID } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Directory, GroupRecord, UserRecord } from "../../core/ports/directory.js";
import type { PushTarget } from "../../core/model.js";

export type DirectoryHarness = {
  readonly directory: Directory;
  /** Closes the directory and releases whatever the factory started. */
  cleanup(): Promise<void>;
};

export type DirectoryContractOptions = {
  /** Per-test timeout for slow servers; vitest's configured default otherwise. */
  readonly test_timeout_ms?: number;
};

const sortedStrings = (values: readonly string[]): string[] => [...values].sort();
const sortedTargets = (targets: readonly PushTarget[]): PushTarget[] =>
  [...targets].sort((a, b) => (a.platform + "\n" + a.token < b.platform + "\n" + b.token ? -1 : 1));

export function describeDirectoryContract(name: string, factory: () => Promise<DirectoryHarness>, options: DirectoryContractOptions = {}): void {
  describe(`Directory contract: ${name}`, () => {
    const run = randomUUID().slice(0, 8);
    let counter = 0;
    const unique = (prefix: string): string => `${prefix}-${run}-${++counter}`;

    let harness: DirectoryHarness | null = null;
    beforeEach(async () => {
      harness = await factory();
    });
    afterEach(async () => {
      await harness?.cleanup();
      harness = null;
    });
    const directory = (): Directory => {
      if (harness === null) throw new Error("Directory contract: the harness is not open");
      return harness.directory;
    };

    const userRecord = (): UserRecord => {
      const tag = unique("u");
      return { user_id: `usr_${tag}`, username: `name.${tag}`, password_hash: `hash:${randomUUID()}`, created_at_ms: 1_750_000_000_000 + counter };
    };
    const newUser = async (): Promise<UserRecord> => {
      const user = userRecord();
      expect(await directory().createUser(user)).toBe("ok");
      return user;
    };
    const newUsers = async (count: number): Promise<string[]> => {
      const ids: string[] = [];
      for (let i = 0; i < count; i++) ids.push((await newUser()).user_id);
      return ids;
    };
    const groupRecord = (creator_id: string): GroupRecord => ({
      group_id: `grp_${unique("g")}`,
      name: `Group ${counter}`,
      creator_id,
      created_at_ms: 1_750_000_000_000 + counter,
    });

    const timeout = options.test_timeout_ms;

    it(
      "creates a user and finds it by ID and by name",
      async () => {
        const user = await newUser();
        expect(await directory().userById(user.user_id)).toEqual(user);
        expect(await directory().userByName(user.username)).toEqual(user);
        expect(await directory().userById(unique("usr_none"))).toBeNull();
        expect(await directory().userByName(unique("name.none"))).toBeNull();
      },
      timeout,
    );

    it(
      "answers username_taken for a second user with the same name, and keeps the first",
      async () => {
        const first = await newUser();
        const second: UserRecord = { ...userRecord(), username: first.username };
        expect(await directory().createUser(second)).toBe("username_taken");
        expect(await directory().userByName(first.username)).toEqual(first);
        expect(await directory().userById(second.user_id)).toBeNull();
      },
      timeout,
    );

    it(
      "answers which of the given user IDs belong to no user",
      async () => {
        const [a, b] = await newUsers(2);
        const ghost = unique("usr_ghost");
        const phantom = unique("usr_phantom");
        expect(sortedStrings(await directory().missingUsers([a as string, ghost, b as string, phantom]))).toEqual(sortedStrings([ghost, phantom]));
        expect(await directory().missingUsers([a as string, b as string])).toEqual([]);
        expect(await directory().missingUsers([])).toEqual([]);
      },
      timeout,
    );

    it(
      "lists a user's devices in creation order",
      async () => {
        const user = await newUser();
        const other = await newUser();
        expect(await directory().devices(user.user_id)).toEqual([]);
        const devices = [unique("dev"), unique("dev"), unique("dev")];
        for (const [i, device_id] of devices.entries()) await directory().addDevice(user.user_id, device_id, 1_750_000_000_000 + i * 1_000);
        await directory().addDevice(other.user_id, unique("dev"), 1_750_000_000_500);
        expect(await directory().devices(user.user_id)).toEqual(devices);
      },
      timeout,
    );

    it(
      "removes one device, answering whether it was there, and keeps the order of the rest",
      async () => {
        const user = await newUser();
        const devices = [unique("dev"), unique("dev"), unique("dev")];
        for (const [i, device_id] of devices.entries()) await directory().addDevice(user.user_id, device_id, 1_750_000_000_000 + i * 1_000);
        expect(await directory().removeDevice(user.user_id, devices[1]!)).toBe(true);
        expect(await directory().removeDevice(user.user_id, devices[1]!)).toBe(false);
        expect(await directory().removeDevice(unique("usr_none"), devices[0]!)).toBe(false);
        expect(await directory().devices(user.user_id)).toEqual([devices[0], devices[2]]);
      },
      timeout,
    );

    it(
      "lists devices created before a time, oldest first, at most limit",
      async () => {
        const [a, b] = await newUsers(2);
        const t = 1_000_000_000_000 + counter * 10_000;
        const [a1, a2, b1] = [unique("dev"), unique("dev"), unique("dev")];
        await directory().addDevice(a!, a2, t + 20);
        await directory().addDevice(b!, b1, t + 10);
        await directory().addDevice(a!, a1, t + 5);
        const mine = (rows: { user_id: string; device_id: string }[]) => rows.filter((r) => [a1, a2, b1].includes(r.device_id));
        expect(mine(await directory().devicesCreatedBefore(t + 20, 10_000))).toEqual([
          { user_id: a, device_id: a1 },
          { user_id: b, device_id: b1 },
        ]);
        expect(await directory().devicesCreatedBefore(t + 20, 0)).toEqual([]);
        await directory().removeDevice(a!, a1);
        expect(mine(await directory().devicesCreatedBefore(t + 21, 10_000))).toEqual([
          { user_id: b, device_id: b1 },
          { user_id: a, device_id: a2 },
        ]);
      },
      timeout,
    );

    it(
      "replaces a user's password hash, answering whether the user exists",
      async () => {
        const user = await newUser();
        expect(await directory().setPasswordHash(user.user_id, "scrypt$new")).toBe(true);
        expect(await directory().userById(user.user_id)).toEqual({ ...user, password_hash: "scrypt$new" });
        expect(await directory().userByName(user.username)).toEqual({ ...user, password_hash: "scrypt$new" });
        expect(await directory().setPasswordHash(unique("usr_none"), "scrypt$x")).toBe(false);
      },
      timeout,
    );

    it(
      "keeps one push registration per (platform, token)",
      async () => {
        const user = await newUser();
        const other = await newUser();
        expect(await directory().pushTargets(user.user_id)).toEqual([]);
        const token = unique("token");
        const webhook: PushTarget = { platform: "webhook", token };
        const webpush: PushTarget = { platform: "webpush", token };
        const fcm: PushTarget = { platform: "fcm", token: unique("token") };
        await directory().registerPush(user.user_id, webhook);
        await directory().registerPush(user.user_id, webpush);
        await directory().registerPush(user.user_id, webhook);
        await directory().registerPush(user.user_id, fcm);
        await directory().registerPush(other.user_id, { platform: "apns", token: unique("token") });
        expect(sortedTargets(await directory().pushTargets(user.user_id))).toEqual(sortedTargets([webhook, webpush, fcm]));
      },
      timeout,
    );

    it(
      "unregisters one push registration, the one the provider said is gone",
      async () => {
        const user = await newUser();
        const other = await newUser();
        const token = unique("token");
        const apns: PushTarget = { platform: "apns", token };
        const fcm: PushTarget = { platform: "fcm", token };
        await directory().registerPush(user.user_id, apns);
        await directory().registerPush(user.user_id, fcm);
        await directory().registerPush(other.user_id, apns);
        expect(await directory().unregisterPush(user.user_id, apns)).toBe(true);
        expect(await directory().unregisterPush(user.user_id, apns)).toBe(false);
        expect(await directory().pushTargets(user.user_id)).toEqual([fcm]);
        expect(await directory().pushTargets(other.user_id)).toEqual([apns]);
        await directory().registerPush(user.user_id, apns);
        expect(sortedTargets(await directory().pushTargets(user.user_id))).toEqual(sortedTargets([apns, fcm]));
      },
      timeout,
    );

    it(
      "stores a group with its members, the creator included and duplicates once",
      async () => {
        const [creator, a, b, outsider] = await newUsers(4);
        const group = groupRecord(creator as string);
        await directory().createGroup(group, [a as string, b as string, a as string, creator as string]);
        expect(await directory().group(group.group_id)).toEqual(group);
        expect(sortedStrings(await directory().members(group.group_id))).toEqual(sortedStrings([creator as string, a as string, b as string]));
        expect(await directory().isMember(group.group_id, creator as string)).toBe(true);
        expect(await directory().isMember(group.group_id, b as string)).toBe(true);
        expect(await directory().isMember(group.group_id, outsider as string)).toBe(false);
        expect(await directory().groupsOf(a as string)).toEqual([group.group_id]);
        expect(await directory().groupsOf(outsider as string)).toEqual([]);
      },
      timeout,
    );

    it(
      "answers null and no members for an unknown group",
      async () => {
        const ghost = unique("grp_ghost");
        const [user] = await newUsers(1);
        expect(await directory().group(ghost)).toBeNull();
        expect(await directory().members(ghost)).toEqual([]);
        expect(await directory().isMember(ghost, user as string)).toBe(false);
        expect(await directory().addMembers(ghost, [user as string], 10)).toBe("not_found");
        expect(await directory().removeMember(ghost, user as string)).toBe(false);
      },
      timeout,
    );

    it(
      "adds members up to members_max, counting members already in once",
      async () => {
        const [creator, a, b, c, d] = await newUsers(5);
        const group = groupRecord(creator as string);
        await directory().createGroup(group, [a as string]);
        expect(await directory().addMembers(group.group_id, [a as string, b as string, b as string], 3)).toBe("ok");
        expect(sortedStrings(await directory().members(group.group_id))).toEqual(sortedStrings([creator as string, a as string, b as string]));
        // Already full: a repeat of present members still fits, a new one does not.
        expect(await directory().addMembers(group.group_id, [a as string, creator as string], 3)).toBe("ok");
        expect(await directory().addMembers(group.group_id, [c as string, d as string], 4)).toBe("too_large");
        expect(sortedStrings(await directory().members(group.group_id))).toEqual(sortedStrings([creator as string, a as string, b as string]));
        expect(await directory().isMember(group.group_id, c as string)).toBe(false);
        expect(await directory().groupsOf(c as string)).toEqual([]);
        expect(await directory().addMembers(group.group_id, [c as string, d as string], 5)).toBe("ok");
        expect(sortedStrings(await directory().members(group.group_id))).toEqual(sortedStrings([creator, a, b, c, d] as string[]));
        expect(await directory().groupsOf(d as string)).toEqual([group.group_id]);
      },
      timeout,
    );

    it(
      "removes a member and answers whether the user was one",
      async () => {
        const [creator, a, outsider] = await newUsers(3);
        const group = groupRecord(creator as string);
        await directory().createGroup(group, [a as string]);
        expect(await directory().removeMember(group.group_id, a as string)).toBe(true);
        expect(await directory().removeMember(group.group_id, a as string)).toBe(false);
        expect(await directory().removeMember(group.group_id, outsider as string)).toBe(false);
        expect(await directory().members(group.group_id)).toEqual([creator]);
        expect(await directory().isMember(group.group_id, a as string)).toBe(false);
        expect(await directory().groupsOf(a as string)).toEqual([]);
        // A removed member can be added again.
        expect(await directory().addMembers(group.group_id, [a as string], 10)).toBe("ok");
        expect(await directory().isMember(group.group_id, a as string)).toBe(true);
      },
      timeout,
    );

    it(
      "lists every group a user belongs to",
      async () => {
        const [creator, a] = await newUsers(2);
        const one = groupRecord(creator as string);
        const two = groupRecord(a as string);
        const three = groupRecord(creator as string);
        await directory().createGroup(one, [a as string]);
        await directory().createGroup(two, []);
        await directory().createGroup(three, []);
        expect(sortedStrings(await directory().groupsOf(a as string))).toEqual(sortedStrings([one.group_id, two.group_id]));
        expect(sortedStrings(await directory().groupsOf(creator as string))).toEqual(sortedStrings([one.group_id, three.group_id]));
      },
      timeout,
    );
  });
}
