// A full-resolution still from the guardian's camera, for the physician's skin photo.
//
// Two ways, and the larger picture wins:
//  1. ImageCapture.takePhoto() at the photo capabilities' largest size: on most Android
//     phones this uses the camera's photo pipeline (the full sensor, autofocus, flash).
//     Some implementations (and Chromium's fake camera) just return a video-sized frame.
//  2. The camera reopened at the largest resolution its capabilities allow
//     (getCapabilities().width.max) and one frame drawn to a canvas, as JPEG. This is the
//     only way on iOS, which has no ImageCapture.
// The result says which way was taken and what the camera delivered (tests read it).

const JPEG_QUALITY = 0.92;
// A camera just opened adjusts exposure and focus over its first frames: wait a moment
// before grabbing one, or the photo comes out dark.
const SETTLE_MS = 500;

const pixels = (still) => (still ? still.width * still.height : 0);

async function imageSize(blob) {
  const bitmap = await createImageBitmap(blob);
  const size = { width: bitmap.width, height: bitmap.height };
  bitmap.close?.();
  return size;
}

async function takePhoto(track) {
  const capture = new ImageCapture(track);
  const caps = await capture.getPhotoCapabilities().catch(() => null);
  const largest = caps?.imageWidth?.max ? { imageWidth: caps.imageWidth.max, imageHeight: caps.imageHeight.max } : {};
  const blob = await capture.takePhoto(largest).catch(() => capture.takePhoto());
  return { blob, ...(await imageSize(blob)), method: "take_photo", track: track.getSettings() };
}

/** The next frame of `track` that is worth keeping, on a canvas. */
async function frameCanvas(track) {
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
  let source;
  let width;
  let height;
  if ("ImageCapture" in window) {
    source = await new ImageCapture(track).grabFrame();
    ({ width, height } = source);
  } else {
    source = document.createElement("video");
    source.muted = true;
    source.playsInline = true;
    source.srcObject = new MediaStream([track]);
    await source.play();
    if (!source.videoWidth) await new Promise((resolve) => source.addEventListener("resize", resolve, { once: true }));
    width = source.videoWidth;
    height = source.videoHeight;
  }
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  canvas.getContext("2d").drawImage(source, 0, 0, width, height);
  source.close?.();
  if (source instanceof HTMLVideoElement) source.srcObject = null;
  return canvas;
}

async function largestFrame(local, { torch }) {
  return local.withLargestResolution(async (big) => {
    if (torch) await local.setTorch(true, big);
    const canvas = await frameCanvas(big);
    const blob = await new Promise((resolve, reject) =>
      canvas.toBlob((b) => (b ? resolve(b) : reject(new Error("encoding failed"))), "image/jpeg", JPEG_QUALITY));
    return { blob, width: canvas.width, height: canvas.height, method: "largest_frame", track: big.getSettings() };
  });
}

/**
 * @param {import("./devices.js").LocalMedia} local the call's camera
 * @returns {Promise<{blob: Blob, width: number, height: number, method: string, track: object}>}
 */
export async function takeStill(local, { torch = false } = {}) {
  const track = local.videoTrack;
  if (!track || track.readyState !== "live") throw new Error("no camera");
  const caps = track.getCapabilities?.() || {};
  const cameraMax = (caps.width?.max || 0) * (caps.height?.max || 0);
  let best = null;
  if ("ImageCapture" in window) {
    best = await takePhoto(track).catch(() => null);
  }
  if (!best || pixels(best) < cameraMax) {
    const frame = await largestFrame(local, { torch }).catch(() => null);
    if (pixels(frame) > pixels(best)) best = frame;
    if (torch) await local.setTorch(true); // the call's reopened camera: light stays on
  }
  if (!best) throw new Error("no still");
  return best;
}
