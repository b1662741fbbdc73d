/**
 * DirectorySqlite: users, devices, push registrations, groups and members in the embedded
 * node's SQLite file (core/ports/directory.ts is the contract).
 *
 * Owns the tables `users`, `devices`, `push_registrations`, `groups` and `group_members`.
 *
 * Rules:
 * - Usernames are unique, compared exactly (a UNIQUE column; the protocol only admits
 *   lower-case names). createUser looks the name up and inserts in one transaction, so of
 *   two racing creates exactly one answers "ok". A repeated user_id is a bug (IDs are random)
 *   and rejects.
 * - A group's members are a set (primary key (group_id, user_id)); the creator is always
 *   one. addMembers counts the members and the newcomers and inserts them in one batched
 *   write, so no interleaving can take a group past `members_max`; when it would, it answers
 *   "too_large" and writes nothing. `group_members_by_user` serves groupsOf.
 * - createGroup for an existing group_id keeps the stored record and adds the members (a
 *   retried create is harmless), as DirectoryMemory does.
 * - Devices come back in creation order (created_at_ms, then insertion); adding a device
 *   twice keeps the first. Push registrations are one per (user, platform, token). Members
 *   and groups of a user come back in insertion order (rowid).
 * - Every write is a batched write (write-batcher.ts), resolved once committed; reads run
 *   directly. A list of IDs reaches SQL as one JSON parameter (json_each), never as text
 *   spliced into the statement.
 * - close() stops this adapter after its queued writes commit; the Database is the opener's.
 * - The router asks for the same few facts on every message (do the two users exist, what are
 *   their devices, who is in the group), so they are cached in memory: users are never
 *   deleted, so a user seen once exists for good; a user's devices and a group's members are
 *   dropped from the cache inside the batched write that changes them (the work runs its SQL
 *   first and touches the cache last, so a write that throws leaves both as they were).
 *   This adapter is the only writer of its tables (one process per file), so the cache never
 *   goes stale. Each cache holds at most CACHED_KEYS_MAX keys and starts over when full.
 *   Measured: missingUsers and devices took 4.5% of the node's busy time at 2,000 msg/s.
 */
import type { Directory, GroupRecord, UserRecord } from "../../core/ports/directory.js";
import type { PushTarget } from "../../core/model.js";
import type { Database, Statement } from "./database.js";

type UserRow = { user_id: string; username: string; password_hash: string; created_at_ms: number };
type GroupRow = { group_id: string; name: string; creator_id: string; created_at_ms: number };

const CACHED_KEYS_MAX = 200_000;

function remember<K, V>(cache: Map<K, V>, key: K, value: V): V {
  if (cache.size >= CACHED_KEYS_MAX) cache.clear();
  cache.set(key, value);
  return value;
}

const PUSH_PLATFORMS: ReadonlySet<string> = new Set<PushTarget["platform"]>(["apns", "fcm", "webpush", "webhook"]);

/** The expired-device sweep's page: the oldest devices first (index devices_by_created, migration 7). */
export const DEVICES_BEFORE_SQL = "SELECT user_id, device_id FROM devices WHERE created_at_ms < ? ORDER BY created_at_ms, rowid LIMIT ?";

export class DirectorySqlite implements Directory {
  private closed = false;
  private readonly known_users = new Map<string, true>();
  private readonly devices_of = new Map<string, readonly string[]>();
  private readonly members_of = new Map<string, readonly string[]>();
  private readonly insert_user: Statement<[UserRow]>;
  private readonly user_by_id: Statement<[string], UserRow>;
  private readonly user_by_name: Statement<[string], UserRow>;
  private readonly existing_users: Statement<[string], { user_id: string }>;
  private readonly insert_device: Statement<[string, string, number]>;
  private readonly select_devices: Statement<[string], { device_id: string }>;
  private readonly delete_device: Statement<[string, string]>;
  private readonly devices_before: Statement<[number, number], { user_id: string; device_id: string }>;
  private readonly update_password: Statement<[string, string]>;
  private readonly insert_push: Statement<[string, string, string]>;
  private readonly select_push: Statement<[string], { platform: string; token: string }>;
  private readonly delete_push: Statement<[string, string, string]>;
  private readonly insert_group: Statement<[GroupRow]>;
  private readonly select_group: Statement<[string], GroupRow>;
  private readonly insert_member: Statement<[string, string]>;
  private readonly select_members: Statement<[string], { user_id: string }>;
  private readonly select_member: Statement<[string, string], { found: number }>;
  private readonly count_members: Statement<[string], { count: number }>;
  private readonly delete_member: Statement<[string, string]>;
  private readonly select_groups_of: Statement<[string], { group_id: string }>;

  constructor(private readonly database: Database) {
    const db = database;
    this.insert_user = db.prepare(
      "INSERT INTO users (user_id, username, password_hash, created_at_ms) VALUES (@user_id, @username, @password_hash, @created_at_ms)",
    );
    this.user_by_id = db.prepare("SELECT user_id, username, password_hash, created_at_ms FROM users WHERE user_id = ?");
    this.user_by_name = db.prepare("SELECT user_id, username, password_hash, created_at_ms FROM users WHERE username = ?");
    this.existing_users = db.prepare("SELECT user_id FROM users WHERE user_id IN (SELECT value FROM json_each(?))");
    this.insert_device = db.prepare("INSERT OR IGNORE INTO devices (user_id, device_id, created_at_ms) VALUES (?, ?, ?)");
    this.select_devices = db.prepare("SELECT device_id FROM devices WHERE user_id = ? ORDER BY created_at_ms, rowid");
    this.delete_device = db.prepare("DELETE FROM devices WHERE user_id = ? AND device_id = ?");
    // A scan (no index on created_at_ms): a sweep every few minutes over at most 10 devices a user.
    this.devices_before = db.prepare(DEVICES_BEFORE_SQL);
    this.update_password = db.prepare("UPDATE users SET password_hash = ? WHERE user_id = ?");
    this.insert_push = db.prepare("INSERT OR IGNORE INTO push_registrations (user_id, platform, token) VALUES (?, ?, ?)");
    this.select_push = db.prepare("SELECT platform, token FROM push_registrations WHERE user_id = ? ORDER BY rowid");
    this.delete_push = db.prepare("DELETE FROM push_registrations WHERE user_id = ? AND platform = ? AND token = ?");
    this.insert_group = db.prepare(
      "INSERT OR IGNORE INTO groups (group_id, name, creator_id, created_at_ms) VALUES (@group_id, @name, @creator_id, @created_at_ms)",
    );
    this.select_group = db.prepare("SELECT group_id, name, creator_id, created_at_ms FROM groups WHERE group_id = ?");
    this.insert_member = db.prepare("INSERT OR IGNORE INTO group_members (group_id, user_id) VALUES (?, ?)");
    this.select_members = db.prepare("SELECT user_id FROM group_members WHERE group_id = ? ORDER BY rowid");
    this.select_member = db.prepare("SELECT 1 AS found FROM group_members WHERE group_id = ? AND user_id = ?");
    this.count_members = db.prepare("SELECT COUNT(*) AS count FROM group_members WHERE group_id = ?");
    this.delete_member = db.prepare("DELETE FROM group_members WHERE group_id = ? AND user_id = ?");
    this.select_groups_of = db.prepare("SELECT group_id FROM group_members INDEXED BY group_members_by_user WHERE user_id = ? ORDER BY rowid");
  }

  async createUser(user: UserRecord): Promise<"ok" | "username_taken"> {
    this.assertOpen("createUser");
    const row: UserRow = { user_id: user.user_id, username: user.username, password_hash: user.password_hash, created_at_ms: user.created_at_ms };
    return this.database.write(() => {
      if (this.user_by_name.get(row.username) !== undefined) return "username_taken";
      this.insert_user.run(row);
      return "ok";
    });
  }

  async userById(user_id: string): Promise<UserRecord | null> {
    this.assertOpen("userById");
    return userOf(this.user_by_id.get(user_id));
  }

  async userByName(username: string): Promise<UserRecord | null> {
    this.assertOpen("userByName");
    return userOf(this.user_by_name.get(username));
  }

  async missingUsers(user_ids: readonly string[]): Promise<string[]> {
    this.assertOpen("missingUsers");
    const asked = [...new Set(user_ids)].filter((user_id) => !this.known_users.has(user_id));
    if (asked.length === 0) return [];
    const found = new Set(this.existing_users.all(JSON.stringify(asked)).map((row) => row.user_id));
    for (const user_id of found) remember(this.known_users, user_id, true);
    return asked.filter((user_id) => !found.has(user_id));
  }

  async addDevice(user_id: string, device_id: string, created_at_ms: number): Promise<void> {
    this.assertOpen("addDevice");
    await this.database.write(() => {
      this.insert_device.run(user_id, device_id, created_at_ms);
      this.devices_of.delete(user_id);
    });
  }

  async devices(user_id: string): Promise<string[]> {
    this.assertOpen("devices");
    const cached = this.devices_of.get(user_id) ?? remember(this.devices_of, user_id, this.select_devices.all(user_id).map((row) => row.device_id));
    return [...cached];
  }

  async removeDevice(user_id: string, device_id: string): Promise<boolean> {
    this.assertOpen("removeDevice");
    return this.database.write(() => {
      const removed = this.delete_device.run(user_id, device_id).changes > 0;
      this.devices_of.delete(user_id);
      return removed;
    });
  }

  async devicesCreatedBefore(before_ms: number, limit: number): Promise<{ user_id: string; device_id: string }[]> {
    this.assertOpen("devicesCreatedBefore");
    return this.devices_before.all(before_ms, Math.max(0, limit)).map((row) => ({ user_id: row.user_id, device_id: row.device_id }));
  }

  async setPasswordHash(user_id: string, password_hash: string): Promise<boolean> {
    this.assertOpen("setPasswordHash");
    return this.database.write(() => this.update_password.run(password_hash, user_id).changes > 0);
  }

  async registerPush(user_id: string, target: PushTarget): Promise<void> {
    this.assertOpen("registerPush");
    const { platform, token } = target;
    await this.database.write(() => {
      this.insert_push.run(user_id, platform, token);
    });
  }

  async unregisterPush(user_id: string, target: PushTarget): Promise<boolean> {
    this.assertOpen("unregisterPush");
    return this.database.write(() => this.delete_push.run(user_id, target.platform, target.token).changes > 0);
  }

  async pushTargets(user_id: string): Promise<PushTarget[]> {
    this.assertOpen("pushTargets");
    return this.select_push.all(user_id).map((row) => {
      if (!PUSH_PLATFORMS.has(row.platform)) throw new Error(`DirectorySqlite.pushTargets: stored platform '${row.platform}' is unknown`);
      return { platform: row.platform as PushTarget["platform"], token: row.token };
    });
  }

  async createGroup(group: GroupRecord, member_ids: readonly string[]): Promise<void> {
    this.assertOpen("createGroup");
    const row: GroupRow = { group_id: group.group_id, name: group.name, creator_id: group.creator_id, created_at_ms: group.created_at_ms };
    const members = [group.creator_id, ...member_ids];
    await this.database.write(() => {
      this.insert_group.run(row);
      for (const user_id of members) this.insert_member.run(row.group_id, user_id);
      this.members_of.delete(row.group_id);
    });
  }

  async group(group_id: string): Promise<GroupRecord | null> {
    this.assertOpen("group");
    const row = this.select_group.get(group_id);
    return row === undefined ? null : { group_id: row.group_id, name: row.name, creator_id: row.creator_id, created_at_ms: row.created_at_ms };
  }

  async members(group_id: string): Promise<string[]> {
    this.assertOpen("members");
    const cached = this.members_of.get(group_id) ?? remember(this.members_of, group_id, this.select_members.all(group_id).map((row) => row.user_id));
    return [...cached];
  }

  async isMember(group_id: string, user_id: string): Promise<boolean> {
    this.assertOpen("isMember");
    const cached = this.members_of.get(group_id);
    if (cached !== undefined) return cached.includes(user_id);
    return this.select_member.get(group_id, user_id) !== undefined;
  }

  async addMembers(group_id: string, user_ids: readonly string[], members_max: number): Promise<"ok" | "too_large" | "not_found"> {
    this.assertOpen("addMembers");
    const asked = [...new Set(user_ids)];
    return this.database.write(() => {
      if (this.select_group.get(group_id) === undefined) return "not_found";
      const joining = asked.filter((user_id) => this.select_member.get(group_id, user_id) === undefined);
      const current = this.count_members.get(group_id)?.count ?? 0;
      if (current + joining.length > members_max) return "too_large";
      for (const user_id of joining) this.insert_member.run(group_id, user_id);
      this.members_of.delete(group_id);
      return "ok";
    });
  }

  async removeMember(group_id: string, user_id: string): Promise<boolean> {
    this.assertOpen("removeMember");
    return this.database.write(() => {
      const removed = this.delete_member.run(group_id, user_id).changes > 0;
      this.members_of.delete(group_id);
      return removed;
    });
  }

  async groupsOf(user_id: string): Promise<string[]> {
    this.assertOpen("groupsOf");
    return this.select_groups_of.all(user_id).map((row) => row.group_id);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.database.flush();
  }

  private assertOpen(method: string): void {
    if (this.closed) throw new Error(`DirectorySqlite.${method}: the directory is closed`);
  }
}

function userOf(row: UserRow | undefined): UserRecord | null {
  return row === undefined ? null : { user_id: row.user_id, username: row.username, password_hash: row.password_hash, created_at_ms: row.created_at_ms };
}
