/**
 * Schemas of the protocol's scalar fields, shared by every frame and body. Built with zod 4:
 * chosen over TypeBox and valibot because its types are inferred from the schema (one
 * source of truth), its issues carry the exact path for our error sentences, it is
 * maintained and has no runtime dependency, and the same schemas run in the browser.
 */
import { z } from "zod";
import { LIMITS } from "../limits.js";

const opaqueIdPattern = /^[A-Za-z0-9_-]+$/;

export const userId = z
  .string()
  .min(1)
  .max(LIMITS.idCharsMax)
  .regex(opaqueIdPattern, "must be letters, digits, '_' or '-'");
export const groupId = userId;
export const mediaId = userId;
/** `d.<a>.<b>` for a direct chat (sorted pair) or `g.<group_id>` for a group. */
export const conversationId = z
  .string()
  .min(3)
  .max(LIMITS.idCharsMax * 2 + 3)
  .regex(/^(d\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+|g\.[A-Za-z0-9_-]+)$/, "is not a conversation ID");
/** Snowflake IDs travel as 19-digit zero-padded decimals, so string order is numeric order. */
export const messageId = z.string().regex(/^\d{19}$/, "must be a 19-digit message ID");
/** Any 8-4-4-4-12 hex UUID; clients generate these, so we accept every version. */
export const clientMsgId = z.guid("must be a UUID");
/** A region's name (REGION, REGIONS, a user's home_region). */
export const regionName = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "must be 1-64 letters, digits, _ or -");
export const messageType = z.enum(["text", "image", "file"]);
export const content = z.string().min(1).max(LIMITS.contentCharsMax);
export const receiptStatus = z.enum(["sent", "delivered", "read"]);
export const ackStatus = z.enum(["delivered", "read"]);
export const presenceStatus = z.enum(["online", "offline"]);
export const timestamp = z.iso.datetime({ offset: false });
export const username = z
  .string()
  .min(LIMITS.usernameCharsMin)
  .max(LIMITS.usernameCharsMax)
  .regex(/^[a-z0-9_.-]+$/, "may only hold a-z, 0-9, '_', '.' and '-'");
export const password = z.string().min(LIMITS.passwordCharsMin).max(LIMITS.passwordCharsMax);
