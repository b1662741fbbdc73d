import { describe, expect, it } from "vitest";
import { clientMsgId } from "../../../core/protocol/fields.js";
import { randomUnit, uuidV4 } from "./random.js";

describe("page randomness", () => {
  it("makes version-4 UUIDs the protocol accepts as client_msg_id, all different", () => {
    const ids = Array.from({ length: 200 }, () => uuidV4());
    for (const id of ids) {
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(clientMsgId.safeParse(id).success).toBe(true);
    }
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("draws jitter in [0, 1)", () => {
    for (let i = 0; i < 200; i++) {
      const r = randomUnit();
      expect(r).toBeGreaterThanOrEqual(0);
      expect(r).toBeLessThan(1);
    }
  });
});
