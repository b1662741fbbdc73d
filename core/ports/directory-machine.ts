/**
 * DirectoryMachine: the one ground truth of the Directory port (directory.ts), a synchronous
 * in-process state machine. `adapters/memory/directory-memory.ts` is a Promise shell over it
 * (it copies records in and out), the simulator's `DirectorySim` a fault-injecting shell;
 * both run the Directory contract suite. The simulated world seeds users, devices, push
 * targets and groups by writing these maps directly.
 *
 * Rules:
 * - Usernames are unique, compared exactly (the protocol only admits lower-case names).
 * - A group's members are a set: the creator is always one, duplicates count once, and
 *   addMembers never takes a group past `members_max` (it answers "too_large" and changes
 *   nothing). Members are kept in insertion order.
 * - A user's devices are kept in creation order (created_at_ms, then insertion), and
 *   devicesCreatedBefore lists oldest first likewise; adding a device twice keeps the first.
 *   Push registrations are one per (platform, token).
 * - createGroup for an existing group_id keeps the stored record and adds the members, so
 *   that a retried create is harmless.
 */
import type { PushTarget } from "../model.js";
import type { GroupRecord, UserRecord } from "./directory.js";

export class DirectoryMachine {
  readonly users = new Map<string, UserRecord>();
  /** user_id -> device IDs, in the order they were added. */
  readonly devices = new Map<string, string[]>();
  /** "user_id device_id" -> created_at_ms. */
  readonly device_created = new Map<string, number>();
  readonly push = new Map<string, PushTarget[]>();
  readonly groups = new Map<string, { group: GroupRecord; members: string[] }>();

  createUser(user: UserRecord): "ok" | "username_taken" {
    if (this.userByName(user.username) !== null) return "username_taken";
    this.users.set(user.user_id, user);
    return "ok";
  }

  userByName(username: string): UserRecord | null {
    for (const u of this.users.values()) if (u.username === username) return u;
    return null;
  }

  missingUsers(user_ids: readonly string[]): string[] {
    return [...new Set(user_ids)].filter((u) => !this.users.has(u));
  }

  addDevice(user_id: string, device_id: string, created_at_ms: number): void {
    const list = this.devices.get(user_id) ?? [];
    if (!list.includes(device_id)) {
      // Creation order: after every device created at or before this one (clocks step back).
      let at = list.length;
      while (at > 0 && (this.device_created.get(`${user_id} ${list[at - 1]}`) ?? 0) > created_at_ms) at--;
      list.splice(at, 0, device_id);
      this.device_created.set(`${user_id} ${device_id}`, created_at_ms);
    }
    this.devices.set(user_id, list);
  }

  removeDevice(user_id: string, device_id: string): boolean {
    const list = this.devices.get(user_id) ?? [];
    const at = list.indexOf(device_id);
    if (at >= 0) list.splice(at, 1);
    this.device_created.delete(`${user_id} ${device_id}`);
    return at >= 0;
  }

  devicesCreatedBefore(before_ms: number, limit: number): { user_id: string; device_id: string }[] {
    const found: { user_id: string; device_id: string; at: number }[] = [];
    for (const [user_id, list] of this.devices) {
      for (const device_id of list) {
        const at = this.device_created.get(`${user_id} ${device_id}`) ?? 0;
        if (at < before_ms) found.push({ user_id, device_id, at });
      }
    }
    return found.sort((a, b) => a.at - b.at).slice(0, Math.max(0, limit)).map(({ user_id, device_id }) => ({ user_id, device_id }));
  }

  setPasswordHash(user_id: string, password_hash: string): boolean {
    const user = this.users.get(user_id);
    if (user !== undefined) this.users.set(user_id, { ...user, password_hash });
    return user !== undefined;
  }

  registerPush(user_id: string, target: PushTarget): void {
    const targets = this.push.get(user_id) ?? [];
    if (targets.some((t) => t.platform === target.platform && t.token === target.token)) return;
    this.push.set(user_id, [...targets, target]);
  }

  unregisterPush(user_id: string, target: PushTarget): boolean {
    const targets = this.push.get(user_id) ?? [];
    const kept = targets.filter((t) => t.platform !== target.platform || t.token !== target.token);
    this.push.set(user_id, kept);
    return kept.length < targets.length;
  }

  createGroup(group: GroupRecord, member_ids: readonly string[]): void {
    const existing = this.groups.get(group.group_id);
    if (existing === undefined) this.groups.set(group.group_id, { group, members: [...new Set([group.creator_id, ...member_ids])] });
    else existing.members = [...new Set([...existing.members, group.creator_id, ...member_ids])];
  }

  members(group_id: string): readonly string[] {
    return this.groups.get(group_id)?.members ?? [];
  }

  isMember(group_id: string, user_id: string): boolean {
    return this.groups.get(group_id)?.members.includes(user_id) ?? false;
  }

  addMembers(group_id: string, user_ids: readonly string[], members_max: number): "ok" | "too_large" | "not_found" {
    const g = this.groups.get(group_id);
    if (g === undefined) return "not_found";
    const next = [...new Set([...g.members, ...user_ids])];
    if (next.length > members_max) return "too_large";
    g.members = next;
    return "ok";
  }

  removeMember(group_id: string, user_id: string): boolean {
    const g = this.groups.get(group_id);
    if (g === undefined || !g.members.includes(user_id)) return false;
    g.members = g.members.filter((m) => m !== user_id);
    return true;
  }

  groupsOf(user_id: string): string[] {
    const out: string[] = [];
    for (const g of this.groups.values()) if (g.members.includes(user_id)) out.push(g.group.group_id);
    return out;
  }
}
