/**
 * DirectoryMemory: users, devices, push registrations, groups and members in process
 * (tests; the embedded node uses SQLite). A Promise shell over the directory's one state
 * machine (core/ports/directory-machine.ts, whose header states the rules), which the
 * simulator's directory wraps too.
 *
 * What this shell adds: records are copied in and out, as a real database would; a repeated
 * user_id is a caller's bug (IDs are random) and fails an assertion; after close every
 * method rejects.
 */
import type { Directory, GroupRecord, UserRecord } from "../../core/ports/directory.js";
import { DirectoryMachine } from "../../core/ports/directory-machine.js";
import type { PushTarget } from "../../core/model.js";
import { assert } from "../../core/result.js";

export class DirectoryMemory implements Directory {
  private readonly machine = new DirectoryMachine();
  private closed = false;

  async createUser(user: UserRecord): Promise<"ok" | "username_taken"> {
    this.assertOpen("createUser");
    if (this.machine.userByName(user.username) !== null) return "username_taken";
    assert(!this.machine.users.has(user.user_id), `DirectoryMemory.createUser: user_id ${user.user_id} already exists (IDs are random; a repeat is a bug)`);
    return this.machine.createUser({ ...user });
  }

  async userById(user_id: string): Promise<UserRecord | null> {
    this.assertOpen("userById");
    const user = this.machine.users.get(user_id);
    return user === undefined ? null : { ...user };
  }

  async userByName(username: string): Promise<UserRecord | null> {
    this.assertOpen("userByName");
    const user = this.machine.userByName(username);
    return user === null ? null : { ...user };
  }

  async missingUsers(user_ids: readonly string[]): Promise<string[]> {
    this.assertOpen("missingUsers");
    return this.machine.missingUsers(user_ids);
  }

  async addDevice(user_id: string, device_id: string, created_at_ms: number): Promise<void> {
    this.assertOpen("addDevice");
    this.machine.addDevice(user_id, device_id, created_at_ms);
  }

  async devices(user_id: string): Promise<string[]> {
    this.assertOpen("devices");
    return [...(this.machine.devices.get(user_id) ?? [])];
  }

  async removeDevice(user_id: string, device_id: string): Promise<boolean> {
    this.assertOpen("removeDevice");
    return this.machine.removeDevice(user_id, device_id);
  }

  async devicesCreatedBefore(before_ms: number, limit: number): Promise<{ user_id: string; device_id: string }[]> {
    this.assertOpen("devicesCreatedBefore");
    return this.machine.devicesCreatedBefore(before_ms, limit);
  }

  async setPasswordHash(user_id: string, password_hash: string): Promise<boolean> {
    this.assertOpen("setPasswordHash");
    return this.machine.setPasswordHash(user_id, password_hash);
  }

  async registerPush(user_id: string, target: PushTarget): Promise<void> {
    this.assertOpen("registerPush");
    this.machine.registerPush(user_id, { ...target });
  }

  async unregisterPush(user_id: string, target: PushTarget): Promise<boolean> {
    this.assertOpen("unregisterPush");
    return this.machine.unregisterPush(user_id, target);
  }

  async pushTargets(user_id: string): Promise<PushTarget[]> {
    this.assertOpen("pushTargets");
    return (this.machine.push.get(user_id) ?? []).map((target) => ({ ...target }));
  }

  async createGroup(group: GroupRecord, member_ids: readonly string[]): Promise<void> {
    this.assertOpen("createGroup");
    this.machine.createGroup({ ...group }, member_ids);
  }

  async group(group_id: string): Promise<GroupRecord | null> {
    this.assertOpen("group");
    const group = this.machine.groups.get(group_id)?.group;
    return group === undefined ? null : { ...group };
  }

  async members(group_id: string): Promise<string[]> {
    this.assertOpen("members");
    return [...this.machine.members(group_id)];
  }

  async isMember(group_id: string, user_id: string): Promise<boolean> {
    this.assertOpen("isMember");
    return this.machine.isMember(group_id, user_id);
  }

  async addMembers(group_id: string, user_ids: readonly string[], members_max: number): Promise<"ok" | "too_large" | "not_found"> {
    this.assertOpen("addMembers");
    return this.machine.addMembers(group_id, user_ids, members_max);
  }

  async removeMember(group_id: string, user_id: string): Promise<boolean> {
    this.assertOpen("removeMember");
    return this.machine.removeMember(group_id, user_id);
  }

  async groupsOf(user_id: string): Promise<string[]> {
    this.assertOpen("groupsOf");
    return this.machine.groupsOf(user_id);
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private assertOpen(method: string): void {
    if (this.closed) throw new Error(`DirectoryMemory.${method}: the directory is closed`);
  }
}
