/** The SSRF address classifier as a pure function: every spelling of a non-public address. */
import assert from "node:assert/strict";
import { isPublicAddress, parseIPv4, parseIPv6 } from "../../src/http/ip_address.ts";

const NOT_PUBLIC = [
  // IPv4: private, loopback, link-local/metadata, CGNAT, "this network", reserved
  "10.0.0.1",
  "10.255.255.255",
  "172.16.0.1",
  "172.20.10.5",
  "172.31.255.255",
  "192.168.0.1",
  "192.168.255.254",
  "127.0.0.1",
  "127.1.2.3",
  "169.254.169.254",
  "169.254.0.1",
  "100.64.0.1",
  "100.127.255.255",
  "0.0.0.0",
  "0.1.2.3",
  "255.255.255.255",
  "224.0.0.1",
  "239.255.255.250",
  "240.0.0.1",
  "192.0.0.8",
  "192.0.2.1",
  "198.18.0.1",
  "198.51.100.7",
  "203.0.113.9",
  // IPv6: loopback, unspecified, ULA, link-local, site-local, multicast, documentation
  "::1",
  "[::1]",
  "::",
  "0:0:0:0:0:0:0:1",
  "fc00::1",
  "fd12:3456:789a::1",
  "fd00:ec2::254",
  "fe80::1",
  "fe80::1%eth0",
  "febf::1",
  "fec0::1",
  "ff02::1",
  "2001:db8::1",
  "100::1",
  "2001:0:4136:e378:8000:63bf:3fff:fdd2",
  // IPv4 embedded in IPv6: mapped, compatible, NAT64, 6to4
  "::ffff:127.0.0.1",
  "::ffff:10.0.0.1",
  "::ffff:7f00:1",
  "::ffff:a9fe:a9fe",
  "::127.0.0.1",
  "::10.0.0.1",
  "64:ff9b::10.0.0.1",
  "64:ff9b::a9fe:a9fe",
  "64:ff9b:1::1",
  "2002:a00:1::1",
  "2002:7f00:1::",
  "::ffff:0:127.0.0.1",
  "::ffff:0:a9fe:a9fe",
  "2001:2::1",
  // Not an address at all
  "",
  "example.com",
  "1.2.3",
  "1.2.3.4.5",
  "256.1.1.1",
  "01.02.03.004x",
  "1:2:3:4:5:6:7:8:9",
  "1::2::3",
  "::ffff:999.1.1.1",
];

const PUBLIC = [
  "8.8.8.8",
  "1.1.1.1",
  "172.15.255.255",
  "172.32.0.1",
  "100.63.255.255",
  "100.128.0.1",
  "169.253.255.255",
  "192.169.0.1",
  "11.0.0.1",
  "2606:4700:4700::1111",
  "2001:4860:4860::8888",
  "[2606:4700::1]",
  "::ffff:8.8.8.8",
  "64:ff9b::8.8.8.8",
  "2002:808:808::1",
  "::ffff:0:8.8.8.8",
];

Deno.test("classifier: non-public IPv4/IPv6 ranges and non-addresses are refused", () => {
  for (const ip of NOT_PUBLIC) assert.equal(isPublicAddress(ip), false, ip);
});

Deno.test("classifier: ordinary public addresses pass", () => {
  for (const ip of PUBLIC) assert.equal(isPublicAddress(ip), true, ip);
});

Deno.test("classifier: range edges of 172.16/12 and 100.64/10", () => {
  for (let second = 0; second < 256; second++) {
    assert.equal(isPublicAddress(`172.${second}.1.1`), second < 16 || second > 31, `172.${second}`);
    assert.equal(
      isPublicAddress(`100.${second}.1.1`),
      second < 64 || second > 127,
      `100.${second}`,
    );
  }
});

Deno.test("parsers: IPv4 dotted quads and IPv6 forms", () => {
  assert.equal(parseIPv4("192.168.1.2"), 0xc0a80102);
  assert.equal(parseIPv4("1.2.3"), undefined);
  assert.deepEqual(
    [...parseIPv6("::ffff:1.2.3.4")!],
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4],
  );
  assert.deepEqual([...parseIPv6("1::")!], [0, 1, ...new Array(14).fill(0)]);
  assert.deepEqual([...parseIPv6("[fe80::2%25eth0]")!].slice(0, 2), [0xfe, 0x80]);
  assert.equal(parseIPv6("1.2.3.4"), undefined);
  assert.equal(parseIPv6("1:2:3:4:5:6:7:8::"), undefined);
});
