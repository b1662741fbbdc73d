/**
 * A hand-written SVG chart of the fan-out ladder: time from send to the LAST member's
 * new_message (p99 solid, p50 dashed) against the offered group-message rate, for the node
 * and the bare group relay, with the goal (p99 ≤ 100 ms at 10 msg/s) marked. Both axes are
 * logarithmic. A step where some message never reached every member within the drain has
 * only a lower bound for its p99 (those messages counted as arriving at the drain's end):
 * drawn as an upward triangle.
 */
/** `note`: a short label drawn beside the p99 point (e.g. how many sends were refused). */
export type Point = { rate: number; p50: number | null; p99: number | null; p99_at_least?: boolean; note?: string };
export type Series = { label: string; color: string; points: Point[] };

const esc = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

export function chart(title: string, subtitle: string, series: readonly Series[], goal = { rate: 10, ms: 100 }): string {
  const W = 900;
  const H = 560;
  const L = 80;
  const R = 220;
  const T = 70;
  const B = 70;
  const rates = series.flatMap((s) => s.points.map((p) => p.rate));
  const values = series.flatMap((s) => s.points.flatMap((p) => [p.p50, p.p99])).filter((v): v is number => v !== null && v > 0);
  const xMin = Math.min(...rates, goal.rate);
  const xMax = Math.max(...rates, goal.rate);
  const yMin = 10 ** Math.floor(Math.log10(Math.max(0.1, Math.min(...values, goal.ms))));
  const yMax = 10 ** Math.ceil(Math.log10(Math.max(...values, goal.ms * 2)));
  const x = (r: number): number => L + ((Math.log(r) - Math.log(xMin)) / Math.max(1e-9, Math.log(xMax) - Math.log(xMin))) * (W - L - R);
  const y = (v: number): number => T + (1 - (Math.log10(v) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) * (H - T - B);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="13">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${L}" y="28" font-size="17" font-weight="bold">${esc(title)}</text>`);
  out.push(`<text x="${L}" y="48" fill="#555">${esc(subtitle)}</text>`);
  // Grid and axes.
  for (let d = yMin; d <= yMax * 1.001; d *= 10) {
    for (const m of [1, 2, 5]) {
      const v = d * m;
      if (v > yMax * 1.001) break;
      out.push(`<line x1="${L}" x2="${W - R}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="${m === 1 ? "#ccc" : "#eee"}"/>`);
      out.push(`<text x="${L - 8}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" fill="#444">${v >= 1000 ? `${v / 1000} s` : `${v} ms`}</text>`);
    }
  }
  for (const r of [...new Set(rates)].sort((a, b) => a - b)) {
    out.push(`<line x1="${x(r).toFixed(1)}" x2="${x(r).toFixed(1)}" y1="${T}" y2="${H - B}" stroke="#eee"/>`);
    out.push(`<text x="${x(r).toFixed(1)}" y="${H - B + 20}" text-anchor="middle" fill="#444">${r}</text>`);
  }
  out.push(`<rect x="${L}" y="${T}" width="${W - L - R}" height="${H - T - B}" fill="none" stroke="#888"/>`);
  out.push(`<text x="${(L + W - R) / 2}" y="${H - 22}" text-anchor="middle">offered group messages per second (500 members, log scale)</text>`);
  out.push(`<text transform="translate(22 ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle">send → last member's new_message (log scale)</text>`);
  // The goal: p99 ≤ 100 ms at 10 msg/s.
  out.push(`<line x1="${L}" x2="${W - R}" y1="${y(goal.ms).toFixed(1)}" y2="${y(goal.ms).toFixed(1)}" stroke="#d33" stroke-dasharray="6 4"/>`);
  out.push(`<line x1="${x(goal.rate).toFixed(1)}" x2="${x(goal.rate).toFixed(1)}" y1="${T}" y2="${H - B}" stroke="#d33" stroke-dasharray="2 4"/>`);
  out.push(`<circle cx="${x(goal.rate).toFixed(1)}" cy="${y(goal.ms).toFixed(1)}" r="5" fill="none" stroke="#d33" stroke-width="2"/>`);
  out.push(`<text x="${x(goal.rate) + 8}" y="${y(goal.ms) - 8}" fill="#d33">goal: p99 ≤ ${goal.ms} ms at ${goal.rate}/s</text>`);
  // Series.
  for (const s of series) {
    for (const [key, dash] of [["p99", ""], ["p50", ` stroke-dasharray="7 5"`]] as const) {
      const pts = s.points.filter((p) => p[key] !== null && p[key]! > 0);
      if (pts.length > 1) out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2.5"${dash} points="${pts.map((p) => `${x(p.rate).toFixed(1)},${y(p[key]!).toFixed(1)}`).join(" ")}"/>`);
      for (const p of pts) {
        const cx = x(p.rate);
        const cy = y(p[key]!);
        if (key === "p99" && p.p99_at_least === true) out.push(`<path d="M${cx.toFixed(1)},${(cy - 9).toFixed(1)} L${(cx + 7).toFixed(1)},${(cy + 4).toFixed(1)} L${(cx - 7).toFixed(1)},${(cy + 4).toFixed(1)} Z" fill="${s.color}" stroke="${s.color}"/>`);
        else out.push(`<circle cx="${cx.toFixed(1)}" cy="${cy.toFixed(1)}" r="${key === "p99" ? 4 : 3}" fill="${key === "p99" ? s.color : "white"}" stroke="${s.color}" stroke-width="2"/>`);
        if (key === "p99" && p.note !== undefined) out.push(`<text x="${(cx - 8).toFixed(1)}" y="${(cy - 10).toFixed(1)}" text-anchor="end" font-size="12" fill="${s.color}">${esc(p.note)}</text>`);
      }
    }
  }
  // Legend.
  let ly = T + 10;
  for (const s of series) {
    out.push(`<line x1="${W - R + 20}" x2="${W - R + 50}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2.5"/><text x="${W - R + 58}" y="${ly + 4}">${esc(s.label)} p99</text>`);
    ly += 22;
    out.push(`<line x1="${W - R + 20}" x2="${W - R + 50}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2.5" stroke-dasharray="7 5"/><text x="${W - R + 58}" y="${ly + 4}">${esc(s.label)} p50</text>`);
    ly += 30;
  }
  out.push(`<path d="M${W - R + 35},${ly - 9} L${W - R + 42},${ly + 4} L${W - R + 28},${ly + 4} Z" fill="#555"/><text x="${W - R + 58}" y="${ly + 4}">p99 at least: some</text>`);
  out.push(`<text x="${W - R + 58}" y="${ly + 20}">messages missed members</text>`);
  out.push(`<text x="${W - R + 58}" y="${ly + 36}">at the drain's end</text>`);
  out.push(`</svg>`);
  return `${out.join("\n")}\n`;
}
