/**
 * The size a baseline or progressive JPEG declares in its frame header (SOFn), found by walking the marker segments
 * from SOI, so the size check before decoding costs microseconds instead of a libvips call. Returns undefined when
 * the walk does not reach a frame header within `maxBytes` (the caller then asks sharp), never throws.
 */
export function readJpegHeader(data: Uint8Array, maxBytes = 1 << 20): { width: number; height: number } | undefined {
  if (data.length < 4 || data[0] !== 0xff || data[1] !== 0xd8) return undefined;
  const end = Math.min(data.length, maxBytes);
  let i = 2;
  while (i + 4 <= end) {
    if (data[i] !== 0xff) return undefined;
    const marker = data[i + 1]!;
    // Fill bytes before a marker.
    if (marker === 0xff) {
      i++;
      continue;
    }
    // Markers without a length: TEM and RSTn.
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      i += 2;
      continue;
    }
    // EOI or SOS before any frame header: no size to read here.
    if (marker === 0xd9 || marker === 0xda) return undefined;
    const length = (data[i + 2]! << 8) | data[i + 3]!;
    if (length < 2) return undefined;
    // SOF0–SOF15 except DHT (C4), JPG (C8) and DAC (CC): precision, height, width.
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      if (length < 8 || i + 9 > end) return undefined;
      const height = (data[i + 5]! << 8) | data[i + 6]!;
      const width = (data[i + 7]! << 8) | data[i + 8]!;
      // Height 0 means "defined later by DNL": leave that rare case to sharp.
      return width > 0 && height > 0 ? { width, height } : undefined;
    }
    i += 2 + length;
  }
  return undefined;
}
