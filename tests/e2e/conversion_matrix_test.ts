import assert from "node:assert/strict";
import { type FakeAnthropic, startFakeAnthropic } from "../fakes/anthropic_upstream.ts";
import { type FakeGemini, startFakeGemini } from "../fakes/gemini_upstream.ts";
import { type FakeOpenAI, startFakeOpenAI } from "../fakes/openai_upstream.ts";
import {
  anthropicDriver,
  geminiDriver,
  openAIChatDriver,
  openAIResponsesDriver,
  PNG_BASE64,
  type SdkDriver,
} from "./sdk_drivers.ts";
import { startTestGateway, type TestGateway } from "./start_gateway.ts";

/**
 * Every inbound format × every upstream type, driven by the official SDK of the inbound
 * format against fake upstreams that speak the real wire formats.
 */

const KEY = "sk-client-matrix-0001";

interface Upstreams {
  openai: FakeOpenAI;
  anthropic: FakeAnthropic;
  gemini: FakeGemini;
}

interface Fixture {
  gateway: TestGateway;
  upstreams: Upstreams;
  close(): Promise<void>;
}

async function startFixture(): Promise<Fixture> {
  const openai = await startFakeOpenAI();
  const anthropic = await startFakeAnthropic();
  const gemini = await startFakeGemini();
  const gateway = await startTestGateway({
    auth: { api_keys: [KEY] },
    providers: [
      {
        id: "up-openai",
        type: "openai",
        base_url: `${openai.url}/v1`,
        api_keys: ["sk-up-matrix"],
        models: ["oa-*"],
      },
      {
        id: "up-anthropic",
        type: "anthropic",
        base_url: anthropic.url,
        api_keys: ["sk-ant-up-matrix"],
        models: ["an-*"],
      },
      {
        id: "up-gemini",
        type: "gemini",
        base_url: gemini.url,
        api_keys: ["AIza-fake-matrix-key-000000"],
        models: ["ge-*"],
      },
    ],
  });
  return {
    gateway,
    upstreams: { openai, anthropic, gemini },
    async close() {
      await gateway.close();
      await Promise.all([openai.close(), anthropic.close(), gemini.close()]);
    },
  };
}

interface UpstreamCase {
  name: string;
  /** Model prefix routed to this upstream. */
  prefix: string;
  /** The last body the upstream received, as text. */
  lastBody(u: Upstreams): string;
}

const UPSTREAM_CASES: UpstreamCase[] = [
  {
    name: "openai",
    prefix: "oa-",
    lastBody: (u) => u.openai.requests.at(-1)?.rawBody ?? "",
  },
  {
    name: "anthropic",
    prefix: "an-",
    lastBody: (u) => JSON.stringify(u.anthropic.requests.at(-1)?.body ?? {}),
  },
  {
    name: "gemini",
    prefix: "ge-",
    lastBody: (u) => JSON.stringify(u.gemini.requests.at(-1)?.body ?? {}),
  },
];

const DRIVERS: Array<(url: string, key: string) => SdkDriver> = [
  openAIChatDriver,
  openAIResponsesDriver,
  anthropicDriver,
  geminiDriver,
];

for (const makeDriver of DRIVERS) {
  for (const up of UPSTREAM_CASES) {
    const driverName = makeDriver("http://x", KEY).name;
    Deno.test(`${driverName} client → ${up.name} upstream`, async (t) => {
      const fx = await startFixture();
      const d = makeDriver(fx.gateway.url, KEY);
      const m = (suffix: string) => `${up.prefix}model${suffix}`;
      try {
        await t.step("plain text", async () => {
          const text = await d.text(m(""), "ping one two");
          assert.match(text, /ping one two/);
        });
        await t.step("streaming text", async () => {
          const { text, chunks } = await d.streamText(m(""), "stream three four five");
          assert.match(text, /stream three four five/);
          assert.ok(chunks > 2, `streamed in several chunks (${chunks})`);
        });
        await t.step("tool call round trip", async () => {
          const r = await d.toolRoundTrip(m("-weather"), "sunny and 21C");
          assert.equal(r.name, "get_weather");
          assert.deepEqual(r.args, { city: "Paris" });
          assert.match(r.final, /sunny and 21C/);
        });
        await t.step("image reaches the upstream", async () => {
          await d.image(m(""));
          assert.ok(up.lastBody(fx.upstreams).includes(PNG_BASE64), "image data forwarded");
        });
        // Server errors first: the 429 puts the only key into its Retry-After cooldown.
        await t.step("upstream 500 becomes 502", async () => {
          assert.equal(await d.errorStatus(m("-500"), false), 502);
          assert.equal(await d.errorStatus(m("-500"), true), 502);
        });
        await t.step("upstream 429 stays a 429", async () => {
          assert.equal(await d.errorStatus(m("-429"), false), 429);
          assert.equal(await d.errorStatus(m("-429"), true), 429);
        });
      } finally {
        await fx.close();
      }
    });
  }
}
