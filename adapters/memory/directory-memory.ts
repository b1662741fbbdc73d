/**
 * DirectoryMemory: users, devices, push registrations, groups and members in process (tests
 * and the simulator; the embedded node uses SQLite).
 *
 * Rules:
 * - Usernames are unique, compared exactly (the protocol only admits lower-case names).
 * - A group's members are a set: the creator is always one, duplicates count once, and
 *   addMembers never takes a group past `members_max` (it answers "too_large" and changes
 *   nothing). Members, groups of a user and devices are kept in insertion order.
 * - Devices come back in creation order (created_at_ms, then insertion); adding a device
 *   twice keeps the first. Push registrations are one per (platform, token).
 * - createGroup for an existing group_id keeps the stored record and adds the members, so
 *   that a retried create is harmless.
 * - Records are copied in and out, as a real database would.
 */
import type { Directory, GroupRecord, UserRecord } from "../../core/ports/directory.js";
import type { PushTarget } from "../../core/model.js";
import { assert } from "../../core/result.js";

type Device = { readonly device_id: string; readonly created_at_ms: number; readonly insertion: number };

export class DirectoryMemory implements Directory {
  private readonly users = new Map<string, UserRecord>();
  private readonly user_id_by_name = new Map<string, string>();
  private readonly devices_by_user = new Map<string, Device[]>();
  private readonly push_by_user = new Map<string, PushTarget[]>();
  private readonly groups = new Map<string, GroupRecord>();
  private readonly members_by_group = new Map<string, Set<string>>();
  private readonly groups_by_user = new Map<string, Set<string>>();
  private device_insertions = 0;
  private closed = false;

  async createUser(user: UserRecord): Promise<"ok" | "username_taken"> {
    this.assertOpen("createUser");
    if (this.user_id_by_name.has(user.username)) return "username_taken";
    assert(!this.users.has(user.user_id), `DirectoryMemory.createUser: user_id ${user.user_id} already exists (IDs are random; a repeat is a bug)`);
    this.users.set(user.user_id, { ...user });
    this.user_id_by_name.set(user.username, user.user_id);
    return "ok";
  }

  async userById(user_id: string): Promise<UserRecord | null> {
    this.assertOpen("userById");
    const user = this.users.get(user_id);
    return user === undefined ? null : { ...user };
  }

  async userByName(username: string): Promise<UserRecord | null> {
    this.assertOpen("userByName");
    const user_id = this.user_id_by_name.get(username);
    return user_id === undefined ? null : this.userById(user_id);
  }

  async missingUsers(user_ids: readonly string[]): Promise<string[]> {
    this.assertOpen("missingUsers");
    return [...new Set(user_ids)].filter((user_id) => !this.users.has(user_id));
  }

  async addDevice(user_id: string, device_id: string, created_at_ms: number): Promise<void> {
    this.assertOpen("addDevice");
    const devices = getOrCreate(this.devices_by_user, user_id, () => []);
    if (devices.some((device) => device.device_id === device_id)) return;
    devices.push({ device_id, created_at_ms, insertion: this.device_insertions++ });
    devices.sort((a, b) => a.created_at_ms - b.created_at_ms || a.insertion - b.insertion);
  }

  async devices(user_id: string): Promise<string[]> {
    this.assertOpen("devices");
    return (this.devices_by_user.get(user_id) ?? []).map((device) => device.device_id);
  }

  async removeDevice(user_id: string, device_id: string): Promise<boolean> {
    this.assertOpen("removeDevice");
    const devices = this.devices_by_user.get(user_id) ?? [];
    const at = devices.findIndex((device) => device.device_id === device_id);
    if (at < 0) return false;
    devices.splice(at, 1);
    if (devices.length === 0) this.devices_by_user.delete(user_id);
    return true;
  }

  async devicesCreatedBefore(before_ms: number, limit: number): Promise<{ user_id: string; device_id: string }[]> {
    this.assertOpen("devicesCreatedBefore");
    const found: { user_id: string; device_id: string; created_at_ms: number; insertion: number }[] = [];
    for (const [user_id, devices] of this.devices_by_user) {
      for (const d of devices) if (d.created_at_ms < before_ms) found.push({ user_id, device_id: d.device_id, created_at_ms: d.created_at_ms, insertion: d.insertion });
    }
    found.sort((a, b) => a.created_at_ms - b.created_at_ms || a.insertion - b.insertion);
    return found.slice(0, Math.max(0, limit)).map(({ user_id, device_id }) => ({ user_id, device_id }));
  }

  async setPasswordHash(user_id: string, password_hash: string): Promise<boolean> {
    this.assertOpen("setPasswordHash");
    const user = this.users.get(user_id);
    if (user === undefined) return false;
    this.users.set(user_id, { ...user, password_hash });
    return true;
  }

  async registerPush(user_id: string, target: PushTarget): Promise<void> {
    this.assertOpen("registerPush");
    const targets = getOrCreate(this.push_by_user, user_id, () => []);
    if (targets.some((t) => t.platform === target.platform && t.token === target.token)) return;
    targets.push({ ...target });
  }

  async unregisterPush(user_id: string, target: PushTarget): Promise<boolean> {
    this.assertOpen("unregisterPush");
    const targets = this.push_by_user.get(user_id) ?? [];
    const index = targets.findIndex((t) => t.platform === target.platform && t.token === target.token);
    if (index < 0) return false;
    targets.splice(index, 1);
    return true;
  }

  async pushTargets(user_id: string): Promise<PushTarget[]> {
    this.assertOpen("pushTargets");
    return (this.push_by_user.get(user_id) ?? []).map((target) => ({ ...target }));
  }

  async createGroup(group: GroupRecord, member_ids: readonly string[]): Promise<void> {
    this.assertOpen("createGroup");
    if (!this.groups.has(group.group_id)) this.groups.set(group.group_id, { ...group });
    this.addToGroup(group.group_id, [group.creator_id, ...member_ids]);
  }

  async group(group_id: string): Promise<GroupRecord | null> {
    this.assertOpen("group");
    const group = this.groups.get(group_id);
    return group === undefined ? null : { ...group };
  }

  async members(group_id: string): Promise<string[]> {
    this.assertOpen("members");
    return [...(this.members_by_group.get(group_id) ?? [])];
  }

  async isMember(group_id: string, user_id: string): Promise<boolean> {
    this.assertOpen("isMember");
    return this.members_by_group.get(group_id)?.has(user_id) ?? false;
  }

  async addMembers(group_id: string, user_ids: readonly string[], members_max: number): Promise<"ok" | "too_large" | "not_found"> {
    this.assertOpen("addMembers");
    const members = this.members_by_group.get(group_id);
    if (!this.groups.has(group_id) || members === undefined) return "not_found";
    const joining = new Set(user_ids.filter((user_id) => !members.has(user_id)));
    if (members.size + joining.size > members_max) return "too_large";
    this.addToGroup(group_id, [...joining]);
    return "ok";
  }

  async removeMember(group_id: string, user_id: string): Promise<boolean> {
    this.assertOpen("removeMember");
    const removed = this.members_by_group.get(group_id)?.delete(user_id) ?? false;
    if (removed) this.groups_by_user.get(user_id)?.delete(group_id);
    return removed;
  }

  async groupsOf(user_id: string): Promise<string[]> {
    this.assertOpen("groupsOf");
    return [...(this.groups_by_user.get(user_id) ?? [])];
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private addToGroup(group_id: string, user_ids: readonly string[]): void {
    const members = getOrCreate(this.members_by_group, group_id, () => new Set<string>());
    for (const user_id of user_ids) {
      members.add(user_id);
      getOrCreate(this.groups_by_user, user_id, () => new Set<string>()).add(group_id);
    }
  }

  private assertOpen(method: string): void {
    if (this.closed) throw new Error(`DirectoryMemory.${method}: the directory is closed`);
  }
}

function getOrCreate<K, V>(map: Map<K, V>, key: K, create: () => V): V {
  let value = map.get(key);
  if (value === undefined) {
    value = create();
    map.set(key, value);
  }
  return value;
}
