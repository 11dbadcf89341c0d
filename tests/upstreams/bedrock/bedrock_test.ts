import assert from "node:assert/strict";
import { AwsV4Signer } from "aws4fetch";
import { RequestError } from "../../../src/errors.ts";
import { bedrockDriver } from "../../../src/upstreams/bedrock/driver.ts";
import { bedrockError } from "../../../src/upstreams/bedrock/errors.ts";
import { bedrockStreamToAnthropicSse } from "../../../src/upstreams/bedrock/event_stream.ts";
import { bedrockUrl } from "../../../src/upstreams/bedrock/adapter.ts";
import { providerSchema } from "../../../src/config/schema.ts";
import {
  chunkFrame,
  exceptionFrame,
  fakeAwsKey,
  startFakeBedrock,
} from "../../fakes/bedrock_runtime.ts";

async function decode(pieces: Uint8Array[]): Promise<string> {
  const out = ReadableStream.from(pieces).pipeThrough(
    new TransformStream(bedrockStreamToAnthropicSse()),
  );
  return await new Response(out).text();
}

function bytesOf(frames: Uint8Array[]): Uint8Array {
  const all = new Uint8Array(frames.reduce((n, f) => n + f.byteLength, 0));
  let at = 0;
  for (const f of frames) {
    all.set(f, at);
    at += f.byteLength;
  }
  return all;
}

const START = JSON.stringify({ type: "message_start", message: { id: "m", content: [] } });
const STOP = JSON.stringify({ type: "message_stop" });

Deno.test("event stream: frames split at every byte boundary decode to the same Anthropic SSE", async () => {
  const all = bytesOf([chunkFrame(START), chunkFrame(STOP)]);
  const whole = await decode([all]);
  assert.equal(
    whole,
    `event: message_start\ndata: ${START}\n\nevent: message_stop\ndata: ${STOP}\n\n`,
  );
  for (const cut of [1, 3, 7, 12, 40, all.byteLength - 1]) {
    assert.equal(await decode([all.subarray(0, cut), all.subarray(cut)]), whole, `cut ${cut}`);
  }
  // One byte at a time.
  assert.equal(await decode([...all].map((b) => new Uint8Array([b]))), whole);
});

Deno.test("event stream: an exception message becomes one Anthropic error event and ends it", async () => {
  const text = await decode([
    bytesOf([
      chunkFrame(START),
      exceptionFrame("throttlingException", "slow down"),
      chunkFrame(STOP),
    ]),
  ]);
  assert.match(text, /^event: message_start\n/);
  assert.match(text, /event: error\ndata: .*"rate_limit_error".*throttlingException: slow down/);
  assert.equal(text.includes("message_stop"), false, "nothing after the exception");
  const model = await decode([exceptionFrame("modelStreamErrorException", "boom")]);
  assert.match(model, /"api_error"/);
});

Deno.test("event stream: a corrupted frame (CRC) or a truncated one errors the stream", async () => {
  const frame = chunkFrame(START);
  const bad = frame.slice();
  bad[bad.byteLength - 10] ^= 0xff;
  await assert.rejects(decode([bad]));
  await assert.rejects(decode([frame.subarray(0, frame.byteLength - 3)]), /middle of a message/);
});

Deno.test("bedrock errors: throttling and quota → 429, refused keys → 401, server → 502", async () => {
  const cases: [number, string, number][] = [
    [429, "ThrottlingException", 429],
    [400, "ServiceQuotaExceededException", 429],
    [403, "UnrecognizedClientException", 401],
    [403, "InvalidSignatureException", 401],
    [403, "ExpiredTokenException", 401],
    [403, "AccessDeniedException", 403],
    [400, "ValidationException", 400],
    [500, "InternalServerException", 502],
    [408, "ModelTimeoutException", 504],
  ];
  for (const [status, type, want] of cases) {
    const res = new Response(JSON.stringify({ message: `m ${type} secretXYZ` }), {
      status,
      headers: { "x-amzn-errortype": `${type}:http://internal.amazon.com/coral/` },
    });
    const err = await bedrockError(res, ["secretXYZ"]);
    assert.equal(err.status, want, type);
    assert.equal(err.code, type);
    assert.equal(err.message.includes("secretXYZ"), false, "secrets masked");
  }
  const untyped = await bedrockError(new Response("{}", { status: 503 }), []);
  assert.equal(untyped.status, 502);
});

Deno.test("bedrock driver: snake_case and AWS CLI shapes; clear 400s for bad keys", () => {
  const k = fakeAwsKey(7, "TOKEN");
  assert.deepEqual(
    bedrockDriver.parseCredential({
      access_key_id: k.accessKeyId,
      secret_access_key: k.secretAccessKey,
    }),
    { kind: "aws_access_key", access_key_id: k.accessKeyId, secret_access_key: k.secretAccessKey },
  );
  assert.deepEqual(
    bedrockDriver.parseCredential(JSON.stringify({
      Version: 1,
      AccessKeyId: k.accessKeyId,
      SecretAccessKey: k.secretAccessKey,
      SessionToken: "TOKEN",
    })),
    {
      kind: "aws_access_key",
      access_key_id: k.accessKeyId,
      secret_access_key: k.secretAccessKey,
      session_token: "TOKEN",
    },
  );
  assert.throws(
    () => bedrockDriver.parseCredential({ access_key_id: "short", secret_access_key: "x" }),
    (e) => e instanceof RequestError && /access_key_id.*secret_access_key/s.test(e.message),
  );
  assert.throws(() => bedrockDriver.parseCredential("not json"), RequestError);
});

Deno.test("bedrock URL: regional host by default, ids with ':' escaped, base_url override", () => {
  const provider = providerSchema.parse({ id: "b", type: "bedrock", region: "eu-central-1" });
  assert.equal(
    bedrockUrl({ provider, model: "eu.anthropic.claude-sonnet-4-5-20250929-v1:0" }, true),
    "https://bedrock-runtime.eu-central-1.amazonaws.com/model/eu.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke-with-response-stream",
  );
  const def = providerSchema.parse({ id: "b", type: "bedrock", base_url: "http://127.0.0.1:9/" });
  assert.equal(
    bedrockUrl({ provider: def, model: "m" }, false),
    "http://127.0.0.1:9/model/m/invoke",
  );
  assert.equal(
    providerSchema.safeParse({ id: "b", type: "bedrock", region: "EU 1" }).success,
    false,
  );
});

Deno.test("fake Bedrock refuses what AWS refuses: a tampered body, a wrong secret, another region", async () => {
  const key = fakeAwsKey(3);
  const fake = await startFakeBedrock({ keys: [key] });
  try {
    const url = `${fake.url}/model/${encodeURIComponent("anthropic.claude-x-v1:0")}/invoke`;
    const body = JSON.stringify({
      anthropic_version: "bedrock-2023-05-31",
      max_tokens: 10,
      messages: [{ role: "user", content: "hi" }],
    });
    const sign = (secret: string, region: string) =>
      new AwsV4Signer({
        method: "POST",
        url,
        headers: { "content-type": "application/json" },
        body,
        accessKeyId: key.accessKeyId,
        secretAccessKey: secret,
        service: "bedrock",
        region,
      }).sign();
    const ok = await sign(key.secretAccessKey, "us-east-1");
    const good = await fetch(ok.url, { method: "POST", headers: ok.headers, body });
    assert.equal(good.status, 200, await good.clone().text());
    assert.match((await good.json()).content[0].text, /hi/);

    const tampered = await fetch(ok.url, {
      method: "POST",
      headers: ok.headers,
      body: body.replace("hi", "ho"),
    });
    assert.equal(tampered.status, 403);
    assert.match(tampered.headers.get("x-amzn-errortype") ?? "", /^InvalidSignatureException/);
    await tampered.body?.cancel();

    const wrong = await sign("wrong-secret-wrong-secret-wrong-secret00", "us-east-1");
    const r2 = await fetch(wrong.url, { method: "POST", headers: wrong.headers, body });
    assert.equal(r2.status, 403);
    await r2.body?.cancel();
    const other = await sign(key.secretAccessKey, "eu-west-1");
    const r3 = await fetch(other.url, { method: "POST", headers: other.headers, body });
    assert.equal(r3.status, 403);
    await r3.body?.cancel();
    assert.equal(fake.refused.length, 3);
  } finally {
    await fake.close();
  }
});
