/**
 * Directory: users, devices, groups and members, and push registrations (PostgreSQL in
 * production, SQLite embedded).
 *
 * Contract (adapters/contract/directory.contract.ts checks it):
 * - usernames are unique: a second createUser with the same name answers "username_taken".
 * - createGroup stores the group with its members (the creator included, duplicates once).
 * - addMembers never lets a group exceed `members_max` (answers "too_large", changing
 *   nothing); removeMember answers whether the user was a member.
 * - devices lists a user's devices in creation order; pushTargets its push registrations,
 *   one per (platform, token); unregisterPush deletes one (the provider said it is gone),
 *   answering whether it was there.
 * - removeDevice forgets one device (signed out, retired by newer sign-ins, or all of them at
 *   a password change), answering whether it was there; devices never lists it again.
 * - setPasswordHash replaces a user's password hash, answering whether the user exists.
 * - devicesCreatedBefore lists devices created before a time, oldest first, at most `limit`
 *   (a device's one token is issued with it, so these are the devices whose token expired).
 */
import type { PushTarget } from "../model.js";

export type UserRecord = {
  readonly user_id: string;
  readonly username: string;
  readonly password_hash: string;
  readonly created_at_ms: number;
  /**
   * The user's home region, chosen at sign-up (docs/OPERATIONS.md, "Regions"); absent: the
   * deployment's HOME_REGION_DEFAULT. Only the PostgreSQL directory stores it (the embedded
   * adapters are one region).
   */
  readonly home_region?: string;
};

export type GroupRecord = {
  readonly group_id: string;
  readonly name: string;
  readonly creator_id: string;
  readonly created_at_ms: number;
};

export interface Directory {
  createUser(user: UserRecord): Promise<"ok" | "username_taken">;
  userById(user_id: string): Promise<UserRecord | null>;
  userByName(username: string): Promise<UserRecord | null>;
  /** The IDs among `user_ids` that belong to no user. */
  missingUsers(user_ids: readonly string[]): Promise<string[]>;

  addDevice(user_id: string, device_id: string, created_at_ms: number): Promise<void>;
  devices(user_id: string): Promise<string[]>;
  removeDevice(user_id: string, device_id: string): Promise<boolean>;
  devicesCreatedBefore(before_ms: number, limit: number): Promise<{ user_id: string; device_id: string }[]>;
  setPasswordHash(user_id: string, password_hash: string): Promise<boolean>;
  registerPush(user_id: string, target: PushTarget): Promise<void>;
  pushTargets(user_id: string): Promise<PushTarget[]>;
  unregisterPush(user_id: string, target: PushTarget): Promise<boolean>;

  createGroup(group: GroupRecord, member_ids: readonly string[]): Promise<void>;
  group(group_id: string): Promise<GroupRecord | null>;
  members(group_id: string): Promise<string[]>;
  isMember(group_id: string, user_id: string): Promise<boolean>;
  addMembers(group_id: string, user_ids: readonly string[], members_max: number): Promise<"ok" | "too_large" | "not_found">;
  removeMember(group_id: string, user_id: string): Promise<boolean>;
  groupsOf(user_id: string): Promise<string[]>;
  close(): Promise<void>;
}
