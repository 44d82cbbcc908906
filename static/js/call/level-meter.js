// A microphone level bar for the pre-check: the quickest way for a grandmother to see that
// the phone hears her.

export class LevelMeter {
  constructor(bar) {
    this.bar = bar;
    this.context = null;
    this.source = null;
    this.frame = 0;
  }

  attach(track) {
    this.detach();
    if (!track || !window.AudioContext) return;
    this.context ??= new AudioContext();
    // Created after a tap (the pre-check's start button), so resume() is allowed.
    this.context.resume().catch(() => {});
    const analyser = this.context.createAnalyser();
    analyser.fftSize = 512;
    this.source = this.context.createMediaStreamSource(new MediaStream([track]));
    this.source.connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    const draw = () => {
      analyser.getFloatTimeDomainData(samples);
      let sum = 0;
      for (const s of samples) sum += s * s;
      const rms = Math.sqrt(sum / samples.length);
      // -60 dBFS (silence) … -10 dBFS (speaking up close) → 0 … 1
      const level = Math.min(1, Math.max(0, (20 * Math.log10(rms || 1e-8) + 60) / 50));
      this.bar.style.transform = `scaleX(${level.toFixed(3)})`;
      this.frame = requestAnimationFrame(draw);
    };
    draw();
  }

  detach() {
    cancelAnimationFrame(this.frame);
    this.source?.disconnect();
    this.source = null;
    this.bar.style.transform = "scaleX(0)";
  }

  close() {
    this.detach();
    this.context?.close().catch(() => {});
    this.context = null;
  }
}
