/**
 * Text-like frames for the compression bench, from one seed: what a gateway really sends and
 * receives, in the real frame shapes (docs/API.md): new_message with chat text (short lines
 * mostly, a few paragraphs), delivery_receipt and presence_update; and send_message upstream.
 * The text is words drawn from a small chat vocabulary with a skewed frequency, which is
 * about as repetitive as chat is; IDs are Snowflake-shaped decimals and UUIDs, which are not.
 */

const WORDS = (
  "i you the a to and it is that of in for on me my we this so just be have not are do at with but " +
  "can what was ok okay yes no lol haha thanks see now tomorrow today tonight meeting call later home " +
  "work time know think good great sure sounds right will when where how going get got let's maybe " +
  "about back here there been send sent message photo dinner lunch coffee weekend morning night soon " +
  "love miss nice cool wait sorry please really one two three minutes hour running late train bus"
).split(" ");

export function generator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function sentence(random: () => number): string {
  // Lengths: mostly 3-15 words, one in ten up to 80 (a paragraph).
  const n = random() < 0.9 ? 3 + Math.floor(random() * 13) : 15 + Math.floor(random() * 65);
  const words: string[] = [];
  // Zipf-ish: low indices far more often.
  for (let i = 0; i < n; i++) words.push(WORDS[Math.floor(WORDS.length * random() ** 2.2)] as string);
  const text = words.join(" ");
  return text.charAt(0).toUpperCase() + text.slice(1) + (random() < 0.3 ? "?" : random() < 0.5 ? "!" : ".");
}

function snowflake(random: () => number, base: bigint): string {
  return (base + BigInt(Math.floor(random() * 4_000_000))).toString().padStart(19, "0");
}

function uuid(random: () => number): string {
  const hex = Array.from({ length: 32 }, () => Math.floor(random() * 16).toString(16)).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** `count` server-to-client frames for one connection: 70% new_message, 20% receipts, 10% presence. */
export function downstreamFrames(seed: number, count: number): string[] {
  const random = generator(seed);
  const base = 1_234_567_890_123_456_789n;
  const users = Array.from({ length: 8 }, () => `u_${uuid(random).slice(0, 12)}`);
  const frames: string[] = [];
  for (let i = 0; i < count; i++) {
    const r = random();
    const from = users[Math.floor(random() * users.length)] as string;
    const to = users[0] as string;
    const conversation_id = `d.${[from, to].sort().join(".")}`;
    if (r < 0.7) {
      frames.push(JSON.stringify({ type: "new_message", data: { message_id: snowflake(random, base), conversation_id, from, content: sentence(random), type: "text", sent_at: 1_764_000_000_000 + i * 1_000, client_msg_id: uuid(random) } }));
    } else if (r < 0.9) {
      frames.push(JSON.stringify({ type: "delivery_receipt", data: { message_id: snowflake(random, base), conversation_id, status: random() < 0.5 ? "delivered" : "read", user_id: from } }));
    } else {
      frames.push(JSON.stringify({ type: "presence_update", data: { user_id: from, status: random() < 0.5 ? "online" : "offline", ...(random() < 0.5 ? { last_seen: 1_764_000_000_000 + i } : {}) } }));
    }
  }
  return frames;
}

/** `count` client-to-server send_message frames. */
export function upstreamFrames(seed: number, count: number): string[] {
  const random = generator(seed ^ 0x5bd1e995);
  return Array.from({ length: count }, () => JSON.stringify({ type: "send_message", data: { to: `u_${uuid(random).slice(0, 12)}`, content: sentence(random), type: "text", client_msg_id: uuid(random) } }));
}
