// Shrinks a photo off the main thread: at most 2048 px on the long side, JPEG, the camera's
// EXIF (time, GPS: the server's checks read them) carried over with its orientation reset,
// since the pixels are drawn upright. A JPEG already small enough is kept byte for byte.
// The result is at most a quarter of the photo as taken (client_sync's MAX_SEND_RATIO).
// 0.24 of the photo, so that with its tus requests and the report it is a quarter on the wire.
const MAX_RATIO = 0.24;
const QUALITY_STEP = 0.05;
const MIN_QUALITY = 0.5;
const MIN_SIDE = 1024;

async function encode(bitmap, w, h, quality) {
  const canvas = new OffscreenCanvas(w, h);
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage(bitmap, 0, 0, w, h);
  return canvas.convertToBlob({ type: "image/jpeg", quality });
}

self.onmessage = async ({ data }) => {
  const { id, file, max, quality } = data;
  try {
    const bytes = new Uint8Array(await file.arrayBuffer());
    const jpeg = bytes[0] === 0xff && bytes[1] === 0xd8;
    const bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
    const { width, height } = bitmap;
    const scale = Math.min(1, max / Math.max(width, height));
    if (scale === 1 && jpeg) {
      bitmap.close();
      self.postMessage({ id, blob: file, width, height, kept: true });
      return;
    }
    const exif = jpeg ? exifSegment(bytes) : null;
    // As client_sync.photos.prepare_photo: at most a quarter of the photo as taken, by a
    // lower quality (down to 0.5), then fewer pixels (down to 1024 px).
    const budget = Math.max(0, file.size * MAX_RATIO - (exif ? exif.length : 0));
    let side = Math.max(width, height) * scale;
    let q = quality;
    let blob;
    let w;
    let h;
    for (;;) {
      const ratio = side / Math.max(width, height);
      w = Math.max(1, Math.round(width * ratio));
      h = Math.max(1, Math.round(height * ratio));
      blob = await encode(bitmap, w, h, q);
      if (blob.size <= budget) break;
      if (q > MIN_QUALITY + 1e-9) q = Math.max(MIN_QUALITY, q - QUALITY_STEP);
      else if (side > MIN_SIDE) side = Math.max(MIN_SIDE, Math.round(side * 0.8));
      else break; // smaller than the original, if not a quarter of it
    }
    bitmap.close();
    if (exif) {
      blob = new Blob([blob.slice(0, 2), exif, blob.slice(2)], { type: "image/jpeg" });
    }
    self.postMessage({ id, blob, width: w, height: h, kept: false });
  } catch (error) {
    self.postMessage({ id, error: String(error && error.message || error) });
  }
};

/** The APP1 Exif segment of a JPEG (a copy), its Orientation set to 1; null if none. */
function exifSegment(bytes) {
  let at = 2;
  while (at + 4 <= bytes.length && bytes[at] === 0xff) {
    const marker = bytes[at + 1];
    if (marker === 0xda || marker === 0xd9) return null; // image data: no more headers
    const length = (bytes[at + 2] << 8) | bytes[at + 3];
    const isExif = marker === 0xe1 && bytes[at + 4] === 0x45 && bytes[at + 5] === 0x78
      && bytes[at + 6] === 0x69 && bytes[at + 7] === 0x66;
    if (isExif) {
      const segment = bytes.slice(at, at + 2 + length);
      resetOrientation(segment, 10);
      return segment;
    }
    at += 2 + length;
  }
  return null;
}

function resetOrientation(segment, tiff) {
  const view = new DataView(segment.buffer, segment.byteOffset, segment.byteLength);
  if (tiff + 8 > segment.length) return;
  const little = view.getUint16(tiff) === 0x4949;
  const ifd = tiff + view.getUint32(tiff + 4, little);
  if (ifd + 2 > segment.length) return;
  const count = view.getUint16(ifd, little);
  for (let i = 0; i < count; i += 1) {
    const entry = ifd + 2 + i * 12;
    if (entry + 12 > segment.length) return;
    if (view.getUint16(entry, little) === 0x0112) view.setUint16(entry + 8, 1, little);
  }
}
