/**
 * The REST bodies and queries of API.md, and the shapes of their answers. Requests are
 * decoded with `decodeBody` / `decodeQuery`; answers are typed so nodes and clients agree.
 */
import { z } from "zod";
import { LIMITS } from "../limits.js";
import * as f from "./fields.js";
import { newMessageData } from "./frames.js";

/** home_region: where the user's devices connect and their pending entries live; absent, the deployment's HOME_REGION_DEFAULT. */
export const createUserBody = z.object({ username: f.username, password: f.password, home_region: f.regionName.optional() });
export const createSessionBody = z.object({ username: f.username, password: f.password });
export const changePasswordBody = z.object({ current_password: f.password, new_password: f.password });
export const lookupUserQuery = z.object({ username: f.username });
export const createGroupBody = z.object({
  name: z.string().trim().min(1).max(LIMITS.groupNameCharsMax),
  member_ids: z.array(f.userId).max(LIMITS.groupMembersMax * 2),
});
export const addMembersBody = z.object({
  user_ids: z.array(f.userId).min(1).max(LIMITS.addMembersBatchMax),
});
export const createMediaBody = z.object({
  content_type: z
    .string()
    .max(127)
    .regex(/^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/i, "must be a MIME type such as image/png"),
  size: z.number().int().min(1).max(LIMITS.mediaBytesMax),
  filename: z.string().min(1).max(LIMITS.mediaFilenameCharsMax).optional(),
});
/**
 * POST /api/v1/media/uploads: as createMediaBody; a size above the resumable bound is a
 * well-formed request answered 413 MEDIA_TOO_LARGE by the route, naming the bound.
 */
export const createUploadBody = createMediaBody.extend({
  size: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
});
/** POST /api/v1/media/uploads/{id}/parts: which parts to sign, 1-based, each at most once. */
export const partUrlsBody = z.object({
  part_numbers: z
    .array(z.number().int().min(1).max(10_000))
    .min(1)
    .max(LIMITS.mediaPartUrlsPerRequestMax)
    .refine((numbers) => new Set(numbers).size === numbers.length, "must not repeat a part number"),
});
export const registerDeviceBody = z.object({
  platform: z.enum(["apns", "fcm", "webpush", "webhook"]),
  token: z.string().min(1).max(LIMITS.deviceTokenCharsMax),
});

/** Query strings arrive as text; `limit` is coerced and bounded, cursors are opaque. */
const cursor = z.string().min(1).max(200);
export const historyQuery = z.object({
  before: cursor.optional(),
  limit: z.coerce.number().int().min(1).max(LIMITS.historyPageMessagesMax).default(LIMITS.historyPageMessagesDefault),
});
export const inboxQuery = z.object({
  before: cursor.optional(),
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(LIMITS.inboxPageConversationsMax)
    .default(LIMITS.inboxPageConversationsDefault),
});

export type CreateUserBody = z.infer<typeof createUserBody>;
export type CreateSessionBody = z.infer<typeof createSessionBody>;
export type ChangePasswordBody = z.infer<typeof changePasswordBody>;
export type CreateGroupBody = z.infer<typeof createGroupBody>;
export type AddMembersBody = z.infer<typeof addMembersBody>;
export type CreateMediaBody = z.infer<typeof createMediaBody>;
export type RegisterDeviceBody = z.infer<typeof registerDeviceBody>;
export type HistoryQuery = z.infer<typeof historyQuery>;
export type InboxQuery = z.infer<typeof inboxQuery>;

// ---- answers ----------------------------------------------------------------------------

export const userCreated = z.object({ user_id: f.userId, username: f.username, created_at: f.timestamp });
export const sessionCreated = z.object({
  token: z.string(),
  user_id: f.userId,
  expires_at: f.timestamp,
  device_id: f.userId.optional(),
});
export const userFound = z.object({ user_id: f.userId, username: f.username });
/** History items are new_message data; for the caller's own messages we add `status`. */
export const historyMessage = newMessageData.extend({ status: f.receiptStatus.optional() });
export const historyPage = z.object({ messages: z.array(historyMessage), next_cursor: z.string().nullable() });
export const inboxEntry = z.object({
  conversation_id: f.conversationId,
  kind: z.enum(["direct", "group"]),
  other_user_id: f.userId.optional(),
  group_id: f.groupId.optional(),
  last_message_preview: z.string(),
  last_message_at: f.timestamp,
  unread_count: z.number().int().min(0),
});
export const inboxPage = z.object({ conversations: z.array(inboxEntry), next_cursor: z.string().nullable() });
export const groupCreated = z.object({ group_id: f.groupId, created_at: f.timestamp });
export const groupInfo = z.object({
  group_id: f.groupId,
  name: z.string(),
  creator_id: f.userId,
  created_at: f.timestamp,
  member_ids: z.array(f.userId),
});
export const presenceInfo = z.object({ status: f.presenceStatus, last_seen: f.timestamp.nullable() });
export const mediaCreated = z.object({ media_id: f.mediaId, upload_url: z.string(), expires_at: f.timestamp });
export const uploadInfo = z.object({
  media_id: f.mediaId,
  content_type: z.string(),
  size: z.number().int(),
  part_bytes: z.number().int(),
  parts: z.number().int(),
  uploaded_parts: z.array(z.number().int()),
  expires_at: f.timestamp,
});
export const partUrls = z.object({
  parts: z.array(z.object({ part_number: z.number().int(), size: z.number().int(), upload_url: z.string() })),
  expires_at: f.timestamp,
});
export const uploadCompleted = z.object({ media_id: f.mediaId, content_type: z.string(), size: z.number().int() });
export const mediaInfo = z.object({
  download_url: z.string(),
  content_type: z.string(),
  size: z.number().int(),
  /** Images: a pre-signed URL of a JPEG at most 320 px on its longer side, or why there is none. */
  thumbnail_url: z.string().optional(),
  thumbnail_error: z.object({ code: z.string(), message: z.string() }).optional(),
});

export type UserCreated = z.infer<typeof userCreated>;
export type SessionCreated = z.infer<typeof sessionCreated>;
export type HistoryMessage = z.infer<typeof historyMessage>;
export type HistoryPage = z.infer<typeof historyPage>;
export type InboxEntry = z.infer<typeof inboxEntry>;
export type InboxPage = z.infer<typeof inboxPage>;
export type GroupInfo = z.infer<typeof groupInfo>;
export type PresenceInfo = z.infer<typeof presenceInfo>;
