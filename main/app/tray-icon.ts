// The tray icon drawn as raw pixels (a portcullis: a frame with bars), so no image file has to be
// found at run time. Grey when the helper is away, green when enforcing, amber when paused.
export type TrayTone = 'off' | 'enforcing' | 'paused';

const TONES: Record<TrayTone, [number, number, number]> = {
  off: [140, 140, 140],
  enforcing: [46, 160, 90],
  paused: [220, 150, 30],
};

/** BGRA bytes of a size×size icon (Electron's nativeImage.createFromBitmap format). */
export function trayIconBitmap(tone: TrayTone, size = 22): Buffer {
  const [r, g, b] = TONES[tone];
  const pixels = Buffer.alloc(size * size * 4);
  const unit = size / 22;
  const inGate = (x: number, y: number): boolean => {
    const gx = x / unit;
    const gy = y / unit;
    if (gx < 3 || gx >= 19 || gy < 2 || gy >= 20) return false;
    const frame = gx < 5 || gx >= 17 || gy < 4;
    const bar = Math.floor(gx - 5) % 3 === 0 || Math.floor(gy - 4) % 5 === 0;
    return frame || bar;
  };
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      if (!inGate(x, y)) continue;
      const offset = (y * size + x) * 4;
      pixels[offset] = b;
      pixels[offset + 1] = g;
      pixels[offset + 2] = r;
      pixels[offset + 3] = 255;
    }
  }
  return pixels;
}
