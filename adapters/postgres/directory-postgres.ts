/**
 * DirectoryPostgres: users, devices, push registrations, groups and members in PostgreSQL
 * (core/ports/directory.ts is the contract; migrations.ts the schema).
 *
 * Rules:
 * - Parameterized queries only; a list of IDs travels as one text[] parameter.
 * - Usernames are unique by constraint: createUser inserts with ON CONFLICT (username) DO
 *   NOTHING, so of two racing creates exactly one answers "ok". A repeated user_id is a bug (IDs
 *   are random) and rejects with the database's error.
 * - addMembers never takes a group past `members_max`, however many run at once: in one
 *   transaction it locks the group row (SELECT ... FOR UPDATE), then counts members and
 *   newcomers, then inserts. Under READ COMMITTED each statement after the lock sees what the
 *   previous holder committed, so the count is never stale. (One statement with the lock in a
 *   CTE would not do: its snapshot predates the wait.) Too many: "too_large", nothing written.
 * - createGroup for an existing group_id keeps the stored record and adds the members (a
 *   retried create is harmless), as the other Directory implementations do; it does not check
 *   members_max, which is the caller's to check before creating.
 * - Devices come back in creation order (created_at, then insertion), a repeated device keeps
 *   the first; push registrations, members and groups of a user in insertion order.
 * - Times cross as milliseconds: 'epoch' + ms * 1 ms in, extract(epoch) * 1000 (numeric, exact)
 *   out.
 * - The pool is the caller's (see pool.ts): close() stops this adapter, not the pool.
 * - devices and missingUsers, the router's look-ups for every message, are coalesced: the
 *   calls of one event-loop turn share one query for all their users, existence and devices
 *   together (turn-coalescer.ts; nothing is cached, so an answer is as fresh as a query of
 *   its own would have been).
 */
import type { Pool, PoolClient } from "pg";
import type { PushTarget } from "../../core/model.js";
import type { Directory, GroupRecord, UserRecord } from "../../core/ports/directory.js";
import { TurnCoalescer } from "../turn-coalescer.js";

/** Users per coalesced query (devices, existence). */
const LOOKUP_USERS_MAX = 500;

const PUSH_PLATFORMS: ReadonlySet<string> = new Set<PushTarget["platform"]>(["apns", "fcm", "webpush", "webhook"]);

const MS_IN = "'epoch'::timestamptz + $MS::bigint * interval '1 millisecond'";
const msIn = (placeholder: string): string => MS_IN.replace("$MS", placeholder);
const msOut = (column: string): string => `(extract(epoch FROM ${column}) * 1000)::bigint AS ${column}_ms`;

/** The statements, exported so tests can EXPLAIN them (the sweep's index). */
export const DIRECTORY_SQL = {
  insertUser: `INSERT INTO users (user_id, username, password_hash, created_at, home_region) VALUES ($1, $2, $3, ${msIn("$4")}, $5)
    ON CONFLICT (username) DO NOTHING RETURNING user_id`,
  userById: `SELECT user_id, username, password_hash, ${msOut("created_at")} FROM users WHERE user_id = $1`,
  userByName: `SELECT user_id, username, password_hash, ${msOut("created_at")} FROM users WHERE username = $1`,
  homeRegions: "SELECT user_id, home_region FROM users WHERE user_id = ANY($1::text[])",
  existingUsers: "SELECT user_id FROM users WHERE user_id = ANY($1::text[])",
  insertDevice: `INSERT INTO devices (user_id, device_id, created_at) VALUES ($1, $2, ${msIn("$3")}) ON CONFLICT DO NOTHING`,
  // Existence and devices of many users in one query: a user without devices comes back once, device_id null.
  audienceOf: `SELECT u.user_id, d.device_id FROM users u LEFT JOIN devices d ON d.user_id = u.user_id
    WHERE u.user_id = ANY($1::text[]) ORDER BY u.user_id, d.created_at, d.added`,
  deleteDevice: "DELETE FROM devices WHERE user_id = $1 AND device_id = $2",
  devicesBefore: `SELECT user_id, device_id FROM devices WHERE created_at < ${msIn("$1")} ORDER BY created_at, added LIMIT $2`,
  updatePassword: "UPDATE users SET password_hash = $2 WHERE user_id = $1",
  insertPush: "INSERT INTO push_registrations (user_id, platform, token) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
  pushTargets: "SELECT platform, token FROM push_registrations WHERE user_id = $1 ORDER BY added",
  deletePush: "DELETE FROM push_registrations WHERE user_id = $1 AND platform = $2 AND token = $3",
  insertGroup: `INSERT INTO groups (group_id, name, creator_id, created_at) VALUES ($1, $2, $3, ${msIn("$4")}) ON CONFLICT DO NOTHING`,
  group: `SELECT group_id, name, creator_id, ${msOut("created_at")} FROM groups WHERE group_id = $1`,
  lockGroup: "SELECT 1 FROM groups WHERE group_id = $1 FOR UPDATE",
  // In the order given ($2 holds no repeats), so `added` follows it.
  insertMembers: `INSERT INTO group_members (group_id, user_id)
    SELECT $1, m.user_id FROM unnest($2::text[]) WITH ORDINALITY AS m (user_id, position) ORDER BY m.position
    ON CONFLICT DO NOTHING`,
  countMembers: `SELECT count(*)::integer AS current, (count(*) FILTER (WHERE user_id = ANY($2::text[])))::integer AS present
    FROM group_members WHERE group_id = $1`,
  members: "SELECT user_id FROM group_members WHERE group_id = $1 ORDER BY added",
  isMember: "SELECT 1 FROM group_members WHERE group_id = $1 AND user_id = $2",
  deleteMember: "DELETE FROM group_members WHERE group_id = $1 AND user_id = $2",
  groupsOf: "SELECT group_id FROM group_members WHERE user_id = $1 ORDER BY added",
} as const;

type UserRow = { user_id: string; username: string; password_hash: string; created_at_ms: string };
type GroupRow = { group_id: string; name: string; creator_id: string; created_at_ms: string };

export class DirectoryPostgres implements Directory {
  private closed = false;
  /** A user's devices in creation order, or null when the user does not exist. */
  private readonly audienceLoader: TurnCoalescer<readonly string[] | null>;

  constructor(private readonly pool: Pool) {
    this.audienceLoader = new TurnCoalescer<readonly string[] | null>(
      async (user_ids) => {
        const { rows } = await this.pool.query<{ user_id: string; device_id: string | null }>(DIRECTORY_SQL.audienceOf, [user_ids]);
        const found = new Map<string, string[]>();
        for (const row of rows) {
          let list = found.get(row.user_id);
          if (list === undefined) found.set(row.user_id, (list = []));
          if (row.device_id !== null) list.push(row.device_id);
        }
        return found;
      },
      null,
      LOOKUP_USERS_MAX,
    );
  }

  async createUser(user: UserRecord): Promise<"ok" | "username_taken"> {
    this.assertOpen("createUser");
    const result = await this.pool.query(DIRECTORY_SQL.insertUser, [user.user_id, user.username, user.password_hash, user.created_at_ms, user.home_region ?? null]);
    return result.rowCount === 1 ? "ok" : "username_taken";
  }

  /** Each existing user's home region (null: none recorded, HOME_REGION_DEFAULT); unknown users are absent. */
  async homeRegions(user_ids: readonly string[]): Promise<Map<string, string | null>> {
    this.assertOpen("homeRegions");
    const { rows } = await this.pool.query<{ user_id: string; home_region: string | null }>(DIRECTORY_SQL.homeRegions, [[...new Set(user_ids)]]);
    return new Map(rows.map((r) => [r.user_id, r.home_region]));
  }

  async userById(user_id: string): Promise<UserRecord | null> {
    this.assertOpen("userById");
    return userOf((await this.pool.query<UserRow>(DIRECTORY_SQL.userById, [user_id])).rows[0]);
  }

  async userByName(username: string): Promise<UserRecord | null> {
    this.assertOpen("userByName");
    return userOf((await this.pool.query<UserRow>(DIRECTORY_SQL.userByName, [username])).rows[0]);
  }

  async missingUsers(user_ids: readonly string[]): Promise<string[]> {
    this.assertOpen("missingUsers");
    const asked = [...new Set(user_ids)];
    if (asked.length === 0) return [];
    const audience = await Promise.all(asked.map((user_id) => this.audienceLoader.load(user_id)));
    return asked.filter((_, index) => audience[index] === null);
  }

  async addDevice(user_id: string, device_id: string, created_at_ms: number): Promise<void> {
    this.assertOpen("addDevice");
    await this.pool.query(DIRECTORY_SQL.insertDevice, [user_id, device_id, created_at_ms]);
  }

  async devices(user_id: string): Promise<string[]> {
    this.assertOpen("devices");
    return [...((await this.audienceLoader.load(user_id)) ?? [])];
  }

  async removeDevice(user_id: string, device_id: string): Promise<boolean> {
    this.assertOpen("removeDevice");
    return ((await this.pool.query(DIRECTORY_SQL.deleteDevice, [user_id, device_id])).rowCount ?? 0) > 0;
  }

  async devicesCreatedBefore(before_ms: number, limit: number): Promise<{ user_id: string; device_id: string }[]> {
    this.assertOpen("devicesCreatedBefore");
    return (await this.pool.query<{ user_id: string; device_id: string }>(DIRECTORY_SQL.devicesBefore, [before_ms, Math.max(0, limit)])).rows.map((row) => ({ user_id: row.user_id, device_id: row.device_id }));
  }

  async setPasswordHash(user_id: string, password_hash: string): Promise<boolean> {
    this.assertOpen("setPasswordHash");
    return ((await this.pool.query(DIRECTORY_SQL.updatePassword, [user_id, password_hash])).rowCount ?? 0) > 0;
  }

  async registerPush(user_id: string, target: PushTarget): Promise<void> {
    this.assertOpen("registerPush");
    await this.pool.query(DIRECTORY_SQL.insertPush, [user_id, target.platform, target.token]);
  }

  async unregisterPush(user_id: string, target: PushTarget): Promise<boolean> {
    this.assertOpen("unregisterPush");
    const result = await this.pool.query(DIRECTORY_SQL.deletePush, [user_id, target.platform, target.token]);
    return (result.rowCount ?? 0) > 0;
  }

  async pushTargets(user_id: string): Promise<PushTarget[]> {
    this.assertOpen("pushTargets");
    const { rows } = await this.pool.query<{ platform: string; token: string }>(DIRECTORY_SQL.pushTargets, [user_id]);
    return rows.map((row) => {
      if (!PUSH_PLATFORMS.has(row.platform)) throw new Error(`DirectoryPostgres.pushTargets: stored platform '${row.platform}' is unknown`);
      return { platform: row.platform as PushTarget["platform"], token: row.token };
    });
  }

  async createGroup(group: GroupRecord, member_ids: readonly string[]): Promise<void> {
    this.assertOpen("createGroup");
    const members = [...new Set([group.creator_id, ...member_ids])];
    await this.transaction(async (client) => {
      await client.query(DIRECTORY_SQL.insertGroup, [group.group_id, group.name, group.creator_id, group.created_at_ms]);
      await client.query(DIRECTORY_SQL.insertMembers, [group.group_id, members]);
    });
  }

  async group(group_id: string): Promise<GroupRecord | null> {
    this.assertOpen("group");
    const row = (await this.pool.query<GroupRow>(DIRECTORY_SQL.group, [group_id])).rows[0];
    return row === undefined ? null : { group_id: row.group_id, name: row.name, creator_id: row.creator_id, created_at_ms: Number(row.created_at_ms) };
  }

  async members(group_id: string): Promise<string[]> {
    this.assertOpen("members");
    return (await this.pool.query<{ user_id: string }>(DIRECTORY_SQL.members, [group_id])).rows.map((row) => row.user_id);
  }

  async isMember(group_id: string, user_id: string): Promise<boolean> {
    this.assertOpen("isMember");
    return (await this.pool.query(DIRECTORY_SQL.isMember, [group_id, user_id])).rowCount === 1;
  }

  async addMembers(group_id: string, user_ids: readonly string[], members_max: number): Promise<"ok" | "too_large" | "not_found"> {
    this.assertOpen("addMembers");
    const asked = [...new Set(user_ids)];
    return this.transaction(async (client) => {
      if ((await client.query(DIRECTORY_SQL.lockGroup, [group_id])).rowCount === 0) return "not_found";
      const counted = (await client.query<{ current: number; present: number }>(DIRECTORY_SQL.countMembers, [group_id, asked])).rows[0];
      const current = counted?.current ?? 0;
      const joining = asked.length - (counted?.present ?? 0);
      if (current + joining > members_max) return "too_large";
      if (joining > 0) await client.query(DIRECTORY_SQL.insertMembers, [group_id, asked]);
      return "ok";
    });
  }

  async removeMember(group_id: string, user_id: string): Promise<boolean> {
    this.assertOpen("removeMember");
    return ((await this.pool.query(DIRECTORY_SQL.deleteMember, [group_id, user_id])).rowCount ?? 0) > 0;
  }

  async groupsOf(user_id: string): Promise<string[]> {
    this.assertOpen("groupsOf");
    return (await this.pool.query<{ group_id: string }>(DIRECTORY_SQL.groupsOf, [user_id])).rows.map((row) => row.group_id);
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** Runs `work` in a transaction on one pooled connection; commits what it answers, rolls back on a throw. */
  private async transaction<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken = false;
    try {
      await client.query("BEGIN");
      try {
        const answer = await work(client);
        await client.query("COMMIT");
        return answer;
      } catch (error) {
        await client.query("ROLLBACK").catch(() => {
          broken = true;
        });
        throw error;
      }
    } finally {
      client.release(broken);
    }
  }

  private assertOpen(method: string): void {
    if (this.closed) throw new Error(`DirectoryPostgres.${method}: the directory is closed`);
  }
}

function userOf(row: UserRow | undefined): UserRecord | null {
  return row === undefined
    ? null
    : { user_id: row.user_id, username: row.username, password_hash: row.password_hash, created_at_ms: Number(row.created_at_ms) };
}
