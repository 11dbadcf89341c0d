/**
 * Which IP addresses are the public internet: a pure classifier for the SSRF guard. Every
 * spelling counts: dotted IPv4, IPv6 with or without brackets and zone, and the IPv6 forms
 * that embed an IPv4 address (mapped `::ffff:7f00:1`, compatible, SIIT, NAT64, 6to4), which
 * are judged by the IPv4 address inside.
 */

/** IPv4 ranges that are not the public internet, as [network, prefix length]. */
const BLOCKED_V4: ReadonlyArray<readonly [number, number]> = [
  [v4(0, 0, 0, 0), 8], // "this network", incl. 0.0.0.0
  [v4(10, 0, 0, 0), 8], // private
  [v4(100, 64, 0, 0), 10], // carrier-grade NAT
  [v4(127, 0, 0, 0), 8], // loopback
  [v4(169, 254, 0, 0), 16], // link-local, incl. cloud metadata 169.254.169.254
  [v4(172, 16, 0, 0), 12], // private
  [v4(192, 0, 0, 0), 24], // IETF protocol assignments
  [v4(192, 0, 2, 0), 24], // documentation
  [v4(192, 88, 99, 0), 24], // 6to4 relay anycast
  [v4(192, 168, 0, 0), 16], // private
  [v4(198, 18, 0, 0), 15], // benchmarking
  [v4(198, 51, 100, 0), 24], // documentation
  [v4(203, 0, 113, 0), 24], // documentation
  [v4(224, 0, 0, 0), 4], // multicast
  [v4(240, 0, 0, 0), 4], // reserved, incl. broadcast 255.255.255.255
];

function v4(a: number, b: number, c: number, d: number): number {
  return ((a << 24) >>> 0) + (b << 16) + (c << 8) + d;
}

/** A dotted-quad IPv4 address as an unsigned 32-bit number, or undefined. */
export function parseIPv4(text: string): number | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return undefined;
    const byte = Number(p);
    if (byte > 255) return undefined;
    n = n * 256 + byte;
  }
  return n;
}

/** An IPv6 address (brackets and zone id allowed) as 16 bytes, or undefined. */
export function parseIPv6(text: string): Uint8Array | undefined {
  let s = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  const zone = s.indexOf("%");
  if (zone >= 0) s = s.slice(0, zone);
  if (!s.includes(":")) return undefined;
  const groups: number[] = [];
  // An embedded IPv4 tail (::ffff:10.0.0.1) counts as two groups.
  const lastColon = s.lastIndexOf(":");
  const tail = s.slice(lastColon + 1);
  if (tail.includes(".")) {
    const n = parseIPv4(tail);
    if (n === undefined) return undefined;
    s = s.slice(0, lastColon + 1) + (n >>> 16).toString(16) + ":" + (n & 0xffff).toString(16);
  }
  const halves = s.split("::");
  if (halves.length > 2) return undefined;
  const parse = (part: string): number[] | undefined => {
    if (part === "") return [];
    const out: number[] = [];
    for (const g of part.split(":")) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = parse(halves[0]);
  const rest = halves.length === 2 ? parse(halves[1]) : [];
  if (!head || !rest) return undefined;
  if (halves.length === 2) {
    const missing = 8 - head.length - rest.length;
    if (missing < 1) return undefined;
    groups.push(...head, ...new Array<number>(missing).fill(0), ...rest);
  } else {
    if (head.length !== 8) return undefined;
    groups.push(...head);
  }
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  return bytes;
}

function isPublicV4(n: number): boolean {
  for (const [net, bits] of BLOCKED_V4) {
    const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    if (((n & mask) >>> 0) === net) return false;
  }
  return true;
}

function startsWith(bytes: Uint8Array, prefix: number[], bits: number): boolean {
  for (let i = 0; i < bits; i++) {
    const byte = i >> 3;
    const bit = 7 - (i & 7);
    if (((bytes[byte] >> bit) & 1) !== ((prefix[byte] >> bit) & 1)) return false;
  }
  return true;
}

function v4At(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset] << 24) >>> 0) + (bytes[offset + 1] << 16) + (bytes[offset + 2] << 8) +
    bytes[offset + 3];
}

function isPublicV6(b: Uint8Array): boolean {
  const zeros = (n: number): boolean => b.subarray(0, n).every((x) => x === 0);
  // ::/96 covers ::, ::1 and IPv4-compatible addresses; ::ffff:0:0/96 is IPv4-mapped.
  if (zeros(12)) return b.subarray(12).every((x) => x === 0) ? false : isPublicV4(v4At(b, 12));
  if (zeros(10) && b[10] === 0xff && b[11] === 0xff) return isPublicV4(v4At(b, 12));
  // IPv4-translated (SIIT, ::ffff:0:0:0/96) embeds one too.
  if (zeros(8) && b[8] === 0xff && b[9] === 0xff && b[10] === 0 && b[11] === 0) {
    return isPublicV4(v4At(b, 12));
  }
  // NAT64 well-known prefix embeds an IPv4 address; the local-use prefix is private.
  if (startsWith(b, [0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0], 96)) {
    return isPublicV4(v4At(b, 12));
  }
  if (startsWith(b, [0x00, 0x64, 0xff, 0x9b, 0x00, 0x01], 48)) return false;
  // 6to4 embeds the IPv4 address right after the prefix.
  if (startsWith(b, [0x20, 0x02], 16)) return isPublicV4(v4At(b, 2));
  const blocked: ReadonlyArray<readonly [number[], number]> = [
    [[0x01, 0x00, 0, 0, 0, 0, 0, 0], 64], // discard-only
    [[0x20, 0x01, 0x00, 0x00], 32], // Teredo (tunnels to an obfuscated IPv4 address)
    [[0x20, 0x01, 0x00, 0x02, 0x00, 0x00], 48], // benchmarking
    [[0x20, 0x01, 0x0d, 0xb8], 32], // documentation
    [[0xfc], 7], // unique local (incl. fd00:ec2::254 metadata)
    [[0xfe, 0x80], 10], // link-local
    [[0xfe, 0xc0], 10], // deprecated site-local
    [[0xff], 8], // multicast
  ];
  return !blocked.some(([prefix, bits]) => startsWith(b, prefix, bits));
}

/**
 * True when `ip` (IPv4 dotted quad or IPv6, brackets allowed) is an ordinary public address;
 * false for loopback, private, link-local, metadata, CGNAT, multicast, reserved and the like,
 * including IPv4 addresses embedded in IPv6 forms. Text that is not an IP address is false.
 */
export function isPublicAddress(ip: string): boolean {
  const n = parseIPv4(ip);
  if (n !== undefined) return isPublicV4(n);
  const b = parseIPv6(ip);
  return b !== undefined && isPublicV6(b);
}

/** True when the host is an IP literal (IPv6 with or without brackets). */
export function isIpLiteral(host: string): boolean {
  return parseIPv4(host) !== undefined || parseIPv6(host) !== undefined;
}
