import assert from "node:assert/strict";
import { scanUsage } from "../../src/observe/usage_scan.ts";

Deno.test("usage is found in every client format, last value winning", () => {
  assert.deepEqual(
    scanUsage('{"usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18}}'),
    { input: 11, output: 7 },
  );
  // Anthropic stream: input in message_start, running output totals later.
  assert.deepEqual(
    scanUsage(
      'event: message_start\ndata: {"message":{"usage":{"input_tokens":25,"output_tokens":1}}}\n\n' +
        'event: message_delta\ndata: {"usage":{"output_tokens":15}}\n\n',
    ),
    { input: 25, output: 15 },
  );
  assert.deepEqual(
    scanUsage('{"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":9}}'),
    { input: 4, output: 9 },
  );
  // Responses API: the *_details objects must not be taken for the counts.
  assert.deepEqual(
    scanUsage(
      '{"usage":{"input_tokens":8,"input_tokens_details":{"cached_tokens":2},' +
        '"output_tokens":3,"output_tokens_details":{"reasoning_tokens":1}}}',
    ),
    { input: 8, output: 3, cacheRead: 2 },
  );
  // Anthropic prompt caching: reads and writes are their own counts.
  assert.deepEqual(
    scanUsage(
      '{"usage":{"input_tokens":5,"cache_creation_input_tokens":100,' +
        '"cache_read_input_tokens":40,"output_tokens":6}}',
    ),
    { input: 5, output: 6, cacheRead: 40, cacheWrite: 100 },
  );
  assert.deepEqual(scanUsage('{"choices":[]}'), {});
});
