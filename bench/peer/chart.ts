/**
 * The peer benchmark's chart, as a hand-written SVG (no dependency): two panels sharing the
 * offered rate on x, delivered/s (linear) on the left and p99 delivery latency (log scale) on
 * the right, one line per server, its sustainable step ringed, a legend, and a footer with
 * CPU per message, RSS per connection and the overload step.
 */

export type ChartStep = { offered_per_s: number; delivered_per_s: number; p99_ms: number };
export type ChartServer = {
  server: string;
  label: string;
  steps: ChartStep[];
  sustainable: { offered_per_s: number; p99_ms: number; cpu_us_per_delivered: number | null } | null;
  rss_per_idle_connection_kib: number;
};
export type ChartInput = { title: string; subtitle: string; servers: ChartServer[]; p99_limit_ms: number; footer: string[] };

const COLORS: Record<string, string> = { node: "#1f6fd1", "node-before": "#8fb4e3", ejabberd: "#e0701b", relay: "#7a7a7a" };
/** The ceiling is dashed so that a server beneath it stays visible. */
const DASH: Record<string, string> = { relay: "7 4", "node-before": "3 3" };
const MARKER: Record<string, "circle" | "square" | "diamond"> = { node: "circle", "node-before": "circle", ejabberd: "square", relay: "diamond" };

function marker(kind: "circle" | "square" | "diamond", x: number, y: number, c: string, title: string): string {
  const t = `<title>${esc(title)}</title>`;
  if (kind === "square") return `<rect x="${(x - 4).toFixed(1)}" y="${(y - 4).toFixed(1)}" width="8" height="8" fill="${c}">${t}</rect>`;
  if (kind === "diamond") return `<polygon points="${x.toFixed(1)},${(y - 5.5).toFixed(1)} ${(x + 5.5).toFixed(1)},${y.toFixed(1)} ${x.toFixed(1)},${(y + 5.5).toFixed(1)} ${(x - 5.5).toFixed(1)},${y.toFixed(1)}" fill="${c}">${t}</polygon>`;
  return `<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="4.5" fill="${c}">${t}</circle>`;
}
const FALLBACK = ["#2a9d4b", "#9b3fc0", "#c0392b"];

const esc = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const fmt = (n: number): string => (Math.abs(n) >= 1000 ? `${Math.round(n / 100) / 10}k`.replace(".0k", "k") : String(Math.round(n * 10) / 10));
const fmtMs = (ms: number): string => (ms >= 1000 ? `${Number((ms / 1000).toPrecision(2))} s` : ms >= 1 ? `${Number(ms.toPrecision(3))} ms` : `${Number(ms.toPrecision(2))} ms`);

function niceStep(span: number, ticks: number): number {
  const raw = span / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * mag >= raw) return m * mag;
  return 10 * mag;
}

type Panel = { x: number; y: number; w: number; h: number };

export { fmtMs };

export function renderChart(input: ChartInput): string {
  const W = 1200;
  const H = 120 + 360 + 100 + input.footer.length * 20;
  const left: Panel = { x: 90, y: 120, w: 460, h: 360 };
  const right: Panel = { x: 700, y: 120, w: 460, h: 360 };
  const all = input.servers.flatMap((s) => s.steps);
  const maxOffered = Math.max(1, ...all.map((s) => s.offered_per_s));
  const maxDelivered = Math.max(1, ...all.map((s) => s.delivered_per_s));
  const xStep = niceStep(maxOffered, 5);
  const xMax = Math.ceil(maxOffered / xStep) * xStep;
  const yMaxLin = Math.ceil(Math.max(maxOffered, maxDelivered) / xStep) * xStep;
  const p99s = all.map((s) => s.p99_ms).filter((v) => Number.isFinite(v) && v > 0);
  const logLo = Math.floor(Math.log10(Math.max(0.1, Math.min(1, ...p99s))));
  const logHi = Math.ceil(Math.log10(Math.max(input.p99_limit_ms * 5, ...p99s)));
  const sx = (p: Panel, v: number): number => p.x + (v / xMax) * p.w;
  const syLin = (v: number): number => left.y + left.h - (v / yMaxLin) * left.h;
  const syLog = (ms: number): number => right.y + right.h - ((Math.log10(Math.max(ms, 10 ** logLo)) - logLo) / (logHi - logLo)) * right.h;
  const color = (s: ChartServer, i: number): string => COLORS[s.server] ?? FALLBACK[i % FALLBACK.length]!;

  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="13">`);
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(`<text x="${W / 2}" y="30" text-anchor="middle" font-size="19" font-weight="bold">${esc(input.title)}</text>`);
  out.push(`<text x="${W / 2}" y="52" text-anchor="middle" fill="#444">${esc(input.subtitle)}</text>`);

  // Legend, one row.
  const legendY = 82;
  const legendItems = input.servers.map((s, i) => {
    const top = s.sustainable !== null && s.sustainable.offered_per_s >= Math.max(...s.steps.map((x) => x.offered_per_s));
    const sus = s.sustainable ? `sustainable ${top ? "≥ " : ""}${s.sustainable.offered_per_s.toLocaleString("en-US")}/s${top ? " (top step)" : ""}, p99 ${fmtMs(s.sustainable.p99_ms)}` : "no sustainable step";
    return { text: `${s.label}: ${sus}`, color: color(s, i), dash: DASH[s.server], marker: MARKER[s.server] ?? "circle" };
  });
  // Centred on one row; widths estimated at 7 px a character (13 px sans).
  const widths = legendItems.map((it) => 36 + it.text.length * 7);
  let legendX = Math.max(10, (W - widths.reduce((a, b) => a + b, 0) - 28 * (widths.length - 1)) / 2);
  legendItems.forEach((it, i) => {
    const x = legendX;
    legendX += widths[i]! + 28;
    out.push(`<line x1="${x}" y1="${legendY - 4}" x2="${x + 28}" y2="${legendY - 4}" stroke="${it.color}" stroke-width="3"${it.dash ? ` stroke-dasharray="${it.dash}"` : ""}/>${marker(it.marker, x + 14, legendY - 4, it.color, it.text)}`);
    out.push(`<text x="${x + 36}" y="${legendY}">${esc(it.text)}</text>`);
  });

  for (const p of [left, right]) {
    out.push(`<rect x="${p.x}" y="${p.y}" width="${p.w}" height="${p.h}" fill="#fafafa" stroke="#999"/>`);
    for (let v = 0; v <= xMax + 1e-9; v += xStep) {
      const x = sx(p, v);
      out.push(`<line x1="${x}" y1="${p.y}" x2="${x}" y2="${p.y + p.h}" stroke="#e4e4e4"/>`);
      out.push(`<text x="${x}" y="${p.y + p.h + 18}" text-anchor="middle">${fmt(v)}</text>`);
    }
    out.push(`<text x="${p.x + p.w / 2}" y="${p.y + p.h + 42}" text-anchor="middle" font-weight="bold">offered messages/s</text>`);
  }
  // Left panel: delivered/s, linear; the diagonal is "everything offered is delivered".
  for (let v = 0; v <= yMaxLin + 1e-9; v += xStep) {
    const y = syLin(v);
    out.push(`<line x1="${left.x}" y1="${y}" x2="${left.x + left.w}" y2="${y}" stroke="#e4e4e4"/>`);
    out.push(`<text x="${left.x - 8}" y="${y + 4}" text-anchor="end">${fmt(v)}</text>`);
  }
  out.push(`<line x1="${sx(left, 0)}" y1="${syLin(0)}" x2="${sx(left, Math.min(xMax, yMaxLin))}" y2="${syLin(Math.min(xMax, yMaxLin))}" stroke="#bbb" stroke-dasharray="6 4"/>`);
  out.push(`<text x="${sx(left, Math.min(xMax, yMaxLin) * 0.62)}" y="${syLin(Math.min(xMax, yMaxLin) * 0.62) - 10}" fill="#999" transform="rotate(${(-Math.atan2(left.h / yMaxLin, left.w / xMax) * 180) / Math.PI} ${sx(left, Math.min(xMax, yMaxLin) * 0.62)} ${syLin(Math.min(xMax, yMaxLin) * 0.62) - 10})" text-anchor="middle">delivered = offered</text>`);
  out.push(`<text x="${left.x + left.w / 2}" y="${left.y - 10}" text-anchor="middle" font-size="15" font-weight="bold">Delivered messages/s</text>`);
  out.push(`<text transform="translate(${left.x - 62} ${left.y + left.h / 2}) rotate(-90)" text-anchor="middle" font-weight="bold">delivered messages/s</text>`);
  // Right panel: p99, log scale, with the sustainable limit.
  for (let e = logLo; e <= logHi; e++) {
    const y = syLog(10 ** e);
    out.push(`<line x1="${right.x}" y1="${y}" x2="${right.x + right.w}" y2="${y}" stroke="#e4e4e4"/>`);
    out.push(`<text x="${right.x - 8}" y="${y + 4}" text-anchor="end">${fmtMs(10 ** e)}</text>`);
    for (const m of [2, 5]) if (e < logHi) out.push(`<line x1="${right.x}" y1="${syLog(m * 10 ** e)}" x2="${right.x + right.w}" y2="${syLog(m * 10 ** e)}" stroke="#f0f0f0"/>`);
  }
  const limY = syLog(input.p99_limit_ms);
  out.push(`<line x1="${right.x}" y1="${limY}" x2="${right.x + right.w}" y2="${limY}" stroke="#c62828" stroke-dasharray="6 4"/>`);
  out.push(`<text x="${right.x + right.w - 6}" y="${limY - 6}" text-anchor="end" fill="#c62828">p99 limit ${input.p99_limit_ms} ms</text>`);
  out.push(`<text x="${right.x + right.w / 2}" y="${right.y - 10}" text-anchor="middle" font-size="15" font-weight="bold">p99 delivery latency (log scale)</text>`);
  out.push(`<text transform="translate(${right.x - 70} ${right.y + right.h / 2}) rotate(-90)" text-anchor="middle" font-weight="bold">p99 send → receipt</text>`);

  // In list order: the ceiling comes last, dashed, so a server under it still shows through the gaps.
  const order = input.servers.map((s, i) => ({ s, i }));
  for (const { s, i } of order) {
    const c = color(s, i);
    const dash = DASH[s.server] ? ` stroke-dasharray="${DASH[s.server]}"` : "";
    const kind = MARKER[s.server] ?? "circle";
    const steps = [...s.steps].sort((a, b) => a.offered_per_s - b.offered_per_s);
    const lin = steps.map((st) => `${sx(left, st.offered_per_s).toFixed(1)},${syLin(st.delivered_per_s).toFixed(1)}`);
    out.push(`<polyline points="${lin.join(" ")}" fill="none" stroke="${c}" stroke-width="2.5"${dash}/>`);
    const withP99 = steps.filter((st) => Number.isFinite(st.p99_ms));
    const log = withP99.map((st) => `${sx(right, st.offered_per_s).toFixed(1)},${syLog(st.p99_ms).toFixed(1)}`);
    out.push(`<polyline points="${log.join(" ")}" fill="none" stroke="${c}" stroke-width="2.5"${dash}/>`);
    for (const st of steps) {
      out.push(marker(kind, sx(left, st.offered_per_s), syLin(st.delivered_per_s), c, `${s.label}: offered ${st.offered_per_s}/s, delivered ${st.delivered_per_s}/s`));
      if (Number.isFinite(st.p99_ms)) out.push(marker(kind, sx(right, st.offered_per_s), syLog(st.p99_ms), c, `${s.label}: offered ${st.offered_per_s}/s, p99 ${st.p99_ms} ms`));
    }
    if (s.sustainable) {
      const st = steps.find((x) => x.offered_per_s === s.sustainable!.offered_per_s);
      if (st) {
        out.push(`<circle cx="${sx(left, st.offered_per_s).toFixed(1)}" cy="${syLin(st.delivered_per_s).toFixed(1)}" r="9" fill="none" stroke="${c}" stroke-width="2"/>`);
        out.push(`<circle cx="${sx(right, st.offered_per_s).toFixed(1)}" cy="${syLog(st.p99_ms).toFixed(1)}" r="9" fill="none" stroke="${c}" stroke-width="2"/>`);
      }
    }
  }
  out.push(`<text x="${left.x}" y="${left.y + left.h + 62}" fill="#555">Ringed: the highest offered step with p99 ≤ ${input.p99_limit_ms} ms and nothing undelivered or refused (the sustainable rate).</text>`);
  input.footer.forEach((line, i) => out.push(`<text x="${left.x}" y="${left.y + left.h + 88 + i * 20}" fill="#222">${esc(line)}</text>`));
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}
