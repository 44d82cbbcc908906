// Both sides of a consult played in sync from ONE clock.
//
// The server gives each recording segment its offset from the consult's time 0 (the first
// moment either side recorded, from the segments' wall-clock start) and its duration. The
// player keeps a single position t in seconds on that time base; the <video> elements only
// follow it. At every tick each side looks up which of its segments covers t (a side may
// have several, played in order, and gaps between them or before its first), loads that
// segment if another is showing, and compares its own currentTime with t − offset: far off
// (a seek, a segment change) it jumps; slightly off it plays a little faster or slower until
// it is back, so drift is corrected without visible jumps. While a side is loading or
// buffering, the clock waits for it, so the other side never runs ahead. One seek bar and
// the timeline move t; nothing else does.

const HARD_SEEK_S = 0.35; // further apart than this: jump
const NUDGE_S = 0.05; // closer than this: leave alone
const TICK_MS = 100;
const MAX_STALL_MS = 4000; // a side that cannot catch up is not allowed to freeze the other
const PREROLL_S = 2; // load a side's next segment this long before it starts
const SHOW_AHEAD_S = 0.5; // and show its first frame (no "gap") this close to it

const HAVE_CURRENT_DATA = 2;
const HAVE_FUTURE_DATA = 3;

/** The segment covering `t` and the position inside it, or null in a gap. Pure. */
export function locate(segments, t) {
  for (const segment of segments) {
    const end = segment.offset_s + segment.duration_s;
    if (t >= segment.offset_s && t < end) return { segment, local: t - segment.offset_s };
  }
  return null;
}

/** The end of the last segment of all sides: the length of the seek bar. Pure. */
export function totalDuration(sides) {
  let end = 0;
  for (const side of sides) {
    for (const s of side.segments) end = Math.max(end, s.offset_s + s.duration_s);
  }
  return end;
}

class Side {
  constructor({ name, video, gap, segments, urlOf }) {
    this.name = name;
    this.video = video;
    this.gap = gap;
    // Only segments that can be played; purged or missing ones leave a gap.
    this.segments = segments.filter((s) => s.state === "available")
      .sort((a, b) => a.offset_s - b.offset_s);
    this.urlOf = urlOf;
    this.current = null;
    this.pendingSeek = null;
    video.addEventListener("loadedmetadata", () => {
      if (this.pendingSeek !== null) video.currentTime = this.pendingSeek;
      this.pendingSeek = null;
    });
  }

  /** The next segment if it starts within the pre-roll: loaded early, held on frame 0. */
  upcoming(t) {
    const next = this.segments.find((s) => s.offset_s > t);
    return next !== undefined && next.offset_s - t <= PREROLL_S ? { segment: next, local: 0 } : null;
  }

  /** Make the video show position `t`; true when it is ready to play from there. */
  prepare(t, hard, playing) {
    const at = locate(this.segments, t);
    const target = at ?? this.upcoming(t);
    // A side that starts a few hundredths later than the other is not "without recording".
    const showing = at !== null || (target !== null && target.segment.offset_s - t <= SHOW_AHEAD_S);
    this.gap.hidden = showing;
    this.video.classList.toggle("in-gap", !showing);
    if (target === null) {
      if (!this.video.paused) this.video.pause();
      return true; // nothing to wait for in a gap
    }
    if (this.current !== target.segment) {
      this.current = target.segment;
      this.pendingSeek = target.local;
      this.video.src = this.urlOf(target.segment);
      this.video.load();
      return false;
    }
    if (this.video.readyState < HAVE_CURRENT_DATA || this.pendingSeek !== null) return false;
    if (at === null) {
      // Before its segment: wait on its first frame until the clock reaches it.
      if (!this.video.paused) this.video.pause();
      if (hard || this.video.currentTime > NUDGE_S) this.video.currentTime = 0;
      this.drift = 0;
      return !this.video.seeking;
    }
    const mediaEnd = Number.isFinite(this.video.duration) ? this.video.duration : Infinity;
    if (at.local >= mediaEnd - 0.05) {
      // The segment's listed duration runs a frame past its last one: hold that frame.
      this.drift = 0;
      return true;
    }
    const drift = this.video.currentTime - at.local;
    if (hard || Math.abs(drift) > HARD_SEEK_S) {
      this.video.currentTime = at.local;
      this.video.playbackRate = 1;
      return false;
    }
    this.drift = drift;
    if (playing && this.video.readyState < HAVE_FUTURE_DATA) return false; // still buffering
    return !this.video.seeking;
  }

  /** Play or pause with the clock; nudge the rate to take up a small drift. */
  run(t, playing) {
    const at = locate(this.segments, t);
    if (at === null || this.current !== at.segment) return;
    if (!playing || this.video.readyState < HAVE_CURRENT_DATA || this.pendingSeek !== null) {
      if (!this.video.paused) this.video.pause();
      this.video.playbackRate = 1;
      return;
    }
    const drift = this.drift || 0;
    this.video.playbackRate = Math.abs(drift) > NUDGE_S ? Math.min(1.1, Math.max(0.9, 1 - drift)) : 1;
    if (this.video.paused && !this.video.ended) this.video.play().catch(() => {});
  }
}

export class SyncPlayer extends EventTarget {
  /**
   * sides: [{name, video, gap, segments: [{id, offset_s, duration_s, state}]}]
   * urlOf: segment → URL (a playback grant in the query: a <video> sends no headers)
   */
  constructor({ sides, urlOf, duration }) {
    super();
    this.sides = sides.map((side) => new Side({ ...side, urlOf }));
    this.duration = duration ?? totalDuration(this.sides);
    this.playing = false;
    this.stalledSince = null;
    this.base = 0; // position when the clock last (re)started
    this.wall = performance.now();
    this.timer = setInterval(() => this.tick(false), TICK_MS);
    this.tick(true);
  }

  get time() {
    if (!this.playing || this.stalledSince !== null) return this.base;
    return Math.min(this.duration, this.base + (performance.now() - this.wall) / 1000);
  }

  play() {
    if (this.time >= this.duration) this.base = 0;
    this.base = this.time;
    this.wall = performance.now();
    this.playing = true;
    this.tick(false);
  }

  pause() {
    this.base = this.time;
    this.playing = false;
    this.stalledSince = null;
    this.tick(false);
  }

  toggle() {
    if (this.playing) this.pause();
    else this.play();
  }

  /** Move both sides to position `t` (seconds on the consult's time base). */
  seek(t) {
    this.base = Math.min(this.duration, Math.max(0, t));
    this.wall = performance.now();
    this.tick(true);
  }

  tick(hard) {
    let t = this.time;
    if (this.playing && t >= this.duration) {
      t = this.base = this.duration;
      this.playing = false;
    }
    const ready = this.sides.map((side) => side.prepare(t, hard, this.playing)).every(Boolean);
    const now = performance.now();
    if (this.playing && !ready && this.stalledSince === null) {
      this.base = t; // hold the clock here until every side can play from here
      this.stalledSince = now;
    } else if (this.stalledSince !== null && (ready || now - this.stalledSince > MAX_STALL_MS)) {
      this.stalledSince = null;
      this.wall = now;
    }
    const running = this.playing && this.stalledSince === null;
    for (const side of this.sides) side.run(t, running);
    this.dispatchEvent(new CustomEvent("time", { detail: { time: t, playing: this.playing } }));
  }

  destroy() {
    clearInterval(this.timer);
    for (const side of this.sides) {
      side.video.pause();
      side.video.removeAttribute("src");
      side.video.load();
    }
  }
}
