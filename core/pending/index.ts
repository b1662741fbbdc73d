/** Pending: the offline store's semantics (a two-phase set per device). The public surface of the room. */
export { pendingInit, pendingClone } from "./state.js";
export type { PendingState, DevicePending, ConversationPending } from "./state.js";
export { pendingPut, pendingRemove, pendingRemoveDevice, pendingForgetTombstonesBefore } from "./write.js";
export { pendingList, pendingListConversation, pendingCount } from "./read.js";
