/**
 * The few icons the page draws, as inline SVG (no icon font, no network, no emoji font
 * needed). Decorative unless given a label.
 */

const SVG = "http://www.w3.org/2000/svg";

type Shape = { d?: string; circle?: [number, number, number]; fill?: boolean };

const ICONS: Record<string, { box: string; shapes: Shape[] }> = {
  logo: { box: "0 0 24 24", shapes: [{ d: "M21 11.5a8.5 8.5 0 0 1-12.4 7.6L3 20.5l1.5-5A8.5 8.5 0 1 1 21 11.5z" }] },
  edit: { box: "0 0 24 24", shapes: [{ d: "M12 20h9" }, { d: "M16.5 3.5a2.1 2.1 0 0 1 3 3L7 19l-4 1 1-4z" }] },
  group: {
    box: "0 0 24 24",
    shapes: [{ circle: [9, 7, 4] }, { d: "M2 21v-1a6 6 0 0 1 6-6h2a6 6 0 0 1 6 6v1" }, { d: "M16 3.1a4 4 0 0 1 0 7.8" }, { d: "M22 21v-1a6 6 0 0 0-4-5.7" }],
  },
  attach: { box: "0 0 24 24", shapes: [{ d: "M21.4 11.1l-9.2 9.2a6 6 0 0 1-8.5-8.5l9.2-9.2a4 4 0 0 1 5.7 5.7l-9.2 9.2a2 2 0 0 1-2.8-2.8l8.5-8.5" }] },
  send: { box: "0 0 24 24", shapes: [{ d: "M3.4 20.4 21 12 3.4 3.6 3.4 10.2 15 12 3.4 13.8z", fill: true }] },
  back: { box: "0 0 24 24", shapes: [{ d: "M19 12H5" }, { d: "M12 19l-7-7 7-7" }] },
  clock: { box: "0 0 24 24", shapes: [{ circle: [12, 12, 9] }, { d: "M12 7v5l3 2" }] },
  warn: { box: "0 0 24 24", shapes: [{ d: "M12 3 2 20h20z" }, { d: "M12 10v4" }, { d: "M12 17.5v.5" }] },
  file: { box: "0 0 24 24", shapes: [{ d: "M14 3H6a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V9z" }, { d: "M14 3v6h6" }] },
  tick1: { box: "0 0 18 11", shapes: [{ d: "M2.5 5.8l3.2 3.2L12.5 2" }] },
  tick2: { box: "0 0 18 11", shapes: [{ d: "M1 5.8l3.2 3.2L11 2" }, { d: "M8.6 8.4l.6.6L16 2" }] },
};

export type IconName = keyof typeof ICONS;

export function icon(name: IconName, label: string | null = null, className = ""): SVGSVGElement {
  const spec = ICONS[name]!;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", spec.box);
  svg.setAttribute("class", `icon icon-${name}${className === "" ? "" : ` ${className}`}`);
  svg.setAttribute("fill", "none");
  svg.setAttribute("stroke", "currentColor");
  svg.setAttribute("stroke-width", name.startsWith("tick") ? "1.6" : "2");
  svg.setAttribute("stroke-linecap", "round");
  svg.setAttribute("stroke-linejoin", "round");
  if (label === null) svg.setAttribute("aria-hidden", "true");
  else {
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", label);
    const title = document.createElementNS(SVG, "title");
    title.textContent = label;
    svg.appendChild(title);
  }
  for (const s of spec.shapes) {
    const el = s.circle !== undefined ? document.createElementNS(SVG, "circle") : document.createElementNS(SVG, "path");
    if (s.circle !== undefined) {
      el.setAttribute("cx", String(s.circle[0]));
      el.setAttribute("cy", String(s.circle[1]));
      el.setAttribute("r", String(s.circle[2]));
    } else el.setAttribute("d", s.d!);
    if (s.fill === true) {
      el.setAttribute("fill", "currentColor");
      el.setAttribute("stroke", "none");
    }
    svg.appendChild(el);
  }
  return svg;
}
