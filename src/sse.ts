/**
 * The one SSE parser and writer of the project. The parser accepts LF, CRLF and CR line
 * endings, comments, multi-line `data:` fields and input split at any byte (including inside
 * a UTF-8 character), as the SSE spec requires.
 */

export interface SseEvent {
  /** The `event:` field; undefined means the default "message". */
  event?: string;
  data: string;
  id?: string;
  retry?: number;
}

/** Bytes → SSE events. Events without data lines are dropped, as browsers do. */
export function sseParserTransformer(): Transformer<Uint8Array, SseEvent> {
  const decoder = new TextDecoder();
  let buffer = "";
  let data: string[] = [];
  let event: string | undefined;
  let id: string | undefined;
  let retry: number | undefined;
  let skipLeadingLf = false;

  const dispatch = (controller: TransformStreamDefaultController<SseEvent>): void => {
    if (data.length > 0) {
      const out: SseEvent = { data: data.join("\n") };
      if (event !== undefined) out.event = event;
      if (id !== undefined) out.id = id;
      if (retry !== undefined) out.retry = retry;
      controller.enqueue(out);
    }
    data = [];
    event = undefined;
    retry = undefined;
  };

  const processLine = (
    line: string,
    controller: TransformStreamDefaultController<SseEvent>,
  ): void => {
    if (line === "") return dispatch(controller);
    if (line.startsWith(":")) return;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") data.push(value);
    else if (field === "event") event = value;
    else if (field === "id") id = value;
    else if (field === "retry" && /^\d+$/.test(value)) retry = Number(value);
  };

  const drain = (controller: TransformStreamDefaultController<SseEvent>): void => {
    let start = 0;
    for (let i = 0; i < buffer.length; i++) {
      const ch = buffer.charCodeAt(i);
      if (skipLeadingLf) {
        skipLeadingLf = false;
        if (ch === 10) {
          start = i + 1;
          continue;
        }
      }
      if (ch === 10 || ch === 13) {
        processLine(buffer.slice(start, i), controller);
        start = i + 1;
        // A CR may be followed by LF in the next chunk: remember to swallow it.
        if (ch === 13) {
          if (i + 1 < buffer.length) {
            if (buffer.charCodeAt(i + 1) === 10) {
              i++;
              start = i + 1;
            }
          } else {
            skipLeadingLf = true;
          }
        }
      }
    }
    buffer = buffer.slice(start);
  };

  return {
    transform(chunk, controller) {
      buffer += decoder.decode(chunk, { stream: true });
      drain(controller);
    },
    flush(controller) {
      buffer += decoder.decode();
      drain(controller);
      // A stream that ends without the final blank line still delivers its last event.
      if (buffer !== "") processLine(buffer, controller);
      buffer = "";
      dispatch(controller);
    },
  };
}

const encoder = new TextEncoder();

/**
 * Serialises one event in SSE framing (`event:` line when named, one `data:` line per line).
 * `eol` is LF by default; Google frames its streams with CRLF, which strict clients expect.
 */
export function formatSse(event: SseEvent, eol: "\n" | "\r\n" = "\n"): string {
  let out = "";
  if (event.event !== undefined) out += `event: ${event.event}${eol}`;
  if (event.id !== undefined) out += `id: ${event.id}${eol}`;
  for (const line of event.data.split(/\r\n|\r|\n/)) out += `data: ${line}${eol}`;
  return out + eol;
}

/** Encodes one event as bytes ready to enqueue. */
export function encodeSse(event: SseEvent, eol: "\n" | "\r\n" = "\n"): Uint8Array {
  return encoder.encode(formatSse(event, eol));
}

/** SSE events → bytes. */
export function sseWriterTransformer(): Transformer<SseEvent, Uint8Array> {
  return {
    transform(event, controller) {
      controller.enqueue(encodeSse(event));
    },
  };
}
