import assert from "node:assert/strict";
import { messagesHead } from "../../src/formats/request_head.ts";
import { RequestError } from "../../src/errors.ts";

Deno.test("messagesHead: model, stream and the message count, nothing else read", () => {
  assert.deepEqual(
    messagesHead({ model: "m", messages: [{}, { role: "anything" }], stream: true, x: [1] }),
    { model: "m", stream: true, messages: 2 },
  );
  assert.deepEqual(messagesHead({ model: "m", messages: [1], stream: null }), {
    model: "m",
    stream: false,
    messages: 1,
  });
});

Deno.test("messagesHead: the fields it reads are refused as the full schema would refuse them", () => {
  const refused = (body: Record<string, unknown>, message: RegExp) =>
    assert.throws(
      () => messagesHead(body),
      (e) => e instanceof RequestError && message.test(e.message),
    );
  refused({ messages: [{}] }, /'model': model is required and must be a string/);
  refused({ model: 3, messages: [{}] }, /'model'/);
  refused({ model: "", messages: [{}] }, /'model': model must not be empty/);
  refused({ model: "m" }, /'messages': messages is required and must be an array/);
  refused({ model: "m", messages: [] }, /'messages': messages must contain at least one/);
  refused({ model: "m", messages: [{}], stream: "true" }, /'stream'/);
});
