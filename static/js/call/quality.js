// Connection quality from RTCPeerConnection.getStats(): round-trip time, packet loss (what
// we receive, and what the server reports losing of what we send) and the frame rate of the
// remote video, summed up as good / fair / poor.

const LEVELS = ["good", "fair", "poor"];
const SAMPLE_MS = 2000;

function level(value, fairFrom, poorFrom) {
  if (value === null || value === undefined || Number.isNaN(value)) return 0;
  if (value >= poorFrom) return 2;
  return value >= fairFrom ? 1 : 0;
}

/**
 * @param {{rttMs?: number|null, lossPct?: number|null, fps?: number|null}} sample
 * @returns {"good"|"fair"|"poor"}
 */
export function classify({ rttMs = null, lossPct = null, fps = null }) {
  const byRtt = level(rttMs, 300, 700);
  const byLoss = level(lossPct, 3, 10);
  // A low frame rate alone only makes it "fair": the other side may simply have switched
  // the camera off (a disabled track sends a black frame now and then).
  const byFps = fps === null ? 0 : Math.min(1, fps < 10 ? 1 : 0);
  return LEVELS[Math.max(byRtt, byLoss, byFps)];
}

/** Turn two getStats() snapshots into {rttMs, lossPct, fps}. */
export function summarize(report, previous) {
  let rttMs = null;
  let received = 0;
  let lost = 0;
  let frames = null;
  let fps = null;
  let upstreamLoss = null;
  const now = {};
  report.forEach((stat) => {
    if (stat.type === "candidate-pair" && stat.nominated && stat.state === "succeeded"
        && typeof stat.currentRoundTripTime === "number") {
      rttMs = stat.currentRoundTripTime * 1000;
    }
    if (stat.type === "inbound-rtp") {
      received += stat.packetsReceived || 0;
      lost += Math.max(0, stat.packetsLost || 0);
      if (stat.kind === "video") {
        frames = stat.framesDecoded ?? null;
        if (typeof stat.framesPerSecond === "number") fps = stat.framesPerSecond;
      }
    }
    if (stat.type === "remote-inbound-rtp" && typeof stat.fractionLost === "number") {
      upstreamLoss = Math.max(upstreamLoss ?? 0, stat.fractionLost * 100);
    }
  });
  now.received = received;
  now.lost = lost;
  now.frames = frames;
  now.at = performance.now();
  let lossPct = upstreamLoss;
  if (previous) {
    const dReceived = received - previous.received;
    const dLost = lost - previous.lost;
    if (dReceived + dLost > 0) lossPct = Math.max(lossPct ?? 0, (100 * dLost) / (dReceived + dLost));
    if (fps === null && frames !== null && previous.frames !== null) {
      fps = ((frames - previous.frames) * 1000) / (now.at - previous.at);
    }
  }
  return { sample: { rttMs, lossPct, fps }, snapshot: now };
}

/**
 * Samples every two seconds and reports a new level once it has held for two samples, so
 * a single bad second does not make the indicator (and the other side's) flicker.
 */
export class QualityMonitor {
  constructor(getPc, onChange) {
    this.getPc = getPc;
    this.onChange = onChange;
    this.timer = 0;
    this.previous = null;
    this.previousPc = null;
    this.current = null;
    this.candidate = null;
  }

  start() {
    this.stop();
    this.timer = setInterval(() => this.sample(), SAMPLE_MS);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = 0;
  }

  async sample() {
    const pc = this.getPc();
    if (!pc || pc.connectionState === "closed") return;
    if (pc !== this.previousPc) {
      this.previous = null; // counters restart with a new connection
      this.previousPc = pc;
    }
    let report;
    try {
      report = await pc.getStats();
    } catch {
      return;
    }
    const { sample, snapshot } = summarize(report, this.previous);
    const first = this.previous === null;
    this.previous = snapshot;
    if (first) return;
    const next = classify(sample);
    if (next === this.current) {
      this.candidate = null;
      return;
    }
    if (this.current === null || next === this.candidate) {
      this.current = next;
      this.candidate = null;
      this.onChange(next, sample);
    } else {
      this.candidate = next;
    }
  }
}
