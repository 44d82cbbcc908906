// Zoom and pan one picture inside its frame: wheel or pinch to zoom (about the pointer or
// the fingers' midpoint), drag to move, double-click / double-tap to switch 1× ↔ 2.5×.
// Pointer events cover mouse, pen and touch alike; the frame has `touch-action: none` so
// the browser does not scroll or zoom the page instead.

const MIN_SCALE = 1;
const MAX_SCALE = 10;

export class ZoomPane {
  constructor(frame, img) {
    this.frame = frame;
    this.img = img;
    this.pointers = new Map();
    this.reset();
    frame.addEventListener("wheel", (event) => {
      event.preventDefault();
      this.zoomAt(event.clientX, event.clientY, Math.exp(-event.deltaY * 0.0015));
    }, { passive: false });
    frame.addEventListener("pointerdown", (event) => {
      frame.setPointerCapture?.(event.pointerId);
      this.pointers.set(event.pointerId, { x: event.clientX, y: event.clientY });
    });
    frame.addEventListener("pointermove", (event) => this.move(event));
    for (const type of ["pointerup", "pointercancel", "lostpointercapture"]) {
      frame.addEventListener(type, (event) => this.pointers.delete(event.pointerId));
    }
    frame.addEventListener("dblclick", (event) => {
      if (this.scale > 1) this.reset();
      else this.zoomAt(event.clientX, event.clientY, 2.5);
    });
  }

  reset() {
    this.scale = 1;
    this.x = 0;
    this.y = 0;
    this.apply();
  }

  /** Zoom by `factor` keeping the picture point under (clientX, clientY) where it is. */
  zoomAt(clientX, clientY, factor) {
    const rect = this.frame.getBoundingClientRect();
    const px = clientX - rect.left - rect.width / 2;
    const py = clientY - rect.top - rect.height / 2;
    const scale = Math.min(MAX_SCALE, Math.max(MIN_SCALE, this.scale * factor));
    const applied = scale / this.scale;
    this.x = px - (px - this.x) * applied;
    this.y = py - (py - this.y) * applied;
    this.scale = scale;
    this.apply();
  }

  /** Zoom about the frame's centre (the +/− buttons). */
  zoomBy(factor) {
    const rect = this.frame.getBoundingClientRect();
    this.zoomAt(rect.left + rect.width / 2, rect.top + rect.height / 2, factor);
  }

  move(event) {
    const last = this.pointers.get(event.pointerId);
    if (!last) return;
    const now = { x: event.clientX, y: event.clientY };
    if (this.pointers.size === 1) {
      this.x += now.x - last.x;
      this.y += now.y - last.y;
      this.pointers.set(event.pointerId, now);
      this.apply();
      return;
    }
    // Two fingers: the change in their distance zooms, the move of their midpoint pans.
    const other = [...this.pointers.entries()].find(([id]) => id !== event.pointerId)?.[1];
    if (!other) return;
    const before = Math.hypot(last.x - other.x, last.y - other.y) || 1;
    const after = Math.hypot(now.x - other.x, now.y - other.y) || 1;
    const mid = { x: (now.x + other.x) / 2, y: (now.y + other.y) / 2 };
    this.x += (now.x - last.x) / 2;
    this.y += (now.y - last.y) / 2;
    this.pointers.set(event.pointerId, now);
    this.zoomAt(mid.x, mid.y, after / before);
  }

  apply() {
    if (this.scale <= MIN_SCALE) {
      this.x = 0;
      this.y = 0;
    } else {
      // Keep some of the picture in the frame: no dragging it off into the dark.
      const w = this.frame.clientWidth;
      const h = this.frame.clientHeight;
      const limitX = (w * (this.scale - 1)) / 2 + w * 0.25;
      const limitY = (h * (this.scale - 1)) / 2 + h * 0.25;
      this.x = Math.max(-limitX, Math.min(limitX, this.x));
      this.y = Math.max(-limitY, Math.min(limitY, this.y));
    }
    this.img.style.transform = `translate(${this.x}px, ${this.y}px) scale(${this.scale})`;
    this.frame.dataset.zoomed = String(this.scale > 1);
  }
}
